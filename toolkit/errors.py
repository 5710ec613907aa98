"""Errors a user can fix: the CLI turns them into one line and exit code 2; notes are one line too."""

import sys


class UserError(Exception):
    """Bad input, a missing file, a nonsense flag value: anything the user can fix.

    Bugs still raise their own exceptions (and show a traceback); only this one is
    shortened to a single line at the CLI edge.
    """


def note(text: str) -> None:
    """One `nmt: note: ...` line on stderr: nmt did something other than the obvious, and says so."""
    print(f"nmt: note: {text}", file=sys.stderr)
