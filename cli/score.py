"""`nmt score`: sacreBLEU (BLEU, chrF, TER) of a system output against a reference."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from toolkit.scoring.bleu import ScoreConfig


def score(
    sys: Path = typer.Option(
        ..., "--sys", help="System output: plain text, or an `nmt generate` output (D-/T- lines)."
    ),
    ref: Path = typer.Option(None, "--ref", help="Reference, one line per sentence (optional for generate output)."),
    metrics: str = typer.Option("bleu", "--metrics", help="Comma-separated: bleu, chrf, ter."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Case-insensitive scores."),
    tokenize: str = typer.Option(
        "13a",
        "--tokenize",
        help="sacreBLEU tokenizer (13a, intl, none, zh, char, ...), or 'moses': Moses-tokenize, lowercase, tok none.",
    ),
    lang: str = typer.Option("en", "--lang", help="Language for --tokenize moses."),
    sentence_level: bool = typer.Option(False, "--sentence-level", help="Also print each sentence's scores."),
    paired_bs: Path = typer.Option(
        None, "--paired-bs", help="Baseline output: paired bootstrap resampling against it."
    ),
    bootstrap_samples: int = typer.Option(1000, "--bootstrap-samples", help="Resamples for --paired-bs."),
    seed: int = typer.Option(1, "--seed", help="Seed for --paired-bs."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score a system output with sacreBLEU and print the scores with their signatures."""
    from toolkit.scoring.report import render_text, score_files

    config = ScoreConfig(
        metrics=[m.strip().lower() for m in metrics.split(",") if m.strip()],
        lowercase=lowercase,
        tokenize=tokenize,
        lang=lang,
    )
    report = score_files(sys, ref, config, sentence_level, paired_bs, bootstrap_samples, seed)
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else render_text(report))


def register(app: typer.Typer) -> None:
    app.command("score")(score)
