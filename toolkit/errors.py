"""Errors a user can fix: the CLI turns them into one line and exit code 2."""


class UserError(Exception):
    """Bad input, a missing file, a nonsense flag value: anything the user can fix.

    Bugs still raise their own exceptions (and show a traceback); only this one is
    shortened to a single line at the CLI edge.
    """
