"""`nmt quantize`: options from QuantizeConfig; calls toolkit.quantize.checkpoint."""

from __future__ import annotations

from cli.options import parse_command

DESCRIPTION = (
    "Write an int8 copy of a float checkpoint for CPU inference: every weight matrix as int8 with one "
    "scale per output channel (plain tensors, loadable with torch.load(weights_only=True)), no optimizer "
    "state. nmt generate/translate --path OUT run it in int8 (on the CPU) directly; --bf16 is ignored there "
    "(the matrix products are int8 already)."
)


def run(argv: list[str], prog: str = "nmt quantize") -> None:
    from toolkit.quantize.checkpoint import QuantizeConfig, quantize_file

    print(quantize_file(parse_command(prog, DESCRIPTION, QuantizeConfig, argv)))
