"""Board commands over the raw REPL: ls, cat, get, put, rm, mkdir, df, run, exec, repl, reset, info (issue #8)."""

from __future__ import annotations

import typer

from pytool.errors import NotYetAvailable

_PLANNED = {
    "ls": "List files on the board.",
    "cat": "Print a file from the board.",
    "get": "Download files from the board.",
    "put": "Upload files to the board.",
    "rm": "Remove files on the board.",
    "mkdir": "Create a folder on the board.",
    "df": "Show /flash usage.",
    "run": "Run a local script on the board and stream its output.",
    "exec": "Execute Python code on the board.",
    "repl": "Open an interactive REPL (Ctrl-] to leave).",
    "reset": "Reset the board (--soft, --hard, --safe).",
    "info": "Firmware, uname, free heap and /flash usage.",
}


def _placeholder(name: str, doc: str):
    def command() -> None:
        raise NotYetAvailable(f"pytool {name}", 8)

    command.__doc__ = doc
    command.__name__ = name
    return command


def register(app: typer.Typer) -> None:
    for name, doc in _PLANNED.items():
        app.command(name=name, rich_help_panel="Board")(_placeholder(name, doc))
