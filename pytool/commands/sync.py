"""`pytool sync`, `pytool check`, `pytool init` (issue #8)."""

from __future__ import annotations

import typer

from pytool.errors import NotYetAvailable


def sync(directory: str = typer.Argument(None, help="Project folder (default: current folder).")) -> None:
    """Put the project and device_lib/ on the board's /flash: only what changed, verified."""
    raise NotYetAvailable("pytool sync", 8)


def check(directory: str = typer.Argument(None)) -> None:
    """Compile-check the project for the board's MicroPython version and flag Pycom API misuse."""
    raise NotYetAvailable("pytool check", 8)


def init() -> None:
    """Write a pytool.toml for the project in the current folder."""
    raise NotYetAvailable("pytool init", 8)


def register(app: typer.Typer) -> None:
    for command in (sync, check, init):
        app.command(rich_help_panel="Project")(command)
