"""The `nmt` entry point: finds the subcommand, imports only its module, turns UserError into one line.

`nmt --help` imports nothing beyond this file (no torch), so it answers at once; each subcommand
builds its options from its config dataclasses (toolkit/config.py) and fails the same way:
`nmt: error: SUBCOMMAND: ...`, exit code 2.
"""

from __future__ import annotations

import importlib
import sys

from toolkit import __version__
from toolkit.errors import UserError

# name -> (module, one-line summary). Explicit, so an import error in a subcommand is never hidden.
COMMANDS: dict[str, tuple[str, str]] = {
    "preprocess": ("cli.preprocess", "tokenize, learn BPE, build dictionaries and binarize text"),
    "train": ("cli.train", "train a model; rerunning the same command resumes exactly"),
    "generate": ("cli.generate", "translate a binarized split, print S-/T-/H-/D-/P- lines and BLEU"),
    "translate": ("cli.translate", "translate raw text from stdin or a file, one line per line"),
    "interactive": ("cli.translate", "fairseq's name for translate"),
    "score": ("cli.score", "BLEU, chrF and TER of a system output, with signatures"),
    "average-checkpoints": ("cli.average", "average the weights of several checkpoints"),
    "plot": ("cli.plot", "draw a run's training curves (train_log.jsonl) into a PNG"),
    "quantize": ("cli.quantize", "write an int8 checkpoint for fast CPU inference (smaller on disk)"),
    "export": ("cli.export", "convert a Transformer checkpoint for CTranslate2"),
    "info": ("cli.info", "the device, CPU vector unit and precision nmt would use here"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    rows = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items())
    return (
        "usage: nmt [--version] [-h] COMMAND [OPTIONS]\n\n"
        "nmt: neural machine translation from raw parallel text to a scored model.\n\n"
        f"commands:\n{rows}\n\n"
        "`nmt COMMAND --help` lists a command's options."
    )


def dispatch(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return
    if argv[0] == "--version":
        print(f"nmt {__version__}")
        return
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        known = ", ".join(COMMANDS)
        what = "option" if name.startswith("-") else "command"
        raise UserError(f"unknown {what} {name!r}; commands: {known} (see nmt --help)")
    module = importlib.import_module(COMMANDS[name][0])
    module.run(rest, prog=f"nmt {name}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Every error names the subcommand, so a recipe's log says which stage failed.
    where = f"{argv[0]}: " if argv and argv[0] in COMMANDS else ""
    try:
        dispatch(argv)
    except UserError as error:
        print(f"nmt: error: {where}{error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        if error.filename is None:
            raise
        # An unwritable or missing path, a full disk: the user's to fix, not a bug.
        print(f"nmt: error: {where}{error.filename}: {error.strerror}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("nmt: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
