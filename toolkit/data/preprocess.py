"""`nmt preprocess`: raw parallel text -> tokenized -> BPE -> dictionaries -> binarized splits.

`--tokenize auto` and `--bpe auto` are made concrete first: text that already carries subword-nmt
markers ("the gre@@ at cat", as fairseq-preprocess takes it) is used as it is (none, none); other
text is tokenized with Moses and segmented with subword-nmt. preprocess.json records the result.

Everything the user can get wrong is checked first (files, line counts, encodings, values,
the destination); then the slow work runs, and the destination appears only at the end,
renamed from a temporary directory, so it is either complete or absent.

Layout of the destination (fairseq naming):
    dict.SRC.txt, dict.TGT.txt     "symbol count" lines (<s> <pad> </s> <unk> implicit)
    bpecodes (or bpecodes.LANG)    subword-nmt codes
    SPLIT.SRC-TGT.LANG.bin/.idx    memory-mapped ids (monolingual: SPLIT.SRC-None.SRC)
    preprocess.json                configuration, inputs, statistics, text processors
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import sys
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.config import option
from toolkit.data.bpe import learn_codes
from toolkit.data.dictionary import Dictionary, build_dictionary
from toolkit.data.indexed import IndexedDatasetBuilder, best_dtype
from toolkit.data.inputs import InputFile, check_destination, read_inputs, read_text
from toolkit.data.parallel import (
    Stages,
    chunked,
    default_workers,
    map_chunks,
    sample_chunk,
    segment_chunk,
    tokenize_chunk,
    worker_pool,
)
from toolkit.data.text_processor import TextProcessorConfig, codes_filename
from toolkit.data.tokenize import TOKENIZERS, TokenizerConfig
from toolkit.errors import UserError
from toolkit.fileio import atomic_directory, open_text, resolve_text_file

FORMAT_VERSION = 1
BPE_METHODS = ("subword-nmt", "none")
# Settings that change how the work runs, not what it produces: not recorded.
RUNTIME_FIELDS = ("destdir", "workers", "overwrite", "quiet")
BPE_DROPOUT_FIELDS = ("bpe_dropout", "bpe_dropout_copies", "seed")
BPE_ALIASES = {"subword_nmt": "subword-nmt"}  # fairseq's spelling
# Text counts as already segmented when this share of its first non-empty lines holds a joint.
MARKER_SAMPLE_LINES = 10_000
MARKER_MIN_FRACTION = 0.01
_JOINT = re.compile(r"@@\s+\S")  # a token ending in "@@" followed by another token


@dataclass
class PreprocessConfig:
    """Every `nmt preprocess` option; the recorded part goes into preprocess.json."""

    source_lang: str = option("", "source language code; files are PREFIX.LANG[.gz]", short="-s")
    target_lang: str | None = option(None, "target language code (omit: monolingual)", short="-t")
    trainpref: str | None = option(None, "training files prefix (BPE and dictionaries are learned here)")
    validpref: list[str] = option(
        help="validation prefix(es), comma-separated: valid, valid1, ...", default_factory=list
    )
    testpref: list[str] = option(help="test prefix(es), comma-separated: test, test1, ...", default_factory=list)
    destdir: str = option("data-bin", "output directory (created atomically)")
    only_source: bool = option(False, "binarize the source side only (monolingual)")
    tokenize: str = option(
        "auto",
        "tokenizer: moses (sacremoses), none (input already tokenized), or auto: moses, or none when "
        "the training text already carries BPE markers (@@ )",
        choices=("auto", *TOKENIZERS),
    )
    normalize_punct: bool = option(True, "Moses punctuation normalization")
    bpe: str = option(
        "auto",
        "subword segmentation: subword-nmt (subword_nmt), none, or auto: subword-nmt, or none when the "
        "training text already carries BPE markers (@@ )",
        choices=("auto", *BPE_METHODS),
    )
    bpe_merges: int = option(10000, "number of BPE merge operations to learn")
    bpe_min_frequency: int = option(2, "stop learning merges below this pair frequency")
    bpe_separate: bool = option(False, "learn BPE per language instead of jointly")
    bpe_codes: str | None = option(None, "reuse these subword-nmt codes instead of learning")
    bpe_dropout: float = option(
        0.0, "BPE-dropout: skip each merge with this probability in extra copies of the training split"
    )
    bpe_dropout_copies: int = option(
        1, "with --bpe-dropout: stochastically segmented copies added after the deterministic training split"
    )
    seed: int = option(1, "seed for --bpe-dropout (output is identical for any --workers)")
    joined_dictionary: bool = option(False, "one dictionary for both languages")
    srcdict: str | None = option(None, "reuse this source dictionary (dict.LANG.txt)")
    tgtdict: str | None = option(None, "reuse this target dictionary")
    thresholdsrc: int = option(0, "map source symbols seen fewer times to <unk>")
    thresholdtgt: int = option(0, "map target symbols seen fewer times to <unk>")
    nwordssrc: int = option(-1, "source dictionary size cap, specials included (-1: no cap)")
    nwordstgt: int = option(-1, "target dictionary size cap, specials included (-1: no cap)")
    padding_factor: int = option(8, "pad dictionary sizes to a multiple of this")
    encoding_errors: str = option(
        "strict", "strict: invalid UTF-8 is an error; replace: use U+FFFD", choices=("strict", "replace")
    )
    workers: int = option(
        help="processes for tokenization and BPE (output identical for any)", default_factory=default_workers
    )
    overwrite: bool = option(False, "replace a destination holding other preprocessing")
    quiet: bool = option(False, "no progress bar", short="-q")

    @property
    def languages(self) -> list[str]:
        return [self.source_lang] if self.monolingual else [self.source_lang, self.target_lang]

    @property
    def monolingual(self) -> bool:
        return self.only_source or not self.target_lang

    def splits(self) -> list[tuple[str, str]]:
        """(split name, file prefix): train, valid, valid1.., test, test1.."""
        out = [("train", self.trainpref)] if self.trainpref else []
        for name, prefixes in (("valid", self.validpref), ("test", self.testpref)):
            out += [(name if i == 0 else f"{name}{i}", p) for i, p in enumerate(prefixes)]
        return out

    def dataset_prefix(self, split: str, lang: str) -> str:
        tgt = "None" if self.monolingual else self.target_lang
        return f"{split}.{self.source_lang}-{tgt}.{lang}"

    def recorded(self) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in RUNTIME_FIELDS}
        if not self.bpe_dropout:  # these change nothing then; destinations made before them stay valid
            for name in BPE_DROPOUT_FIELDS:
                del out[name]
        return out


def carries_bpe_markers(lines: Iterable[str], min_fraction: float = MARKER_MIN_FRACTION) -> bool:
    """Whether at least `min_fraction` of the non-empty lines hold a subword joint ("gre@@ at")."""
    nonempty = marked = 0
    for line in lines:
        if line.strip():
            nonempty += 1
            marked += _JOINT.search(line) is not None
    return nonempty > 0 and marked >= min_fraction * nonempty


def _presegmented_file(config: PreprocessConfig) -> Path | None:
    """The first training file (without --trainpref: file of the first split) carrying BPE markers."""
    splits = config.splits()  # the training split comes first
    if not splits:
        return None
    for lang in config.languages:
        try:
            path = resolve_text_file(splits[0][1], lang)
            with open_text(path, encoding_errors="replace") as handle:
                sample = list(itertools.islice(handle, MARKER_SAMPLE_LINES))
        except (UserError, OSError, EOFError, zlib.error):
            continue  # read_inputs reports a missing or broken file, with the reason
        if carries_bpe_markers(sample):
            return path
    return None


def resolve_auto(config: PreprocessConfig) -> PreprocessConfig:
    """A copy of `config` with --tokenize/--bpe auto made concrete (and subword_nmt spelled subword-nmt).

    auto: none for both when the training text already carries BPE markers (a note says so on
    stderr, quiet or not), else moses and subword-nmt. Asking for Moses, BPE, given codes or
    BPE-dropout on such text is refused: it would segment the text a second time.
    """
    tokenize, bpe = config.tokenize, BPE_ALIASES.get(config.bpe, config.bpe)
    marked = _presegmented_file(config) if (tokenize, bpe) != ("none", "none") else None
    if marked is None:
        return dataclasses.replace(
            config,
            tokenize="moses" if tokenize == "auto" else tokenize,
            bpe="subword-nmt" if bpe == "auto" else bpe,
        )
    asked = [f"--tokenize {tokenize}"] if tokenize in TOKENIZERS and tokenize != "none" else []
    asked += [f"--bpe {bpe}"] if bpe in BPE_METHODS and bpe != "none" else []
    given = [
        flag for flag, value in (("--bpe-codes", config.bpe_codes), ("--bpe-dropout", config.bpe_dropout)) if value
    ]
    if asked or given:
        # Without codes or dropout, explicit none for both is the other way out.
        fix = ("drop the flag" if len(asked + given) == 1 else "drop these flags") + (
            "" if given else " or pass --tokenize none --bpe none"
        )
        raise UserError(
            f"{marked} already carries BPE markers (@@ ); {' and '.join(asked + given)} would process it a second time:"
            f" {fix}"
        )
    print(
        f"nmt preprocess: note: {marked} already carries BPE markers (@@ ); using --tokenize none --bpe none",
        file=sys.stderr,
    )
    return dataclasses.replace(config, tokenize="none", bpe="none")


def validate(config: PreprocessConfig) -> None:
    """Reject nonsense values and contradictory flags with one clear line each (after resolve_auto)."""
    checks = [
        (re.fullmatch(r"[A-Za-z0-9_-]+", config.source_lang or ""), "--source-lang must be a language code like 'de'"),
        (config.monolingual or re.fullmatch(r"[A-Za-z0-9_-]+", config.target_lang), "--target-lang must be a code"),
        (config.monolingual or config.source_lang != config.target_lang, "source and target languages must differ"),
        (config.splits(), "nothing to do: give at least one of --trainpref, --validpref, --testpref"),
        (config.workers >= 1, f"--workers must be at least 1 (got {config.workers})"),
        (config.bpe_merges >= 1, f"--bpe-merges must be at least 1 (got {config.bpe_merges})"),
        (config.bpe_min_frequency >= 1, f"--bpe-min-frequency must be at least 1 (got {config.bpe_min_frequency})"),
        (0 <= config.bpe_dropout < 1, f"--bpe-dropout must be in [0, 1) (got {config.bpe_dropout})"),
        (config.bpe_dropout_copies >= 1, f"--bpe-dropout-copies must be at least 1 (got {config.bpe_dropout_copies})"),
        (not (config.bpe_dropout and config.bpe == "none"), "--bpe-dropout needs BPE; drop --bpe none"),
        (not (config.bpe_dropout and not config.trainpref), "--bpe-dropout applies to --trainpref, which is missing"),
        (config.thresholdsrc >= 0, f"--thresholdsrc must not be negative (got {config.thresholdsrc})"),
        (config.thresholdtgt >= 0, f"--thresholdtgt must not be negative (got {config.thresholdtgt})"),
        (
            config.nwordssrc == -1 or config.nwordssrc > 0,
            f"--nwordssrc must be positive or -1 (got {config.nwordssrc})",
        ),
        (
            config.nwordstgt == -1 or config.nwordstgt > 0,
            f"--nwordstgt must be positive or -1 (got {config.nwordstgt})",
        ),
        (config.padding_factor >= 1, f"--padding-factor must be at least 1 (got {config.padding_factor})"),
        (config.tokenize in TOKENIZERS, f"--tokenize must be one of {', '.join(TOKENIZERS)}"),
        (config.bpe in BPE_METHODS, f"--bpe must be one of {', '.join(BPE_METHODS)}"),
        (config.encoding_errors in ("strict", "replace"), "--encoding-errors must be strict or replace"),
        (not (config.bpe == "none" and config.bpe_codes), "--bpe-codes contradicts --bpe none"),
        (not (config.bpe_codes and config.bpe_separate), "--bpe-codes gives one codes file; drop --bpe-separate"),
        (not (config.joined_dictionary and config.tgtdict), "--joined-dictionary uses --srcdict only; drop --tgtdict"),
        (
            # fairseq's back-translation docs pair --only-source with --joined-dictionary --srcdict: harmless then
            not (config.joined_dictionary and config.monolingual and not config.srcdict),
            "--joined-dictionary needs a target language (or, with --only-source, --srcdict)",
        ),
        (not (config.tgtdict and config.monolingual), "--tgtdict needs a target language (this run is monolingual)"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)
    if not config.trainpref:
        if config.bpe != "none" and not config.bpe_codes:
            raise UserError("learning BPE needs --trainpref (or pass --bpe-codes, or --bpe none)")
        needed = [("--srcdict", config.srcdict)]
        if not config.monolingual and not config.joined_dictionary:
            needed.append(("--tgtdict", config.tgtdict))
        for flag, value in needed:
            if not value:
                raise UserError(f"without --trainpref the dictionaries must be given: pass {flag}")


def _load_dictionaries(config: PreprocessConfig) -> dict[str, Dictionary]:
    given = {}
    src, langs = config.source_lang, config.languages
    if config.srcdict:
        given[src] = Dictionary.load(config.srcdict)
        if config.joined_dictionary and not config.monolingual:
            given[config.target_lang] = given[src]
    if config.tgtdict and not config.monolingual:
        given[langs[1]] = Dictionary.load(config.tgtdict)
    return given


def preprocess(config: PreprocessConfig) -> dict:
    """Run the pipeline; returns the statistics written to preprocess.json (plus timings).

    The returned `tokenize` and `bpe` are the values used (auto resolved); `config` itself is not changed.
    """
    config = resolve_auto(config)
    validate(config)
    resolved = {"tokenize": config.tokenize, "bpe": config.bpe}
    inputs = read_inputs(config)  # every file resolved, hashed, line-counted, decoded
    bpe_codes_text = read_text(config.bpe_codes, "BPE codes") if config.bpe_codes else None
    given_dicts = _load_dictionaries(config)
    extras = {"bpe_codes": bpe_codes_text, "srcdict": given_dicts.get(config.source_lang), "tgtdict": None}
    if config.tgtdict and not config.monolingual:
        extras["tgtdict"] = given_dicts[config.target_lang]
    fingerprint = {"format_version": FORMAT_VERSION, "config": config.recorded(), "inputs": _describe(inputs, extras)}
    done = check_destination(Path(config.destdir), fingerprint, config.overwrite)
    if done is not None:
        return {**done, **resolved, "already_done": True}
    with Stages(config.quiet) as stages, worker_pool(config.workers) as pool:
        tokenized = _tokenize(config, inputs, pool, stages)
        codes = _bpe_codes(config, tokenized, bpe_codes_text, stages)
        segmented = _segment(config, tokenized, codes, pool, stages)
        sampled = _sample_training_copies(config, tokenized, codes, pool, stages)
        # Build whatever --srcdict/--tgtdict did not supply.
        missing = [lang for lang in config.languages if lang not in given_dicts]
        built = _build_dictionaries(config, tokenized, segmented, sampled, stages) if missing else {}
        dicts = {**built, **given_dicts}
        try:
            with atomic_directory(config.destdir, overwrite=True) as tmp:
                splits = _binarize(config, tokenized, segmented, sampled, dicts, tmp, stages)
                meta = _write_metadata(config, fingerprint, codes, dicts, splits, tmp)
        except OSError as error:  # a full disk: the partial directory is already removed
            raise UserError(f"could not write {config.destdir}: {error.strerror or error}") from None
    return {**meta, **resolved, "timings": stages.timings, "already_done": False}


def _describe(inputs: dict[tuple[str, str], InputFile], extras: dict) -> dict:
    """What the output depends on besides the config: input files and given codes/dictionaries."""
    out = {f"{split}.{lang}": f.describe() for (split, lang), f in inputs.items()}
    for name, value in extras.items():
        if isinstance(value, Dictionary):
            value = value.to_text()
        if value is not None:
            out[name] = {"sha256": hashlib.sha256(value.encode("utf-8")).hexdigest()}
    return out


def _tokenize(config: PreprocessConfig, inputs, pool, stages: Stages) -> dict[tuple[str, str], list[str]]:
    """Tokenize every split of every language; each distinct line is tokenized once."""
    distinct = {
        lang: list(dict.fromkeys(line for (_, lg), f in inputs.items() if lg == lang for line in f.lines))
        for lang in config.languages
    }
    with stages.stage("tokenize", total=sum(len(v) for v in distinct.values())) as advance:
        table = {}
        for lang, lines in distinct.items():
            tok = TokenizerConfig(lang, config.tokenize, config.normalize_punct)
            tasks = [(tok, chunk) for chunk in chunked(lines, config.workers)]
            results = map_chunks(pool, tokenize_chunk, tasks, advance)
            table[lang] = dict(zip(lines, (t for chunk in results for t in chunk), strict=True))
    return {key: [table[key[1]][line] for line in f.lines] for key, f in inputs.items()}


def _train_word_counts(config: PreprocessConfig, tokenized, langs: list[str]) -> Counter:
    counts: Counter = Counter()
    for lang in langs:
        for line in tokenized.get(("train", lang), ()):
            counts.update(line.split())
    return counts


def _bpe_codes(config: PreprocessConfig, tokenized, given: str | None, stages: Stages) -> dict[str, str | None]:
    """Codes text per language: none, given, learned jointly, or learned per language."""
    langs = config.languages
    if config.bpe == "none":
        return {lang: None for lang in langs}
    if given is not None:
        return {lang: given for lang in langs}
    groups = [[lang] for lang in langs] if config.bpe_separate else [langs]
    codes = {}
    with stages.stage("learn BPE", total=config.bpe_merges * len(groups)) as advance:
        for group in groups:
            counts = _train_word_counts(config, tokenized, group)
            text = learn_codes(counts, config.bpe_merges, config.bpe_min_frequency, advance)
            codes.update({lang: text for lang in group})
    return codes


def _segment(config: PreprocessConfig, tokenized, codes, pool, stages: Stages) -> dict[str, dict[str, tuple]]:
    """word -> subword pieces, for each distinct word of each language (BPE applied once)."""
    words = {
        lang: list(
            dict.fromkeys(
                w for (_, lg), lines in tokenized.items() if lg == lang for line in lines for w in line.split()
            )
        )
        for lang in config.languages
    }
    with stages.stage("apply BPE", total=sum(len(v) for v in words.values())) as advance:
        out = {}
        for lang, vocab in words.items():
            if codes[lang] is None:
                out[lang] = {w: (w,) for w in vocab}
                continue
            tasks = [(codes[lang], chunk) for chunk in chunked(vocab, config.workers, min_chunk=2000)]
            results = map_chunks(pool, segment_chunk, tasks, advance)
            out[lang] = dict(zip(vocab, (p for chunk in results for p in chunk), strict=True))
    return out


def _sample_training_copies(config: PreprocessConfig, tokenized, codes, pool, stages: Stages) -> dict[str, list[str]]:
    """BPE-dropout: --bpe-dropout-copies segmentations of the training split, per language.

    Lines are sampled in fixed blocks, each seeded from (seed, language, copy, block), so
    the result is the same for any number of workers.
    """
    if not config.bpe_dropout:
        return {}
    block = 1000
    out = {}
    total = config.bpe_dropout_copies * sum(len(tokenized[("train", lang)]) for lang in config.languages)
    with stages.stage("BPE-dropout copies", total=total) as advance:
        for lang in config.languages:
            lines = tokenized[("train", lang)]
            tasks = [
                (codes[lang], config.bpe_dropout, _block_seed(config.seed, lang, copy, i), lines[i : i + block])
                for copy in range(config.bpe_dropout_copies)
                for i in range(0, len(lines), block)
            ]
            out[lang] = [line for chunk in map_chunks(pool, sample_chunk, tasks, advance) for line in chunk]
    return out


def _block_seed(seed: int, lang: str, copy: int, start: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{lang}/{copy}/{start}".encode()).digest()[:8], "little")


def _build_dictionaries(
    config: PreprocessConfig, tokenized, segmented, sampled, stages: Stages
) -> dict[str, Dictionary]:
    """fairseq-style dictionaries from the BPE'd training split (BPE-dropout copies included)."""
    with stages.stage("dictionaries"):
        counts = {}
        for lang in config.languages:
            pieces: Counter = Counter()
            for word, n in _train_word_counts(config, tokenized, [lang]).items():
                for piece in segmented[lang][word]:
                    pieces[piece] += n
            for line in sampled.get(lang, ()):
                pieces.update(line.split())
            counts[lang] = pieces
        src = config.source_lang
        if config.joined_dictionary:
            joined = build_dictionary(
                sum(counts.values(), Counter()), config.thresholdsrc, config.nwordssrc, config.padding_factor
            )
            return {lang: joined for lang in config.languages}
        dicts = {src: build_dictionary(counts[src], config.thresholdsrc, config.nwordssrc, config.padding_factor)}
        if not config.monolingual:
            tgt = config.target_lang
            dicts[tgt] = build_dictionary(counts[tgt], config.thresholdtgt, config.nwordstgt, config.padding_factor)
        return dicts


