"""`pytool sim ...`: simulated boards (issues #3, #4, #5, #11)."""

from __future__ import annotations

import typer

from pytool.commands import sim_fs
from pytool.console import emit, out
from pytool.errors import NotYetAvailable
from pytool.sim import registry

sim_app = typer.Typer(help="Simulated boards: ROM bootloader, MicroPython, Bluetooth.", no_args_is_help=True)


@sim_app.command()
def start() -> None:
    """Start a simulated board."""
    raise NotYetAvailable("pytool sim start", 3)


@sim_app.command("list")
def list_() -> None:
    """List running simulated boards."""
    records = registry.running()
    emit(
        [r.to_json() for r in records],
        lambda: out.print("\n".join(f"{r.name}  {r.board}  {r.pty}" for r in records) or "No simulators running."),
    )


sim_fs.register(sim_app)


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim", rich_help_panel="Simulator")
