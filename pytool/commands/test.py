"""`pytool deploy` and `pytool test` (issue #9)."""

from __future__ import annotations

import typer

from pytool.errors import NotYetAvailable


def deploy(directory: str = typer.Argument(None)) -> None:
    """Flash if needed, check, sync, reset and wait until the board advertises."""
    raise NotYetAvailable("pytool deploy", 9)


def test(directory: str = typer.Argument(None)) -> None:
    """Deploy and run the project's over-the-air tests (tests/hil) against the board."""
    raise NotYetAvailable("pytool test", 9)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Project")(deploy)
    app.command(rich_help_panel="Project")(test)