def _binarize(config: PreprocessConfig, tokenized, segmented, sampled, dicts, destdir: Path, stages: Stages) -> dict:
    """Write every split as .bin/.idx; returns statistics per split and language.

    The training split holds the deterministic segmentation first, then any BPE-dropout copies.
    """
    stats: dict[str, dict] = {}
    total = sum(len(v) for v in tokenized.values()) + sum(len(v) for v in sampled.values())
    with stages.stage("binarize", total=total) as advance:
        ids_of = {
            lang: {w: [dicts[lang].index(p) for p in pieces] for w, pieces in segmented[lang].items()}
            for lang in config.languages
        }
        for (split, lang), lines in tokenized.items():
            d, table = dicts[lang], ids_of[lang]
            flat: list[int] = []
            sizes = np.empty(len(lines), dtype=np.int64)
            for i, line in enumerate(lines):
                start = len(flat)
                for word in line.split():
                    flat.extend(table[word])
                flat.append(d.eos_index)
                sizes[i] = len(flat) - start
            if split == "train" and lang in sampled:
                flat, sizes = _append_sampled(flat, sizes, sampled[lang], d)
                advance(len(sampled[lang]))
            flat_ids = np.asarray(flat, dtype=np.int64)
            builder = IndexedDatasetBuilder(destdir / config.dataset_prefix(split, lang), best_dtype(len(d)))
            builder.add_many(flat_ids, sizes)
            builder.finalize()
            stats.setdefault(split, {})[lang] = _split_stats(flat_ids, sizes, d)
            advance(len(lines))
    return stats


