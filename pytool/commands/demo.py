"""`pytool demo`: a simulated LoPy4 flashed, the GATT server example deployed and tested over the air."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import typer

from pytool.console import emit, options


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """The demo's steps (pytool processes) print for people: with --json they go to stderr, stdout stays JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def demo() -> None:
    """Build firmware, start a simulated LoPy4, flash it, deploy examples/gatt_server and run its tests."""
    from pytool.demo import main

    with _stdout_to_stderr() if options.json else contextlib.nullcontext():
        code = main()
    if options.json:
        emit({"ok": code == 0, "exit_code": code})
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Simulator")(demo)
