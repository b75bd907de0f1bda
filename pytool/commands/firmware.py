"""`pytool firmware info|build` (issues #7 and #3)."""

from __future__ import annotations

import typer

from pytool.errors import NotYetAvailable

firmware_app = typer.Typer(help="Inspect firmware archives and build simulator firmware.", no_args_is_help=True)


@firmware_app.command()
def info(file: str) -> None:
    """Board, version, files, offsets, sizes and hashes of a firmware archive or image."""
    raise NotYetAvailable("pytool firmware info", 7)


@firmware_app.command()
def build() -> None:
    """Build simulator firmware as a real Pycom archive."""
    raise NotYetAvailable("pytool firmware build", 3)


def register(app: typer.Typer) -> None:
    app.add_typer(firmware_app, name="firmware", rich_help_panel="Firmware")
