"""`pytool devices`: attached serial ports, the board family they imply and the reset strategy."""

from __future__ import annotations

import typer

from pytool import ports
from pytool.console import emit, out


def devices(
    all_ports: bool = typer.Option(False, "--all", "-a", help="Also list serial ports of unknown USB bridges."),
) -> None:
    """List serial ports with their VID:PID, board family and the reset strategy pytool will use."""
    found = ports.list_devices(include_unknown=all_ports)

    def human() -> None:
        if not found:
            out.print("No boards found. Plug one in (see README: permissions), or start one: pytool sim start")
            return
        from rich.table import Table  # not at the top: start-up

        table = Table("port", "usb id", "family", "reset", "note", box=None)
        for d in found:
            table.add_row(d.port, d.usb_id, d.family, d.reset, d.note)
        out.print(table)

    emit([d.to_json() for d in found], human)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Boards")(devices)
