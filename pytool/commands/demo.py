"""`pytool demo`: a simulated LoPy4 flashed, the GATT server example deployed and tested over the air."""

from __future__ import annotations

import typer


def demo() -> None:
    """Build firmware, start a simulated LoPy4, flash it, deploy examples/gatt_server and run its tests."""
    from pytool.demo import main

    code = main()
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Simulator")(demo)