def _append_sampled(flat: list[int], sizes: np.ndarray, lines: list[str], d: Dictionary):
    """Add lines of pieces (already segmented) after the deterministic ones."""
    extra = np.empty(len(lines), dtype=np.int64)
    for i, line in enumerate(lines):
        pieces = line.split()
        flat.extend(d.index(p) for p in pieces)
        flat.append(d.eos_index)
        extra[i] = len(pieces) + 1
    return flat, np.concatenate([sizes, extra])


def _split_stats(flat_ids: np.ndarray, sizes: np.ndarray, d: Dictionary) -> dict:
    """Counts exclude the </s> that ends every sentence."""
    lengths = sizes - 1
    tokens = int(lengths.sum())
    unk = int(np.count_nonzero(flat_ids == d.unk_index))
    pct = {f"p{q}": int(np.percentile(lengths, q, method="higher")) for q in (50, 90, 99)}
    return {
        "sentences": int(len(sizes)),
        "tokens": tokens,
        "unk_tokens": unk,
        "unk_rate": round(unk / tokens, 6) if tokens else 0.0,
        "length": {**pct, "max": int(lengths.max())},
    }


def _write_metadata(config: PreprocessConfig, fingerprint: dict, codes, dicts, splits, destdir: Path) -> dict:
    """Write dictionaries, codes and preprocess.json; returns the recorded metadata."""
    codes_files = {}
    for lang in config.languages:
        if codes[lang] is not None:
            codes_files[lang] = codes_filename(lang, config.bpe_separate)
            (destdir / codes_files[lang]).write_text(codes[lang], encoding="utf-8")
        dicts[lang].save(destdir / f"dict.{lang}.txt")
    processors = {}
    for lang in config.languages:
        state = dataclasses.asdict(TextProcessorConfig(lang, config.tokenize, config.normalize_punct))
        state.pop("bpe_codes")
        processors[lang] = {**state, "bpe_codes_file": codes_files.get(lang)}
    meta = {
        "languages": config.languages,
        "dictionaries": {
            lang: {"file": f"dict.{lang}.txt", "size": len(d), "dtype": np.dtype(best_dtype(len(d))).name}
            for lang, d in dicts.items()
        },
        "bpe_codes_files": codes_files,
        "text_processors": processors,
        "splits": splits,
    }
    meta = {**fingerprint, **meta}
    (destdir / "preprocess.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return meta
