"""The one error type users see: a message saying what happened and what to do.

Raise `PytoolError` (failure, exit 1) or `UsageError` (bad input, exit 2) anywhere in the tool; the CLI renders
it as one red line (after its `details`, one line each). Any other exception is a bug and is also reduced to one
line unless `--debug` is given.
"""

from __future__ import annotations


class PytoolError(Exception):
    """A failure the user can act on. `hint` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, details: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: lines that belong to the error, printed one per line before it (each finding of `pytool check`, ...)
        self.details = tuple(details)

    def __str__(self) -> str:
        return f"{self.message} - {self.hint}" if self.hint else self.message


class UsageError(PytoolError):
    """The command line or an input file is wrong (exit code 2)."""

    exit_code = 2


class Interrupted(PytoolError):
    """Ctrl-C stopped a command: `message` says what was interrupted and the state it left (exit code 130)."""

    exit_code = 130
