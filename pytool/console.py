"""The output mode (--json, --debug) and the two output channels: human (rich, stderr) and machine (stdout).

The port is not here: it travels explicitly (typer's `ctx.obj`, see pytool/cli.py and pytool/ports.py)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class OutputMode:
    """How results are printed this run: set once by pytool.cli from `--json` and `--debug`."""

    json: bool = False
    debug: bool = False
    #: a `+` chain with --json: each command's result is kept here and printed as one JSON list at the end
    collected: list | None = None


options = OutputMode()

#: Columns when the output is not a terminal (a pipe, a file, a test's capture): rich's default there is 80, which
#: cut table columns and folded long lines; a consumer of piped output wants each row whole on one line.
PIPED_WIDTH = 400


class LazyConsole:
    """A rich Console made on its first use: importing rich costs every command line about 17 ms of start-up, and
    a command that prints nothing for humans (`--json`, a no-change sync) never needs it. Attribute reads go to
    the Console; hand `.console` to rich itself (Progress, Live)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        stream = sys.stderr if self._stderr else sys.stdout
        is_terminal = hasattr(stream, "isatty") and stream.isatty()
        width = None if is_terminal or os.environ.get("COLUMNS") else PIPED_WIDTH
        return Console(stderr=self._stderr, highlight=False, soft_wrap=True, width=width)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


#: Human-readable output (tables, progress, status lines). On stderr so that `--json` stdout stays clean.
err = LazyConsole(stderr=True)
#: Plain stdout, for command results that are data (file contents, listings) when not in --json mode.
out = LazyConsole(stderr=False)


def escape(text: str) -> str:
    """`text` with rich markup characters escaped (rich.markup.escape, imported on first use)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return obj.hex()
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return str(obj)


def emit(result: Any, human: Callable[[], None] | None = None) -> None:
    """Print a command's result: JSON on stdout with --json, else call `human()` (or print `result`)."""
    if options.json and options.collected is not None:
        options.collected.append(result)
    elif options.json:
        write_json(result)
    elif human is not None:
        human()
    elif result is not None:
        out.print(result)


def write_json(doc: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, default=_default, indent=2) + "\n")
    sys.stdout.flush()


def flush_collected(last: Any = None) -> None:
    """End a `+` chain's --json output: its results (and `last`, a failure's document) as one JSON list."""
    docs, options.collected = options.collected, None
    if docs is not None:
        write_json([*docs, *([last] if last is not None else [])])


def status(message: str) -> None:
    """One progress/status line for humans (suppressed in --json mode)."""
    if not options.json:
        err.print(message)


@contextlib.contextmanager
def on_interrupt(note: Callable[[], str]) -> Iterator[None]:
    """Ctrl-C within the block becomes `pytool.errors.Interrupted(note())`: one line saying what was interrupted
    and what state that left (the board's files, its flash), which the CLI prints with exit code 130."""
    from pytool.errors import Interrupted

    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(note()) from None
