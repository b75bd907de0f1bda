"""`pytool sim fs NAME ...`: read a simulator's /flash image on the host (issue #4)."""

from __future__ import annotations

import typer

from pytool.errors import NotYetAvailable

fs_app = typer.Typer(help="Inspect a simulated board's /flash image from the host.", no_args_is_help=True)


@fs_app.command("ls")
def ls(name: str) -> None:
    """List the files in a simulator's /flash."""
    raise NotYetAvailable("pytool sim fs", 4)


def register(sim_app: typer.Typer) -> None:
    sim_app.add_typer(fs_app, name="fs")
