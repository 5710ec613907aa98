"""`nmt preprocess`: raw parallel text -> tokenized -> BPE -> dictionaries -> binarized splits.

Every stage streams: input is read, tokenized and binarized chunk by chunk (CHUNK_LINES lines,
a few chunks in flight on the worker pool), tokenized text waits in scratch files inside the
temporary destination, and only word and symbol counts (the vocabulary, not the corpus) stay in
memory, so peak memory does not grow with the corpus. The output is the same for any --workers.

Monolingual training text (--monolingual-trainpref LANG=FILE) joins BPE learning and LANG's
dictionary and is binarized as train.LANG-None.LANG. Reserved symbols (--extra-symbols) get ids
4, 5, ... in every dictionary and are never split by BPE.

`--bpe characters` (fairseq's spelling) learns no codes: every word becomes its characters and a
▁ unit stands between words (toolkit/data/characters.py); preprocess.json records it among the
text processors, so generate and translate undo it. Reserved symbols stay whole there too.

`--tokenize auto` and `--bpe auto` are made concrete first: text that already carries subword-nmt
markers ("the gre@@ at cat", as fairseq-preprocess takes it) is used as it is (none, none); other
text is tokenized with Moses and segmented with subword-nmt. preprocess.json records the result.

Everything the user can get wrong is checked first (files, line counts, encodings, values,
the destination); then the slow work runs, and the destination appears only at the end,
renamed from a temporary directory, so it is either complete or absent.

Layout of the destination (fairseq naming):
    dict.SRC.txt, dict.TGT.txt     "symbol count" lines (<s> <pad> </s> <unk> implicit)
    bpecodes (or bpecodes.LANG)    subword-nmt codes (none for --bpe none or characters)
    SPLIT.SRC-TGT.LANG.bin/.idx    memory-mapped ids (monolingual: SPLIT.SRC-None.SRC)
    train.LANG-None.LANG.bin/.idx  --monolingual-trainpref text of LANG
    preprocess.json                configuration, inputs, statistics, text processors
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import shutil
import sys
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from toolkit.config import option
from toolkit.data import characters
from toolkit.data.bpe import learn_codes
from toolkit.data.dictionary import Dictionary, build_dictionary, check_extra_symbols
from toolkit.data.indexed import IndexedDatasetBuilder, best_dtype
from toolkit.data.inputs import MONOLINGUAL, InputFile, check_destination, read_chunks, read_inputs, read_text
from toolkit.data.parallel import (
    Stages,
    chunked,
    default_workers,
    map_chunks,
    map_ordered,
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
BPE_METHODS = ("subword-nmt", characters.CHARACTERS, "none")
# Settings that change how the work runs, not what it produces: not recorded.
RUNTIME_FIELDS = ("destdir", "workers", "overwrite", "quiet")
BPE_DROPOUT_FIELDS = ("bpe_dropout", "bpe_dropout_copies", "seed")
# Recorded only when given, so destinations made before these options existed stay valid.
RECORDED_IF_GIVEN = ("monolingual_trainpref", "extra_symbols")
CHUNK_LINES = 2000  # lines per chunk of streamed work (the output does not depend on it)
DROPOUT_BLOCK = 1000  # BPE-dropout seeds one generator per block of this many lines: part of the output
SCRATCH = ".scratch"  # inside the temporary destination; removed before it is renamed into place
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
    monolingual_trainpref: list[str] = option(
        help="monolingual training text: FILE is the text file itself (plain or .gz), not a prefix; it joins "
        "BPE learning and LANG's dictionary and becomes train.LANG-None.LANG (with text for both languages, "
        "no --trainpref is needed)",
        default_factory=list,
        metavar="LANG=FILE,...",
    )
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
        "subword segmentation: subword-nmt (subword_nmt), characters (each character a unit, ▁ between "
        "words; no codes), none, or auto: subword-nmt, or none when the training text already carries BPE "
        "markers (@@ )",
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
    extra_symbols: list[str] = option(
        help="reserved symbols, comma-separated (e.g. '<BT>,<2en>,<mask>'): ids 4, 5, ... in every "
        "dictionary, right after <s> <pad> </s> <unk>; never split or learned by BPE",
        default_factory=list,
        metavar="SYMBOLS",
    )
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
        if split == MONOLINGUAL:
            return f"train.{lang}-None.{lang}"
        tgt = "None" if self.monolingual else self.target_lang
        return f"{split}.{self.source_lang}-{tgt}.{lang}"

    def monolingual_files(self) -> dict[str, str]:
        """--monolingual-trainpref as {language: file}; a malformed item is one UserError line."""
        out: dict[str, str] = {}
        for item in self.monolingual_trainpref:
            lang, _, file = item.partition("=")
            if not lang or not file:
                raise UserError(f"--monolingual-trainpref: expected LANG=FILE, got {item!r}")
            if lang not in (self.source_lang, self.target_lang):
                raise UserError(
                    f"--monolingual-trainpref: {lang!r} is neither --source-lang {self.source_lang}"
                    f" nor --target-lang {self.target_lang}"
                )
            if lang in out:
                raise UserError(f"--monolingual-trainpref: {lang} is given twice")
            out[lang] = file
        return out

    def recorded(self) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in RUNTIME_FIELDS}
        if not self.bpe_dropout:  # these change nothing then; destinations made before them stay valid
            for name in BPE_DROPOUT_FIELDS:
                del out[name]
        for name in RECORDED_IF_GIVEN:
            if not out[name]:
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
    """The first training file carrying BPE markers: --trainpref's files, then monolingual text.

    Without --trainpref: monolingual text, then the files of the first split given.
    """
    splits = config.splits()  # the training split comes first
    first = [(splits[0][1], lang) for lang in config.languages] if splits else []
    try:
        mono = [(file, None) for file in config.monolingual_files().values()]
    except UserError:
        mono = []  # validate reports it
    for name, lang in first + mono if config.trainpref or not mono else mono + first:
        try:
            path = resolve_text_file(name, lang) if lang else Path(name)
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
    mono = config.monolingual_trainpref
    checks = [
        (re.fullmatch(r"[A-Za-z0-9_-]+", config.source_lang or ""), "--source-lang must be a language code like 'de'"),
        (config.monolingual or re.fullmatch(r"[A-Za-z0-9_-]+", config.target_lang), "--target-lang must be a code"),
        (config.monolingual or config.source_lang != config.target_lang, "source and target languages must differ"),
        (
            config.splits() or mono,
            "nothing to do: give at least one of --trainpref, --monolingual-trainpref, --validpref, --testpref",
        ),
        (
            not (mono and config.monolingual),
            "--monolingual-trainpref needs --target-lang (and no --only-source): a monolingual run reads --trainpref",
        ),
        (config.workers >= 1, f"--workers must be at least 1 (got {config.workers})"),
        (config.bpe_merges >= 1, f"--bpe-merges must be at least 1 (got {config.bpe_merges})"),
        (config.bpe_min_frequency >= 1, f"--bpe-min-frequency must be at least 1 (got {config.bpe_min_frequency})"),
        (0 <= config.bpe_dropout < 1, f"--bpe-dropout must be in [0, 1) (got {config.bpe_dropout})"),
        (config.bpe_dropout_copies >= 1, f"--bpe-dropout-copies must be at least 1 (got {config.bpe_dropout_copies})"),
        (
            not (config.bpe_dropout and config.bpe != "subword-nmt"),
            f"--bpe-dropout needs BPE (subword-nmt); drop --bpe {config.bpe}",
        ),
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
        (not (config.bpe != "subword-nmt" and config.bpe_codes), f"--bpe-codes contradicts --bpe {config.bpe}"),
        (
            not (config.bpe == characters.CHARACTERS and config.bpe_separate),
            "--bpe-separate learns codes per language; --bpe characters learns none: drop --bpe-separate",
        ),
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
    config.monolingual_files()  # a malformed item, a language twice or not -s/-t
    check_extra_symbols(config.extra_symbols)
    clash = characters.protected_conflicts(config.extra_symbols) if config.bpe == characters.CHARACTERS else []
    if clash:
        raise UserError(f"--extra-symbols: {clash[0]} is a unit of --bpe characters (▁ or an escape such as <U+2581>)")
    if not config.trainpref:
        _validate_without_trainpref(config)


def _validate_without_trainpref(config: PreprocessConfig) -> None:
    """Without --trainpref, a language lacking monolingual text needs BPE codes (or none) and a dictionary."""
    mono = config.monolingual_files()
    lacking = [lang for lang in config.languages if lang not in mono]
    if not lacking:
        return  # BPE and every dictionary learn from the monolingual text
    if config.bpe == "subword-nmt" and not config.bpe_codes:
        if not mono:
            raise UserError("learning BPE needs --trainpref (or pass --bpe-codes, or --bpe none)")
        raise UserError(
            f"learning BPE without --trainpref needs monolingual text in every language: "
            f"pass --monolingual-trainpref {lacking[0]}=FILE (or --trainpref, --bpe-codes, or --bpe none)"
        )
    if config.joined_dictionary:
        needed = [] if config.srcdict else [("--srcdict", lacking[0])]
    else:
        flags = {config.source_lang: ("--srcdict", config.srcdict), config.target_lang: ("--tgtdict", config.tgtdict)}
        needed = [(flags[lang][0], lang) for lang in lacking if not flags[lang][1]]
    if needed:
        flag, lang = needed[0]
        if not mono:
            raise UserError(f"without --trainpref the dictionaries must be given: pass {flag}")
        raise UserError(
            f"without --trainpref, {lang} needs monolingual text or a dictionary:"
            f" pass --monolingual-trainpref {lang}=FILE or {flag}"
        )


def _load_dictionaries(config: PreprocessConfig) -> dict[str, Dictionary]:
    """--srcdict/--tgtdict, checked to hold every --extra-symbols symbol."""
    given = {}
    src, langs = config.source_lang, config.languages
    paths = {}
    if config.srcdict:
        given[src], paths[src] = Dictionary.load(config.srcdict), ("--srcdict", config.srcdict)
        if config.joined_dictionary and not config.monolingual:
            given[config.target_lang] = given[src]
    if config.tgtdict and not config.monolingual:
        given[langs[1]], paths[langs[1]] = Dictionary.load(config.tgtdict), ("--tgtdict", config.tgtdict)
    for lang, (flag, path) in paths.items():
        lacking = [symbol for symbol in config.extra_symbols if symbol not in given[lang]]
        if lacking:
            raise UserError(
                f"{flag} {path} lacks the --extra-symbols {', '.join(lacking)}: "
                "pass a dictionary made with them, or drop them"
            )
    return given


@dataclass
class _Stream:
    """One input file on its way to one dataset; its tokenized text waits in a scratch file."""

    split: str  # train, valid, valid1, ..., test, ..., or MONOLINGUAL
    lang: str
    file: InputFile
    prefix: str  # the dataset in the destination
    tokens: Path  # the tokenized text, one line per input line
    counts: Counter = field(default_factory=Counter)  # words, in order of first occurrence
    boundaries: int = 0  # spaces between words (--bpe characters counts them as ▁ units)

    @property
    def training(self) -> bool:
        """Whether BPE and dictionaries learn from it."""
        return self.split in ("train", MONOLINGUAL)


@dataclass
class _Job:
    config: PreprocessConfig
    pool: object | None
    stages: Stages
    scratch: Path

    @property
    def window(self) -> int:
        """Chunks in flight on the pool: enough to keep every worker busy, few enough to stay small."""
        return 2 * self.config.workers + 2

    @property
    def protected(self) -> frozenset[str]:
        return frozenset(self.config.extra_symbols)

    @property
    def characters(self) -> bool:
        return self.config.bpe == characters.CHARACTERS


def preprocess(config: PreprocessConfig) -> dict:
    """Run the pipeline; returns the statistics written to preprocess.json (plus timings).

    The returned `tokenize` and `bpe` are the values used (auto resolved); `config` itself is not changed.
    """
    config = resolve_auto(config)
    validate(config)
    resolved = {"tokenize": config.tokenize, "bpe": config.bpe}
    inputs = read_inputs(config)  # every file resolved, hashed, line-counted, decoded (streaming)
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
        try:
            with atomic_directory(config.destdir, overwrite=True) as tmp:
                job = _Job(config, pool, stages, tmp / SCRATCH)
                job.scratch.mkdir()
                streams = [
                    _Stream(split, lang, f, config.dataset_prefix(split, lang), job.scratch / f"{split}.{lang}")
                    for (split, lang), f in inputs.items()
                ]
                codes, dicts, splits = _run(job, streams, bpe_codes_text, given_dicts, tmp)
                shutil.rmtree(job.scratch)
                meta = _write_metadata(config, fingerprint, codes, dicts, splits, tmp)
        except OSError as error:  # a full disk: the partial directory is already removed
            raise UserError(f"could not write {config.destdir}: {error.strerror or error}") from None
    return {**meta, **resolved, "timings": stages.timings, "already_done": False}


def _run(job: _Job, streams: list[_Stream], bpe_codes_text, given_dicts, destdir: Path):
    """The stages in order; returns the codes, the dictionaries and the statistics of every dataset."""
    _tokenize(job, streams)
    codes = _bpe_codes(job, streams, bpe_codes_text)
    segmented = _segment(job, streams, codes)
    sampled = _sample_training_copies(job, streams, codes)
    # Build whatever --srcdict/--tgtdict did not supply.
    missing = [lang for lang in job.config.languages if lang not in given_dicts]
    built = _build_dictionaries(job, streams, segmented, sampled) if missing else {}
    dicts = {**built, **given_dicts}
    return codes, dicts, _binarize(job, streams, segmented, sampled, dicts, destdir)


def _describe(inputs: dict[tuple[str, str], InputFile], extras: dict) -> dict:
    """What the output depends on besides the config: input files and given codes/dictionaries."""
    out = {f"{split}.{lang}": f.describe() for (split, lang), f in inputs.items()}
    for name, value in extras.items():
        if isinstance(value, Dictionary):
            value = value.to_text()
        if value is not None:
            out[name] = {"sha256": hashlib.sha256(value.encode("utf-8")).hexdigest()}
    return out


def _write_lines(handle, lines: list[str]) -> None:
    # A line holds no "\n" (input is split there), so reading back by "\n" restores the lines exactly.
    handle.write("".join(line + "\n" for line in lines))


def _words(lines: list[str]) -> Iterable[str]:
    return itertools.chain.from_iterable(map(str.split, lines))


def _tokenize(job: _Job, streams: list[_Stream]) -> None:
    """Tokenize every file, chunk by chunk, into its scratch file; count its words on the way."""
    config = job.config
    with job.stages.stage("tokenize", total=sum(s.file.num_lines for s in streams)) as advance:
        for stream in streams:
            tok = TokenizerConfig(stream.lang, config.tokenize, config.normalize_punct)
            tasks = ((tok, job.protected, chunk) for chunk in stream.file.chunks(CHUNK_LINES))
            with open(stream.tokens, "w", encoding="utf-8", newline="\n") as out:
                for lines in map_ordered(job.pool, tokenize_chunk, tasks, advance, job.window):
                    _write_lines(out, lines)
                    if job.characters:  # the ▁ units between words count towards the dictionary
                        words = [line.split() for line in lines]
                        stream.boundaries += sum(len(w) - 1 for w in words if w)
                        stream.counts.update(itertools.chain.from_iterable(words))
                    else:
                        stream.counts.update(_words(lines))


def _train_word_counts(streams: list[_Stream], langs: list[str]) -> Counter:
    """Word counts of the training text of `langs`: --trainpref's, then monolingual, in order."""
    counts: Counter = Counter()
    for lang in langs:
        for stream in streams:
            if stream.lang == lang and stream.training:
                counts.update(stream.counts)
    return counts


