"""sacreBLEU wrappers: corpus and sentence BLEU, chrF and TER with their signatures.

`tokenize="moses"` is the Multi30k literature's protocol: Moses-tokenize hypotheses and
references with sacremoses, lowercase, then BLEU with sacreBLEU's tokenizer "none".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric
from sacrebleu.metrics.bleu import BLEUScore

from toolkit.config import option
from toolkit.data.inputs import read_lines as read_input_lines
from toolkit.errors import UserError

METRICS = ("bleu", "chrf", "ter")
TOKENIZERS = tuple(BLEU.TOKENIZERS) + ("moses",)
_GENERATE_LINE = re.compile(r"^([A-Z])-(\d+)\t(.*)$")


@dataclass
class ScoreConfig:
    metrics: list[str] = option(help="comma-separated: bleu, chrf, ter", default_factory=lambda: ["bleu"])
    lowercase: bool = option(False, "case-insensitive scores", aliases=("--ignore-case",))
    tokenize: str = option(
        "13a", "sacreBLEU tokenizer (13a, intl, none, zh, char, ...), or moses: Moses-tokenize, lowercase, tok none"
    )
    lang: str = option("en", "language for --tokenize moses")

    def validate(self) -> ScoreConfig:
        self.metrics = [m.strip().lower() for m in self.metrics]
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise UserError(f"unknown metric {', '.join(unknown) or '(none)'}; choose from {', '.join(METRICS)}")
        if self.tokenize not in TOKENIZERS:
            raise UserError(f"unknown --tokenize {self.tokenize!r}; choose from {', '.join(TOKENIZERS)}")
        return self


@dataclass
class MetricScore:
    name: str
    score: float
    signature: str
    text: str  # sacreBLEU's one-line rendering

    def as_dict(self) -> dict:
        return {"metric": self.name, "score": self.score, "signature": self.signature, "text": self.text}


def parse_generate_output(lines: Sequence[str]) -> tuple[list[str], list[str]] | None:
    """(D- hypotheses, T- references) ordered by sentence id, or None if not generate output.

    References are empty when the file has no T- lines (e.g. a test set without targets).
    """
    hyps: dict[int, str] = {}
    refs: dict[int, str] = {}
    for line in lines:
        match = _GENERATE_LINE.match(line.rstrip("\n"))
        if not match:
            continue
        kind, idx, rest = match.group(1), int(match.group(2)), match.group(3)
        if kind == "D" and idx not in hyps:  # the first D- line of a sentence is its best hypothesis
            hyps[idx] = rest.split("\t", 1)[1] if "\t" in rest else ""
        elif kind == "T":
            refs[idx] = rest
    if not hyps:
        return None
    order = sorted(hyps)
    if refs and sorted(refs) != order:
        raise UserError("generate output has D- and T- lines for different sentence ids")
    return [hyps[i] for i in order], [refs[i] for i in order] if refs else []


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 (optionally gzipped) file; bad bytes are one UserError naming file and line."""
    if not Path(path).is_file():
        raise UserError(f"file not found: {path}")
    return read_input_lines(Path(path)).lines


def read_system(path: str | Path) -> tuple[list[str], list[str] | None]:
    """Plain text (one hypothesis per line) or an `nmt generate` output file (D-/T- lines)."""
    lines = read_lines(path)
    parsed = parse_generate_output(lines)
    if parsed is None:
        return lines, None
    return parsed[0], parsed[1] or None


def _moses(lines: Sequence[str], lang: str) -> list[str]:
    from sacremoses import MosesTokenizer

    tokenizer = MosesTokenizer(lang=lang)
    return [tokenizer.tokenize(line, escape=False, return_str=True).lower() for line in lines]


def build_metrics(config: ScoreConfig, sentence_level: bool = False) -> dict[str, Metric]:
    """sacreBLEU metric objects; sentence-level BLEU uses effective order (as sacreBLEU advises)."""
    config.validate()
    moses = config.tokenize == "moses"
    lowercase = config.lowercase or moses
    make = {
        "bleu": lambda: BLEU(
            lowercase=lowercase,
            tokenize="none" if moses else config.tokenize,
            effective_order=sentence_level,
            force=moses,  # the text is Moses-tokenized on purpose: no "forgot to detokenize" warning
        ),
        "chrf": lambda: CHRF(lowercase=lowercase),
        "ter": lambda: TER(case_sensitive=not lowercase),
    }
    return {name: make[name]() for name in config.metrics}


