"""`pytool sim fs ...`: read a simulated board's /flash from its flash image on the host (issue #4)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pytool.console import emit, out
from pytool.errors import UsageError
from pytool.sim import registry

if TYPE_CHECKING:
    from pytool.sim import FlashFS

fs_app = typer.Typer(
    help="Read a simulated board's /flash image from the host (read-only; safe while it runs).", no_args_is_help=True
)

_IMAGE = typer.Option(None, "--image", help="Read this flash image instead of a running simulator's.")
_BOARD = typer.Option(None, "--board", help="Board of --image (catalogue key, e.g. lopy4).")


def _open(name: str | None, path: str | None, image: Path | None, board: str | None) -> tuple[FlashFS, str | None]:
    """The filesystem and the path on it (with --image the only positional argument is the path)."""
    from pytool.boards import get_board  # not at the top: the board tables and tomllib cost every command's start-up
    from pytool.sim import FlashFS  # (littlefs: loaded only when an image is read)

    if image is not None:
        if board is None:
            raise UsageError("--image needs --board", "e.g. --board lopy4 (see `pytool devices` for keys)")
        if name is not None and path is not None:
            raise UsageError("give either a simulator NAME or --image, not both", "drop one of them")
        return FlashFS(image, get_board(board)), path or name
    if not name:
        raise UsageError("which simulator?", "give its NAME (see `pytool sim list`) or --image FILE --board KEY")
    record = registry.find(name)
    return FlashFS(Path(record.flash or ""), get_board(board or record.board)), path


@fs_app.command("ls")
def ls(
    name: str = typer.Argument(None, help="Simulator name (see `pytool sim list`)."),
    path: str = typer.Argument(None, help="Folder on the board (default /flash)."),
    image: Path = _IMAGE,
    board: str = _BOARD,
) -> None:
    """List a folder of a simulator's /flash."""
    fs, path = _open(name, path, image, board)
    entries = fs.ls(path or "/flash")
    emit(
        [{"name": e.name, "dir": e.is_dir, "size": e.size} for e in entries],
        lambda: out.print(
            "\n".join(f"{'' if e.is_dir else e.size:>10}  {e.name}{'/' if e.is_dir else ''}" for e in entries)
            or "(empty)"
        ),
    )


@fs_app.command("cat")
def cat(
    name: str = typer.Argument(None, help="Simulator name (see `pytool sim list`)."),
    path: str = typer.Argument(None, help="File on the board, e.g. /flash/main.py."),
    image: Path = _IMAGE,
    board: str = _BOARD,
) -> None:
    """Print a file of a simulator's /flash (raw bytes on stdout)."""
    fs, path = _open(name, path, image, board)
    if not path:
        raise UsageError("which file?", "give its path on the board, e.g. /flash/main.py")
    data = fs.cat(path)
    emit({"path": path, "hex": data.hex()}, lambda: (sys.stdout.buffer.write(data), sys.stdout.flush()))


def register(sim_app: typer.Typer) -> None:
    sim_app.add_typer(fs_app, name="fs")
