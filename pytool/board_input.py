"""What a board says is untrusted input: any firmware or boot.py can make `os.listdir`, `os.stat` or a file read
say anything. Names and sizes from a board are checked here before they touch the host."""

from __future__ import annotations

from pathlib import Path

from pytool.errors import PytoolError

MAX_NAME = 255  # bytes of one path component (LittleFS and FAT allow at most this)
MAX_DEPTH = 32  # folders below the one asked for


def _refuse(entry: str, top: Path, why: str) -> PytoolError:
    return PytoolError(
        f"the board listed {entry!r}, which {why}; nothing was written to {top}",
        "the board's firmware or boot.py reports impossible file names: check it with `pytool ls -r` or a safe boot",
    )


def local_path(top: Path, board_dir: str, entry: str) -> Path:
    """The host path under `top` for the board file `entry` listed below `board_dir`, or PytoolError when the name
    would leave `top` (`..`, absolute parts, separators, NUL, over-long or too deep)."""
    prefix = board_dir.rstrip("/") + "/"
    if not entry.startswith(prefix):
        raise _refuse(entry, top, f"is not inside {board_dir}")
    parts = entry[len(prefix) :].split("/")
    if len(parts) > MAX_DEPTH:
        raise _refuse(entry, top, f"is more than {MAX_DEPTH} folders deep")
    for part in parts:
        if part in ("", ".", ".."):
            raise _refuse(entry, top, "leads out of the folder")
        if "\\" in part or "\x00" in part or ":" in part:
            raise _refuse(entry, top, "holds a character no board file name has")
        if len(part.encode()) > MAX_NAME:
            raise _refuse(entry, top, f"has a name longer than {MAX_NAME} bytes")
    dest = top.joinpath(*parts)
    if not dest.resolve().is_relative_to(top.resolve()):
        raise _refuse(entry, top, "leads out of the folder through a link")
    return dest
