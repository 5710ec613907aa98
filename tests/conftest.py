"""Shared fixtures: the Multi30k corpus (when present) and a tiny generated parallel corpus."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MULTI30K = (REPO / ".." / "shared" / "data" / "multi30k").resolve()

_DE = "der die das ein eine Hund Katze Mann Frau Kind spielt läuft sitzt auf im Park Straße rote blaue großen".split()
_EN = "the a dog cat man woman child plays runs sits on in park street red blue big".split()
_PUNCT = [",", ".", "!", "?", "'s", "-", '"']


@pytest.fixture(scope="session")
def multi30k() -> Path:
    """The real Multi30k files ({train,val,test_2016_flickr}.{de,en}.gz); skips when absent."""
    if not (MULTI30K / "train.de.gz").is_file():
        pytest.skip(f"Multi30k not found at {MULTI30K}")
    return MULTI30K


def _sentence(rng: random.Random, words: list[str]) -> str:
    out = []
    for _ in range(rng.randint(1, 12)):
        word = rng.choice(words)
        out.append(word.capitalize() if not out else word)
        if rng.random() < 0.15:
            out[-1] += rng.choice(_PUNCT)
    return " ".join(out) + rng.choice([".", "!", "?", ""])


def make_corpus(root: Path, sizes: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Write PREFIX.de / PREFIX.en for each split (train, valid, test); returns `root`."""
    rng = random.Random(seed)
    sizes = sizes or {"train": 300, "valid": 30, "test": 30}
    root.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        pairs = [(_sentence(rng, _DE), _sentence(rng, _EN)) for _ in range(n)]
        for index, lang in enumerate(("de", "en")):
            (root / f"{split}.{lang}").write_text("".join(p[index] + "\n" for p in pairs), encoding="utf-8")
    return root


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """A small generated German-English corpus: raw/{train,valid,test}.{de,en}."""
    return make_corpus(tmp_path / "raw")
