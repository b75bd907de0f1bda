"""`pytool flash` and `pytool erase` (issue #7)."""

from __future__ import annotations

import typer

from pytool.errors import NotYetAvailable


def flash(
    firmware: str = typer.Argument(..., help="Pycom archive (.tar.gz), ESP32 image (.bin) or folder."),
) -> None:
    """Flash a Pycom firmware archive or an ESP32 image, keeping the config block."""
    raise NotYetAvailable("pytool flash", 7)


def erase() -> None:
    """Erase the firmware (and with --all the whole chip, after backing up the config block)."""
    raise NotYetAvailable("pytool erase", 7)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Firmware")(flash)
    app.command(rich_help_panel="Firmware")(erase)
