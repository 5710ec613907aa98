"""`nmt plot`: a run's training curves (SAVE_DIR/train_log.jsonl) as a PNG, for a headless machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cli.options import parse_command
from toolkit.config import option

DESCRIPTION = (
    "Draw the training and validation loss (and BLEU and learning rate when logged) against updates and "
    "training hours from SAVE_DIR/train_log.jsonl into a PNG."
)


@dataclass
class PlotConfig:
    save_dir: str = option(help="the --save-dir of an nmt train run (or its train_log.jsonl)", positional=True)
    output: str | None = option(None, "the PNG to write (default: SAVE_DIR/curves.png)", short="-o")


def run(argv: list[str], prog: str = "nmt plot") -> None:
    from toolkit.curves import plot_training_curves

    config = parse_command(prog, DESCRIPTION, PlotConfig, argv)
    source = Path(config.save_dir)
    log = source if source.is_file() else source / "train_log.jsonl"
    output = Path(config.output) if config.output else log.parent / "curves.png"
    plot_training_curves(log, output)
    print(f"wrote {output}")
