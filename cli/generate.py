"""`nmt generate`: options from GenerateConfig and SearchConfig; calls toolkit.search.subset."""

from __future__ import annotations

from cli.options import parse_command

DESCRIPTION = (
    "Translate a binarized split with a checkpoint (or an ensemble, a.pt:b.pt); print S-/T-/H-/D-/P- "
    "lines by sentence id, then the score (--scoring) and the speed."
)


def run(argv: list[str], prog: str = "nmt generate") -> None:
    from toolkit.search.subset import GenerateConfig, generate_subset

    generate_subset(parse_command(prog, DESCRIPTION, GenerateConfig, argv))
