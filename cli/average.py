"""`nmt average-checkpoints`: options from AverageConfig; calls toolkit.train.average."""

from __future__ import annotations

from pathlib import Path

from cli.options import parse_command

DESCRIPTION = "Average checkpoint weights (float64 accumulation) into one inference checkpoint."


def run(argv: list[str], prog: str = "nmt average-checkpoints") -> None:
    from toolkit.train.average import AverageConfig, average_checkpoints
    from toolkit.train.checkpoint import save_checkpoint

    config = parse_command(prog, DESCRIPTION, AverageConfig, argv)
    paths = config.checkpoints()
    save_checkpoint(average_checkpoints(paths), Path(config.output))
    print(f"averaged {len(paths)} checkpoints ({', '.join(p.name for p in paths)}) into {config.output}")
