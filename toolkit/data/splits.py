"""Where a split's files are: a parallel split serves both directions, a monolingual one its language.

fairseq's layout, which preprocess writes: `SPLIT.SRC-TGT.LANG.{bin,idx}` for a parallel split
(read by a SRC->TGT task and a TGT->SRC task alike) and `SPLIT.LANG-None.LANG` for text in
one language only.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.data.indexed import dataset_exists


def parallel_prefixes(data_dir: Path, split: str, src: str, tgt: str) -> tuple[Path, Path] | None:
    """(source prefix, target prefix) of a parallel split in either direction, or None."""
    for first, second in ((src, tgt), (tgt, src)):
        pair = tuple(data_dir / f"{split}.{first}-{second}.{lang}" for lang in (src, tgt))
        if all(dataset_exists(prefix) for prefix in pair):
            return pair
    return None


def monolingual_prefix(data_dir: Path, split: str, lang: str) -> Path | None:
    """The prefix of split's text in `lang` alone (`SPLIT.LANG-None.LANG`), or None."""
    prefix = data_dir / f"{split}.{lang}-None.{lang}"
    return prefix if dataset_exists(prefix) else None


def numbered_training_splits(data_dir: Path, primary: str, src: str, tgt: str) -> list[str]:
    """`primary` followed by primary1, primary2, ... as long as they exist (fairseq's discovery)."""
    found = [primary]
    k = 1
    while parallel_prefixes(data_dir, f"{primary}{k}", src, tgt) is not None:
        found.append(f"{primary}{k}")
        k += 1
    return found
