"""`nmt average-checkpoints`: average the weights of the last N checkpoints (or given files)."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.errors import UserError


def average_checkpoints(
    inputs: list[Path] = typer.Option(
        ..., "--inputs", help="A checkpoint directory (with --num-*-checkpoints), or checkpoint files."
    ),
    files: list[Path] = typer.Argument(
        None, help="More checkpoint files (so `--inputs a.pt b.pt c.pt` works).", show_default=False
    ),
    output: Path = typer.Option(..., "--output", help="Where to write the averaged checkpoint (atomically)."),
    num_epoch_checkpoints: int = typer.Option(
        None, "--num-epoch-checkpoints", help="Average the last N checkpointEPOCH.pt."
    ),
    num_update_checkpoints: int = typer.Option(
        None, "--num-update-checkpoints", help="Average the last N checkpoint_E_U.pt."
    ),
) -> None:
    """Average checkpoint weights (float64 accumulation) into one inference checkpoint."""
    from toolkit.train.average import average_checkpoints as average
    from toolkit.train.average import last_epoch_checkpoints, last_update_checkpoints
    from toolkit.train.checkpoint import save_checkpoint

    paths = list(inputs) + list(files or [])
    if num_epoch_checkpoints is not None and num_update_checkpoints is not None:
        raise UserError("give only one of --num-epoch-checkpoints and --num-update-checkpoints")
    if num_epoch_checkpoints is not None or num_update_checkpoints is not None:
        if len(paths) != 1 or not paths[0].is_dir():
            raise UserError("--num-epoch-checkpoints/--num-update-checkpoints need --inputs to be one directory")
        if num_epoch_checkpoints is not None:
            paths = last_epoch_checkpoints(paths[0], num_epoch_checkpoints)
        else:
            paths = last_update_checkpoints(paths[0], num_update_checkpoints)
    else:
        directories = [str(p) for p in paths if p.is_dir()]
        if directories:
            raise UserError(
                f"{directories[0]} is a directory: add --num-epoch-checkpoints N or --num-update-checkpoints N"
            )
    state = average(paths)
    save_checkpoint(state, output)
    typer.echo(f"averaged {len(paths)} checkpoints ({', '.join(p.name for p in paths)}) into {output}")


def register(app: typer.Typer) -> None:
    app.command("average-checkpoints")(average_checkpoints)