def _bpe_codes(job: _Job, streams: list[_Stream], given: str | None) -> dict[str, str | None]:
    """Codes text per language: none, given, learned jointly, or learned per language."""
    config, langs = job.config, job.config.languages
    if config.bpe in ("none", characters.CHARACTERS):
        return {lang: None for lang in langs}
    if given is not None:
        return {lang: given for lang in langs}
    groups = [[lang] for lang in langs] if config.bpe_separate else [langs]
    codes = {}
    with job.stages.stage("learn BPE", total=config.bpe_merges * len(groups)) as advance:
        for group in groups:
            counts = _train_word_counts(streams, group)
            for symbol in config.extra_symbols:  # reserved symbols take no part in any merge
                counts.pop(symbol, None)
            text = learn_codes(counts, config.bpe_merges, config.bpe_min_frequency, advance)
            codes.update({lang: text for lang in group})
    return codes


def _segment(job: _Job, streams: list[_Stream], codes) -> dict[str, dict[str, tuple]]:
    """word -> subword pieces (or characters), for each distinct word of each language (BPE applied once)."""
    words = {
        lang: list(dict.fromkeys(w for s in streams if s.lang == lang for w in s.counts))
        for lang in job.config.languages
    }
    with job.stages.stage("apply BPE", total=sum(len(v) for v in words.values())) as advance:
        out = {}
        for lang, vocab in words.items():
            if job.characters:  # cheap enough for the main process
                out[lang] = {w: characters.split_word(w, job.protected) for w in vocab}
                advance(len(vocab))
                continue
            if codes[lang] is None:
                out[lang] = {w: (w,) for w in vocab}
                continue
            chunks = chunked(vocab, job.config.workers, min_chunk=2000)
            tasks = [(codes[lang], job.protected, chunk) for chunk in chunks]
            results = map_chunks(job.pool, segment_chunk, tasks, advance)
            out[lang] = dict(zip(vocab, (p for chunk in results for p in chunk), strict=True))
    return out