def prepare(hyps: Sequence[str], refs: Sequence[str], config: ScoreConfig) -> tuple[list[str], list[str]]:
    """Check the line counts and apply the Moses protocol if asked for."""
    if len(hyps) != len(refs):
        raise UserError(f"system has {len(hyps)} lines but reference has {len(refs)}")
    if not refs:
        raise UserError("nothing to score: the reference is empty")
    if config.tokenize == "moses":
        return _moses(hyps, config.lang), _moses(refs, config.lang)
    return list(hyps), list(refs)


def corpus_scores(hyps: Sequence[str], refs: Sequence[str], config: ScoreConfig) -> list[MetricScore]:
    hyps, refs = prepare(hyps, refs, config)
    results = []
    for name, metric in build_metrics(config).items():
        score = metric.corpus_score(hyps, [refs])
        signature = str(metric.get_signature())
        if config.tokenize == "moses":
            signature += "|pretok:moses"
        results.append(MetricScore(name, float(score.score), signature, str(score)))
    return results


def sentence_scores(hyps: Sequence[str], refs: Sequence[str], config: ScoreConfig) -> list[dict[str, float]]:
    """Per line, each metric's sentence-level score."""
    hyps, refs = prepare(hyps, refs, config)
    metrics = build_metrics(config, sentence_level=True)
    return [
        {name: float(m.sentence_score(h, [r]).score) for name, m in metrics.items()}
        for h, r in zip(hyps, refs, strict=True)
    ]


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str]) -> MetricScore:
    """Default sacreBLEU (13a, mixed case), as `nmt generate` reports it."""
    return corpus_scores(hyps, refs, ScoreConfig())[0]


# --- summable BLEU statistics (validation BLEU during training) ---------------------------
#
# sacreBLEU's corpus BLEU is a function of the per-sentence match counts summed over the corpus;
# these are those sums under fairseq's names, so per-batch (and per-process) dicts add up to the
# corpus figure exactly: bleu_from_statistics(sum of bleu_statistics(batch) ...) equals
# corpus_bleu(all hyps, all refs).score with the same tokenizer.

BLEU_ORDER = 4
BLEU_STAT_KEYS = (
    "_bleu_sys_len",
    "_bleu_ref_len",
    *(f"_bleu_counts_{n}" for n in range(BLEU_ORDER)),
    *(f"_bleu_totals_{n}" for n in range(BLEU_ORDER)),
)


@cache
def _counting_bleu(tokenize: str) -> BLEU:
    # force: tokenized text (tokenize="none") is scored on purpose; no "forgot to detokenize" warning
    return BLEU(tokenize=tokenize, force=True)


def bleu_statistics(hyps: Sequence[str], refs: Sequence[str], tokenize: str = "13a") -> dict[str, int]:
    """sacreBLEU's sufficient statistics of these pairs (one reference each), as a flat summable dict."""
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not hyps:
        return dict.fromkeys(BLEU_STAT_KEYS, 0)
    score = _counting_bleu(tokenize).corpus_score(list(hyps), [list(refs)])
    stats = {"_bleu_sys_len": int(score.sys_len), "_bleu_ref_len": int(score.ref_len)}
    for n in range(BLEU_ORDER):
        stats[f"_bleu_counts_{n}"] = int(score.counts[n])
        stats[f"_bleu_totals_{n}"] = int(score.totals[n])
    return stats


def bleu_from_statistics(stats: Mapping[str, float]) -> BLEUScore:
    """sacreBLEU's BLEUScore (.score, .precisions, .bp, ...) from summed statistics (floats allowed:
    an all-reduce may have carried them); the default BLEU's smoothing (exp), order 4."""
    value = {key: int(round(float(stats.get(key, 0)))) for key in BLEU_STAT_KEYS}
    return BLEU.compute_bleu(
        correct=[value[f"_bleu_counts_{n}"] for n in range(BLEU_ORDER)],
        total=[value[f"_bleu_totals_{n}"] for n in range(BLEU_ORDER)],
        sys_len=value["_bleu_sys_len"],
        ref_len=value["_bleu_ref_len"],
        smooth_method="exp",
        max_ngram_order=BLEU_ORDER,
    )
