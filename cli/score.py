"""`nmt score`: options from ScoreRunConfig and ScoreConfig; calls toolkit.scoring.report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from cli.options import parse_command

DESCRIPTION = (
    "Score a system output with sacreBLEU (BLEU, chrF, TER) and print the scores with their signatures. "
    "--tokenize moses gives the Multi30k papers' lowercased Moses-tokenized BLEU."
)


def run(argv: list[str], prog: str = "nmt score") -> None:
    from toolkit.scoring.report import ScoreRunConfig, render_text, score_files

    config = parse_command(prog, DESCRIPTION, ScoreRunConfig, argv)
    report = score_files(
        Path(config.sys),
        Path(config.ref) if config.ref else None,
        config.score,
        config.sentence_level,
        Path(config.paired_bs) if config.paired_bs else None,
        config.bootstrap_samples,
        config.seed,
    )
    if config.json:
        print(json.dumps(dict(report, config=dataclasses.asdict(config)), ensure_ascii=False, indent=2))
    else:
        print(render_text(report))