@dataclass
class _Sampled:
    """The BPE-dropout copies of one language's training split, in a scratch file."""

    path: Path
    lines: int
    counts: Counter  # pieces


def _sample_training_copies(job: _Job, streams: list[_Stream], codes) -> dict[str, _Sampled]:
    """BPE-dropout: --bpe-dropout-copies segmentations of the training split, per language.

    Lines are sampled in fixed blocks, each seeded from (seed, language, copy, block), so
    the result is the same for any number of workers (or chunk size).
    """
    config = job.config
    if not config.bpe_dropout:
        return {}
    train = [s for s in streams if s.split == "train"]
    out = {}
    total = config.bpe_dropout_copies * sum(s.file.num_lines for s in train)
    with job.stages.stage("BPE-dropout copies", total=total) as advance:
        for stream in train:
            lang = stream.lang
            seed = partial(_block_seed, config.seed, lang)
            tasks = (
                (codes[lang], job.protected, config.bpe_dropout, seed(copy, i * DROPOUT_BLOCK), block)
                for copy in range(config.bpe_dropout_copies)
                for i, block in enumerate(read_chunks(stream.tokens, DROPOUT_BLOCK))
            )
            sampled = _Sampled(job.scratch / f"dropout.{lang}", 0, Counter())
            with open(sampled.path, "w", encoding="utf-8", newline="\n") as handle:
                for lines in map_ordered(job.pool, sample_chunk, tasks, advance, job.window):
                    _write_lines(handle, lines)
                    sampled.counts.update(_words(lines))
                    sampled.lines += len(lines)
            out[lang] = sampled
    return out


