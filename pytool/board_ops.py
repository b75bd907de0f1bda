"""Board file operations beyond `BoardSession`'s basics, for the commands mpremote users type: `touch`, `rmdir`,
`sha256sum`, `tree`, and `cp` (`:` marks the board side; host<->board goes through pytool/transfer.py, board->board
is copied on the board, through a temporary name, so the destination is always old or new).

The device side is pytool/board_code/file_ops.py; every answer from the board is checked before it is used."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytool import board_code
from pytool.board import BoardSession, literal
from pytool.errors import PytoolError, UsageError

FILE_OPS = board_code.load("file_ops.py")
_SHA256 = re.compile(r"[0-9a-f]{64}")
Progress = Callable[[int], None]


def _ops(board: BoardSession) -> str:
    return board.helpers("file_ops", FILE_OPS)


def _answer(board: BoardSession, call: str) -> str:
    value = board.query(_ops(board) + f"_pt_out({call})\n")
    if not isinstance(value, str):
        raise PytoolError("the board's answer makes no sense", "run again; if it persists, `pytool reset`")
    return value


def touch(board: BoardSession, remote: str) -> str:
    """Create an empty file unless it exists (MicroPython has no way to set a file's time); returns its path."""
    path = board.path(remote)
    answer = _answer(board, f"_pt_touch({literal(path)})")
    if answer == "dir":
        raise UsageError(f"{path} is a folder", "touch creates files; `pytool mkdir` creates folders")
    if answer == "noparent":
        parent = path.rsplit("/", 1)[0]
        raise UsageError(f"{parent}: no such folder on the board", f"create it first: `pytool mkdir {parent}`")
    return path


def rmdir(board: BoardSession, remote: str) -> str:
    """Remove an empty folder; returns its path."""
    path = board.path(remote)
    if path in ("/", board.capabilities().root or "/"):
        raise UsageError(f"refusing to remove the board's root {path}")
    answer = _answer(board, f"_pt_rmd({literal(path)})")
    if answer == "missing":
        raise UsageError(f"{path}: no such folder on the board", "list the files with `pytool ls -r`")
    if answer == "file":
        raise UsageError(f"{path} is a file, not a folder", "remove files with `pytool rm`")
    if answer == "notempty":
        raise UsageError(f"{path} is not empty", "remove it with its contents: `pytool rm -r`")
    return path


def sha256sums(board: BoardSession, remotes: list[str]) -> list[tuple[str, str]]:
    """(path, SHA-256 hex) of each board file; a folder stands for every file below it."""
    paths: list[str] = []
    for remote in remotes:
        path = board.path(remote)
        st = board.stat(path)
        if st is None:
            raise UsageError(f"{path}: no such file or folder on the board", "list the files with `pytool ls -r`")
        paths.extend([p for p, size in board.listdir(path, recursive=True) if size >= 0] if st[0] else [path])
    if not paths:
        return []
    answers = board.query_all(_ops(board) + f"_pt_sums([{','.join(literal(p) for p in paths)}])\n", timeout=120)
    sums = []
    for answer, path in zip(answers, paths, strict=False):
        if not (isinstance(answer, tuple) and len(answer) == 2 and answer[0] == path):
            raise PytoolError("the board's list of hashes makes no sense", "run again; if it persists, `pytool reset`")
        if not (isinstance(answer[1], str) and _SHA256.fullmatch(answer[1])):
            raise PytoolError(f"the board could not hash {path}", "check the file with `pytool ls`")
        sums.append((path, answer[1]))
    if len(sums) != len(paths):
        raise PytoolError("the board's list of hashes was cut", "run again; if it persists, `pytool reset`")
    return sums


@dataclass
class TreeNode:
    """A board folder or file, for `pytool tree`."""

    name: str
    size: int = -1  # -1: a folder
    children: dict[str, TreeNode] = field(default_factory=dict)

    def to_json(self) -> dict:
        if self.size >= 0:
            return {"name": self.name, "size": self.size}
        return {"name": self.name, "children": [c.to_json() for c in self.children.values()]}


def tree(board: BoardSession, remote: str) -> TreeNode:
    """The folder `remote` and everything below it, as a tree (names as the board listed them)."""
    path = board.path(remote)
    root = TreeNode(path)
    prefix = path.rstrip("/") + "/"
    for entry, size in board.listdir(path, recursive=True):
        if not entry.startswith(prefix):
            raise PytoolError(f"the board listed {entry!r} inside {path}", "check the board with a safe boot")
        node = root
        parts = entry[len(prefix) :].split("/")
        for part in parts[:-1]:
            node = node.children.setdefault(part, TreeNode(part))
        node.children.setdefault(parts[-1], TreeNode(parts[-1], size)).size = size
    return root


# --------------------------------------------------------------------------------------------- cp


@dataclass(frozen=True)
class Spec:
    """One `cp` argument: a board path (written with a leading ':') or a host path."""

    text: str

    @property
    def on_board(self) -> bool:
        return self.text.startswith(":")

    @property
    def path(self) -> str:
        return self.text[1:] if self.on_board else self.text


@dataclass
class CopyResult:
    """What one `cp` did: what was written (host paths, board paths; a folder copied on the board is one entry),
    the number of files and the payload bytes moved between host and board."""

    files: list[str] = field(default_factory=list)
    count: int = 0
    bytes: int = 0

    def to_json(self) -> dict:
        return {"ok": True, "files": self.files, "count": self.count, "bytes": self.bytes}


def check_cp(sources: list[str], dest: str, recursive: bool) -> tuple[list[Spec], Spec]:
    """The arguments of `cp`, checked before any board is opened (UsageError for what cannot work)."""
    specs, target = [Spec(s) for s in sources], Spec(dest)
    for spec in specs:
        if not spec.on_board and not target.on_board:
            raise UsageError(
                f"neither {spec.text} nor {dest} is on the board", "mark the board side with ':', e.g. `:main.py`"
            )
        if not spec.on_board:
            local = Path(spec.path)
            if not local.exists():
                raise UsageError(f"{local} does not exist")
            if local.is_dir() and not recursive:
                raise UsageError(f"{local} is a folder", "copy folders with `pytool cp -r`")
    if len(specs) > 1 and not target.on_board and not Path(target.path).is_dir():
        raise UsageError(f"copying {len(specs)} sources needs a folder as the destination, not {dest}")
    return specs, target


def total_bytes(board: BoardSession, specs: list[Spec]) -> int:
    """Payload bytes `cp` will move for `specs` (for the progress bar)."""
    total = 0
    for spec in specs:
        if spec.on_board:
            st = board.stat(spec.path)
            if st is not None:
                total += sum(max(s, 0) for _, s in board.listdir(spec.path, True)) if st[0] else st[1]
        else:
            local = Path(spec.path)
            total += sum(p.stat().st_size for p in local.rglob("*") if p.is_file()) if local.is_dir() else 0
            total += local.stat().st_size if local.is_file() else 0
    return total


def copy(
    board: BoardSession, specs: list[Spec], target: Spec, recursive: bool, progress: Progress | None = None
) -> CopyResult:
    """`pytool cp SOURCE... DEST` on an open session (arguments checked by `check_cp`)."""
    from pytool.transfer import get, put

    result = CopyResult()
    into_folder = len(specs) > 1
    for spec in specs:
        if spec.on_board:
            st = board.stat(spec.path)
            if st is None:
                raise UsageError(f"{board.path(spec.path)}: no such file or folder on the board")
            if st[0] and not recursive:
                raise UsageError(f"{board.path(spec.path)} is a folder", "copy folders with `pytool cp -r`")
        if not spec.on_board:  # host -> board: staged, verified uploads (every file old or new)
            remote = target.path + ("/" if into_folder and target.path and not target.path.endswith("/") else "")
            done = put(board, Path(spec.path), remote or None, progress)
            result.files += [board.path(rel) for rel in done.uploaded]
            result.count += len(done.uploaded)
            result.bytes += done.payload_bytes
        elif not target.on_board:  # board -> host: every name the board gives checked (pytool/board_input.py)
            written = get(board, spec.path, Path(target.path), progress)
            result.files += [str(p) for p in written]
            result.count += len(written)
            result.bytes += sum(p.stat().st_size for p in written)
        else:
            dst, count = _on_board(board, spec.path, target.path, into_folder)
            result.files.append(dst)
            result.count += count
    return result


def _on_board(board: BoardSession, source: str, dest: str, into_folder: bool) -> tuple[str, int]:
    """Copy a board file or folder to another place on the board; returns the destination and the files copied."""
    src = board.path(source)
    st = board.stat(dest) if dest not in ("", ".") else (True, 0)
    dst = board.path(dest)
    if into_folder or (st and st[0]) or dest.endswith("/") or dest in ("", "."):
        dst = dst.rstrip("/") + "/" + src.rsplit("/", 1)[-1]
    if dst == src or dst.startswith(src + "/"):
        raise UsageError(f"cannot copy {src} onto or into itself ({dst})")
    count = board.query(_ops(board) + f"_pt_out(_pt_cp({literal(src)}, {literal(dst)}))\n", timeout=120)
    return dst, count if isinstance(count, int) and count >= 0 else 0
