"""`pytool put` / `pytool get`: files and folders between the host and the board, outside the project's manifest.

Uploads go through sync's staged, verified writes (every file old or new); downloads check every name the board
lists before the first byte is written (pytool/board_input.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytool import baud
from pytool.board import BoardSession
from pytool.board_input import local_path
from pytool.errors import UsageError
from pytool.sync import LocalFile, Plan, SyncResult, apply, sha256_hex, walk_files


def board_rel(board: BoardSession, remote: str) -> str:
    """A board path as the sync helpers take it: relative to the board's root (/flash on Pycom)."""
    path = board.path(remote)
    root = board.capabilities().root
    if root and not path.startswith(root + "/"):
        raise UsageError(f"{path} is outside {root}", f"files on this board live under {root}/")
    return path[len(root) + 1 :]


def put(
    board: BoardSession, local: Path, remote: str | None, progress: Callable[[int], None] | None = None
) -> SyncResult:
    """Upload a file or folder (recursively), each file via temp name + on-board hash check + rename.

    The files are not recorded in the manifest: a later `sync` never deletes what `put` placed."""
    if not local.exists():
        raise UsageError(f"{local} does not exist")
    target = remote or local.resolve().name
    st = board.stat(target)
    if (st and st[0]) or target.endswith("/"):
        target = target.rstrip("/") + "/" + local.resolve().name
    base = board_rel(board, target)
    if local.is_dir():
        pairs = [
            (f"{base}/{rel}" if base else rel, path)
            for rel, path in walk_files(local, lambda r, d: True, follow_links=True)
        ]
    else:
        pairs = [(base, local)]
    files = []
    for rel, path in pairs:
        data = path.read_bytes()
        files.append(LocalFile(rel, path, sha256_hex(data), len(data)))
    return apply(board, Plan(files, [], [], False), files, progress, record=False)


def get(board: BoardSession, remote: str, local: Path, progress: Callable[[int], None] | None = None) -> list[Path]:
    """Download a file or (recursively) a folder; returns the local files written."""
    path = board.path(remote)
    st = board.stat(path)
    if st is None:
        raise UsageError(f"{path}: no such file or folder on the board", "list the files with `pytool ls -r`")
    name = path.rstrip("/").rsplit("/", 1)[-1] or "root"
    if not st[0]:
        dest = local / name if local.is_dir() else local
        with baud.fast_link(board, st[1] * 4 // 3):  # a big download runs at the bridge's top rate
            dest.write_bytes(board.read_file(path, progress))
        return [dest]
    top = local / name if local.is_dir() else local
    # every name the board gives is checked before the first byte is written
    entries = [(entry, size, local_path(top, path, entry)) for entry, size in board.listdir(path, recursive=True)]
    written = []
    with baud.fast_link(board, sum(max(0, size) for _, size, _ in entries) * 4 // 3):
        for entry, size, dest in entries:
            if size < 0:
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(board.read_file(entry, progress))
            written.append(dest)
    top.mkdir(parents=True, exist_ok=True)
    return written
