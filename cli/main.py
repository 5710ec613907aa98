"""The `nmt` entry point: registers the subcommands and turns UserError into one line."""

from __future__ import annotations

import sys

import typer

from toolkit import __version__
from toolkit.errors import UserError

app = typer.Typer(
    name="nmt",
    help="nmt: neural machine translation from raw parallel text to a scored model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nmt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """nmt: neural machine translation from raw parallel text to a scored model."""


def _register_commands() -> None:
    # Explicit imports: an import error in a subcommand is never hidden.
    for name in ("preprocess", "train", "generate", "translate", "score", "average", "info"):
        module = __import__(f"cli.{name}", fromlist=["register"])
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    try:
        app(args=argv, standalone_mode=True)
    except UserError as error:
        print(f"nmt: error: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        if error.filename is None:
            raise
        # An unwritable or missing path, a full disk: the user's to fix, not a bug.
        print(f"nmt: error: {error.filename}: {error.strerror}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("nmt: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
