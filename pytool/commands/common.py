"""What every command that talks to a board shares: the one target resolution, fed from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pytool.board import BoardSession
    from pytool.config import ProjectConfig
    from pytool.ports import Target


def port_option(ctx: typer.Context) -> str | None:
    """The `--port` given on the command line (pytool.cli puts the global options in the root context's obj)."""
    obj = ctx.find_root().obj
    return getattr(obj, "port", None)


def port_options(ctx: typer.Context) -> tuple[str, ...]:
    """Every `--port` given, in order, each once (several are for `deploy --all` / `test --all`)."""
    return tuple(getattr(ctx.find_root().obj, "ports", ()) or ())


def here() -> ProjectConfig | None:
    """The settings of the project in the current folder (pytool.toml or pymakr.conf), None when there are none."""
    from pytool import config

    cwd = Path.cwd()
    if (cwd / config.CONFIG_NAME).is_file() or (cwd / config.PYMAKR_NAME).is_file():
        return config.load(cwd)
    return None


def target(ctx: typer.Context, project: ProjectConfig | None = None) -> Target:
    """The board this command works on: `pytool.ports.resolve_target` with --port, the environment and `project`
    (default: the project in the current folder)."""
    from pytool.errors import UsageError
    from pytool.ports import resolve_target

    ports = port_options(ctx)
    if len(ports) > 1:
        raise UsageError(
            f"--port was given {len(ports)} times ({', '.join(ports)}) for one board",
            "give one --port, or run `pytool deploy --all` / `pytool test --all` on all of them",
        )
    return resolve_target(port_option(ctx), project if project is not None else here())


def board_session(ctx: typer.Context, project: ProjectConfig | None = None) -> AbstractContextManager[BoardSession]:
    """A raw-REPL session with the board of `target(ctx, project)`: in a `+` chain the chain's shared session
    (pytool/chain.py), else a new one closed at the end of the `with`."""
    from pytool.chain import session

    return session(getattr(ctx.find_root().obj, "sessions", None), target(ctx, project))