def _block_seed(seed: int, lang: str, copy: int, start: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{lang}/{copy}/{start}".encode()).digest()[:8], "little")


def _build_dictionaries(job: _Job, streams: list[_Stream], segmented, sampled) -> dict[str, Dictionary]:
    """fairseq-style dictionaries from the BPE'd training text (BPE-dropout copies included)."""
    config = job.config
    with job.stages.stage("dictionaries"):
        counts = {}
        for lang in config.languages:
            pieces: Counter = Counter()
            for word, n in _train_word_counts(streams, [lang]).items():
                for piece in segmented[lang][word]:
                    pieces[piece] += n
            if lang in sampled:
                pieces.update(sampled[lang].counts)
            if job.characters:
                boundaries = sum(s.boundaries for s in streams if s.lang == lang and s.training)
                if boundaries:
                    pieces[characters.BOUNDARY] += boundaries
            counts[lang] = pieces
        build = partial(build_dictionary, padding_factor=config.padding_factor, extra_symbols=config.extra_symbols)
        if config.joined_dictionary:
            joined = build(sum(counts.values(), Counter()), config.thresholdsrc, config.nwordssrc)
            return {lang: joined for lang in config.languages}
        dicts = {config.source_lang: build(counts[config.source_lang], config.thresholdsrc, config.nwordssrc)}
        if not config.monolingual:
            dicts[config.target_lang] = build(counts[config.target_lang], config.thresholdtgt, config.nwordstgt)
        return dicts


def _binarize(job: _Job, streams: list[_Stream], segmented, sampled, dicts, destdir: Path) -> dict:
    """Write every dataset as .bin/.idx, chunk by chunk; returns statistics per split and language.

    The training split holds the deterministic segmentation first, then any BPE-dropout copies.
    """
    stats: dict[str, dict] = {}
    total = sum(s.file.num_lines for s in streams) + sum(s.lines for s in sampled.values())
    with job.stages.stage("binarize", total=total) as advance:
        ids_of = {
            lang: {w: [dicts[lang].index(p) for p in pieces] for w, pieces in segmented[lang].items()}
            for lang in job.config.languages
        }
        for stream in streams:
            d, table = dicts[stream.lang], ids_of[stream.lang]
            boundary = d.index(characters.BOUNDARY) if job.characters else None
            unk = 0
            with IndexedDatasetBuilder(destdir / stream.prefix, best_dtype(len(d))) as builder:
                for lines in read_chunks(stream.tokens, CHUNK_LINES):
                    unk += _add_lines(builder, lines, table, d, boundary)
                    advance(len(lines))
                copies = sampled.get(stream.lang) if stream.split == "train" else None
                if copies is not None:  # pieces already: each is its own "word"
                    pieces = {p: [d.index(p)] for p in copies.counts}
                    for lines in read_chunks(copies.path, CHUNK_LINES):
                        unk += _add_lines(builder, lines, pieces, d)
                        advance(len(lines))
                builder.finalize()
                stats.setdefault(stream.split, {})[stream.lang] = _split_stats(builder.sizes, unk)
    return stats


def _add_lines(
    builder: IndexedDatasetBuilder,
    lines: list[str],
    table: dict[str, list[int]],
    d: Dictionary,
    boundary: int | None = None,
) -> int:
    """Append one sequence per line: the ids of its words' pieces, then </s>; returns the <unk> count.

    `boundary`: the id put between words (the ▁ unit of --bpe characters), or None for nothing.
    """
    flat: list[int] = []
    sizes = np.empty(len(lines), dtype=np.int64)
    eos = d.eos_index
    for i, line in enumerate(lines):
        start = len(flat)
        if boundary is None:
            for word in line.split():
                flat.extend(table[word])
        else:
            for k, word in enumerate(line.split()):
                if k:
                    flat.append(boundary)
                flat.extend(table[word])
        flat.append(eos)
        sizes[i] = len(flat) - start
    ids = np.asarray(flat, dtype=np.int64)
    builder.add_many(ids, sizes)
    return int(np.count_nonzero(ids == d.unk_index))


def _split_stats(sizes: np.ndarray, unk: int) -> dict:
    """Counts exclude the </s> that ends every sentence."""
    lengths = sizes.astype(np.int64) - 1
    tokens = int(lengths.sum())
    pct = {f"p{q}": int(np.percentile(lengths, q, method="higher")) for q in (50, 90, 99)}
    return {
        "sentences": int(len(sizes)),
        "tokens": tokens,
        "unk_tokens": unk,
        "unk_rate": round(unk / tokens, 6) if tokens else 0.0,
        "length": {**pct, "max": int(lengths.max())},
    }


def _write_metadata(config: PreprocessConfig, fingerprint: dict, codes, dicts, stats, destdir: Path) -> dict:
    """Write dictionaries, codes and preprocess.json; returns the recorded metadata."""
    codes_files = {}
    for lang in config.languages:
        if codes[lang] is not None:
            codes_files[lang] = codes_filename(lang, config.bpe_separate)
            (destdir / codes_files[lang]).write_text(codes[lang], encoding="utf-8")
        dicts[lang].save(destdir / f"dict.{lang}.txt")
    processors = {}
    bpe = characters.CHARACTERS if config.bpe == characters.CHARACTERS else "subword-nmt"
    for lang in config.languages:
        state = TextProcessorConfig(lang, config.tokenize, config.normalize_punct, bpe=bpe).record()
        state.pop("bpe_codes")
        processors[lang] = {**state, "bpe_codes_file": codes_files.get(lang)}
    mono = stats.pop(MONOLINGUAL, {})
    meta = {
        "languages": config.languages,
        "dictionaries": {
            lang: {"file": f"dict.{lang}.txt", "size": len(d), "dtype": np.dtype(best_dtype(len(d))).name}
            for lang, d in dicts.items()
        },
        "bpe_codes_files": codes_files,
        "text_processors": processors,
        "splits": stats,
        # The datasets of --monolingual-trainpref, per language: where they are and what they hold.
        "monolingual_splits": {
            lang: {"split": "train", "prefix": config.dataset_prefix(MONOLINGUAL, lang), **numbers}
            for lang, numbers in mono.items()
        },
        # Reserved symbols and their ids in each language's dictionary (4, 5, ... unless a given one differs).
        "extra_symbols": {
            "symbols": list(config.extra_symbols),
            "ids": {lang: {s: d.index(s) for s in config.extra_symbols} for lang, d in dicts.items()},
        },
    }
    meta = {**fingerprint, **meta}
    (destdir / "preprocess.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return meta
