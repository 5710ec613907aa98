"""`nmt score` as a function: read the files, score, optionally test significance, render."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toolkit.config import option
from toolkit.errors import UserError
from toolkit.scoring.bleu import (
    ScoreConfig,
    build_metrics,
    corpus_scores,
    prepare,
    read_lines,
    read_system,
    sentence_scores,
)
from toolkit.scoring.significance import paired_bootstrap


@dataclass
class ScoreRunConfig:
    """Every `nmt score` option (the metric settings are ScoreConfig's)."""

    sys: str = option(
        help="system output: plain text, or an `nmt generate` output (D-/T- lines)", short="-s", metavar="FILE"
    )
    ref: str | None = option(
        None, "reference, one line per sentence (optional for generate output)", short="-r", metavar="FILE"
    )
    score: ScoreConfig = field(default_factory=ScoreConfig)
    order: int = option(4, "BLEU's maximum n-gram order (fairseq's -o; only 4, sacreBLEU's, is supported)", short="-o")
    sentence_level: bool = option(False, "also print each sentence's scores", aliases=("--sentence-bleu",))
    paired_bs: str | None = option(None, "baseline output: paired bootstrap resampling against it", metavar="FILE")
    bootstrap_samples: int = option(1000, "resamples for --paired-bs")
    seed: int = option(1, "seed for --paired-bs")
    json: bool = option(False, "print one JSON object (with the configuration)")

    def validate(self) -> None:
        if self.order != 4:
            raise UserError(f"--order {self.order}: only BLEU-4 (sacreBLEU's) is supported")
        self.score.validate()


def _load(sys_path: Path, ref_path: Path | None) -> tuple[list[str], list[str]]:
    hyps, embedded_refs = read_system(sys_path)
    if ref_path is not None:
        refs = read_lines(ref_path)
    elif embedded_refs is not None:
        refs = embedded_refs
    else:
        raise UserError(f"{sys_path} has no T- reference lines; give --ref")
    if not hyps and not refs:
        raise UserError(f"nothing to score: {sys_path} is empty")
    return hyps, refs


def score_files(
    sys_path: Path,
    ref_path: Path | None,
    config: ScoreConfig,
    sentence_level: bool = False,
    baseline_path: Path | None = None,
    samples: int = 1000,
    seed: int = 1,
) -> dict:
    """Everything `nmt score` reports, as plain data (what --json prints)."""
    config.validate()
    hyps, refs = _load(sys_path, ref_path)
    report: dict = {"system": str(sys_path), "sentences": len(refs)}
    report["scores"] = [s.as_dict() for s in corpus_scores(hyps, refs, config)]
    if sentence_level:
        report["sentences_scores"] = sentence_scores(hyps, refs, config)
    if baseline_path is not None:
        if samples < 1:
            raise UserError("--bootstrap-samples must be at least 1")
        baseline, _ = read_system(baseline_path)
        if len(baseline) != len(refs):
            raise UserError(f"baseline {baseline_path} has {len(baseline)} lines but reference has {len(refs)}")
        sys_p, refs_p = prepare(hyps, refs, config)
        base_p, _ = prepare(baseline, refs, config)
        report["baseline"] = str(baseline_path)
        report["paired_bootstrap"] = [
            paired_bootstrap(name, metric, sys_p, base_p, refs_p, samples, seed).as_dict()
            for name, metric in build_metrics(config).items()
        ]
    return report


def render_text(report: dict) -> str:
    lines = []
    for score in report["scores"]:
        name, _, rest = score["text"].partition(" = ")
        lines.append(f"{name}|{score['signature']} = {rest}")
    for i, sentence in enumerate(report.get("sentences_scores", [])):
        lines.append(f"{i}\t" + "\t".join(f"{k}={v:.2f}" for k, v in sentence.items()))
    for test in report.get("paired_bootstrap", []):
        verdict = "significant" if test["significant"] else "not significant"
        low, high = test["system_ci95"]
        lines.append(
            f"paired bootstrap vs {report['baseline']} ({test['samples']} samples, seed {test['seed']}): "
            f"{test['metric']} {test['system']:.2f} [{low:.2f}, {high:.2f}] vs {test['baseline']:.2f}, "
            f"difference {test['difference']:+.2f}, p = {test['p_value']:.4f} ({verdict} at 0.05)"
        )
    return "\n".join(lines)
