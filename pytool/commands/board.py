"""Board commands over the raw REPL: ls, cat, get, put, rm, mkdir, df, run, exec, repl, reset, info (issue #8)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pytool.commands.common import board_session, target
from pytool.console import emit, err, escape, options, out, status
from pytool.errors import PytoolError, UsageError

if TYPE_CHECKING:
    from pytool.ports import Target


def _board(ctx: typer.Context):
    """A session on the target board (--port > PYTOOL_PORT > pytool.toml here > the single attached board)."""
    return board_session(ctx)


def _size(n: int) -> str:
    return "<dir>" if n < 0 else str(n)


def ls(
    ctx: typer.Context,
    path: str = typer.Argument("", help="Board folder (default: /flash on Pycom, / on MicroPython)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="List subfolders too."),
) -> None:
    """List files on the board."""
    with _board(ctx) as board:
        entries = board.listdir(path, recursive)
    emit(
        [{"path": p, "size": s, "dir": s < 0} for p, s in entries],
        lambda: [out.print(f"{_size(s):>8}  {escape(p)}{'/' if s < 0 else ''}") for p, s in entries],
    )


def cat(ctx: typer.Context, path: str = typer.Argument(..., help="Board file.")) -> None:
    """Print a file from the board."""
    with _board(ctx) as board:
        data = board.read_file(path)
    if options.json:
        emit({"path": path, "size": len(data), "text": data.decode("utf-8", "replace")})
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def get(
    ctx: typer.Context,
    remote: str = typer.Argument(..., help="Board file or folder."),
    local: Path = typer.Argument(Path("."), help="Local file or folder (default: current folder)."),
) -> None:
    """Download files from the board (folders recursively)."""
    from pytool.board_ops import Spec, total_bytes
    from pytool.commands.progress import transfer_bar
    from pytool.transfer import get as download

    with _board(ctx) as board, transfer_bar(f"get {remote}", lambda: total_bytes(board, [Spec(":" + remote)])) as bar:
        written = download(board, remote, local, bar)
    emit({"ok": True, "files": [str(p) for p in written]}, lambda: status(f"{len(written)} file(s) written"))


def put(
    ctx: typer.Context,
    local: Path = typer.Argument(..., help="Local file or folder."),
    remote: str = typer.Argument(None, help="Board path (default: same name under /flash or /)."),
) -> None:
    """Upload files to the board (folders recursively), each verified by hash before it replaces the old one."""
    from pytool.board_ops import Spec, total_bytes
    from pytool.commands.progress import transfer_bar
    from pytool.transfer import put as upload

    with _board(ctx) as board, transfer_bar(f"put {local.name}", lambda: total_bytes(board, [Spec(str(local))])) as bar:
        result = upload(board, local, remote, bar)
        tx = board.stats.tx
    emit(
        {"ok": True, "uploaded": result.uploaded, "bytes": result.payload_bytes, "wire_tx": tx},
        lambda: status(f"{len(result.uploaded)} file(s) uploaded ({result.payload_bytes} bytes, {tx} on the wire)"),
    )


def rm(
    ctx: typer.Context,
    path: str = typer.Argument(..., help="Board file or folder."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Remove a folder and its contents."),
) -> None:
    """Remove files on the board."""
    with _board(ctx) as board:
        board.remove(path, recursive)
        full = board.path(path)
    emit({"ok": True, "removed": full}, lambda: status(f"removed {full}"))


def mkdir(ctx: typer.Context, path: str = typer.Argument(..., help="Board folder (parents are created too).")) -> None:
    """Create a folder on the board."""
    with _board(ctx) as board:
        board.mkdir(path)
        full = board.path(path)
    emit({"ok": True, "created": full}, lambda: status(f"created {full}"))


def df(ctx: typer.Context) -> None:
    """Show /flash usage."""
    with _board(ctx) as board:
        total, free = board.df()
        root = board.capabilities().root or "/"
    used = total - free
    emit(
        {"path": root, "total": total, "used": used, "free": free},
        lambda: out.print(f"{root}: {total} bytes, {used} used, {free} free ({100 * used // max(total, 1)}%)"),
    )


def run(ctx: typer.Context, file: Path = typer.Argument(..., help="Local .py file to run on the board.")) -> int:
    """Run a local script on the board and stream its output (Ctrl-C stops it on the board)."""
    if not file.is_file():
        raise UsageError(f"{file} does not exist")
    code = file.read_text()
    printed = bytearray()  # with --json the output is collected into the result instead of streamed

    def write(data: bytes) -> None:
        if options.json:
            printed.extend(data)
            return
        sys.stdout.buffer.write(data)
        sys.stdout.flush()

    with _board(ctx) as board:
        try:
            error = board.run(code, write)
        except KeyboardInterrupt:
            err.print("[yellow]Interrupted: the program was stopped on the board.[/]")
            return 130
    text = error.decode("utf-8", "replace") if error else ""
    if options.json:
        output = printed.decode("utf-8", "replace").replace("\r\n", "\n")
        emit({"ok": not error, "file": str(file), "output": output, "error": text or None})
    elif error:
        sys.stderr.write(text)
    return 1 if error else 0


def exec_cmd(ctx: typer.Context, code: str = typer.Argument(..., help="Python code to execute on the board.")) -> int:
    """Execute Python code on the board."""
    from pytool.board import BoardCodeError

    with _board(ctx) as board:
        board.capabilities()  # the session's helpers go first, so a traceback shows only the user's code
        try:
            output = board.exec(code + "\n", timeout=30)
        except BoardCodeError as exc:
            if options.json:
                emit({"ok": False, "output": "", "error": exc.traceback})
            else:
                sys.stderr.write(exc.traceback + "\n")
            return 1
    if options.json:
        emit({"ok": True, "output": output.decode("utf-8", "replace")})
    else:
        sys.stdout.buffer.write(output)
        sys.stdout.flush()
    return 0


def repl(ctx: typer.Context) -> None:
    """Open an interactive REPL (Ctrl-] to leave)."""
    if options.json:
        raise UsageError("`pytool repl` is interactive: it has no --json output", "use `pytool --json exec CODE`")
    if not sys.stdin.isatty():
        raise UsageError("`pytool repl` needs an interactive terminal", "use `pytool exec CODE` in scripts")
    with _board(ctx) as board:
        err.print(f"Connected to {board.target.spec}. Ctrl-] leaves, Ctrl-C stops a program, Ctrl-D soft-resets.")
        board.repl()
    err.print("")


def reset(
    ctx: typer.Context,
    soft: bool = typer.Option(False, "--soft", help="Soft reset (Ctrl-D): boot.py and main.py run again."),
    hard: bool = typer.Option(
        False,
        "--hard",
        help="Hard reset (machine.reset(); a labgrid place's reset output or power switch), the default.",
    ),
    safe: bool = typer.Option(False, "--safe", help="Pycom safe boot (Ctrl-F): skip boot.py and main.py once."),
) -> None:
    """Reset the board (--soft, --hard, --safe)."""
    if not soft and not safe and (means := _reset_through_place(ctx)):
        emit({"ok": True, "reset": "hard", "through": means}, lambda: status(f"hard reset done ({means})"))
        return
    if soft + hard + safe > 1:
        raise UsageError("choose one of --soft, --hard, --safe")
    mode = "soft" if soft else "safe" if safe else "hard"
    chained = getattr(ctx.find_root().obj, "sessions", None) is not None  # a `+` chain shares one open session
    if safe and not chained:  # without the raw REPL: it must work on a board whose main.py does not stop on Ctrl-C
        _safe_boot(target(ctx))
        emit({"ok": True, "reset": mode}, lambda: status("safe boot done: boot.py and main.py were skipped"))
        return
    with _board(ctx) as board:
        if mode == "soft":
            board.soft_reset()
        elif mode == "safe":
            board.safe_boot()
        else:
            board.hard_reset()
    emit({"ok": True, "reset": mode}, lambda: status(f"{mode} reset done"))


def _safe_boot(board: Target) -> None:
    """Pycom's safe boot (pytool.board_state.safe_boot); refused for a stock MicroPython board."""
    from pytool.board_state import safe_boot
    from pytool.boards import get_board

    refuse = PytoolError("safe boot is a Pycom firmware feature", "use `pytool reset --hard` on this board")
    if board.board and not get_board(board.board).is_pycom:
        raise refuse
    text = safe_boot(board)
    if b"Pycom MicroPython" not in text and b"MicroPython v" in text:
        raise refuse


def _reset_through_place(ctx: typer.Context) -> str | None:
    """A hard reset by the port's own wiring when it has one (a labgrid place's `reset` output or power switch,
    pytool/farm): it needs no answer from the firmware, so it also restarts a board that hangs. Returns how it
    reset (`power cycle of labgrid place NAME`), None when the port has no such wiring."""
    from pytool.commands.common import target

    board = target(ctx)
    if board.reset != "labgrid":
        return None
    from pytool.farm.labgrid import place_for, reset_board, reset_means

    pool = getattr(ctx.find_root().obj, "sessions", None)
    if pool is not None:
        pool.release()  # a `+` chain's session: the next command opens a new one on the rebooted board
    reset_board(board.spec)
    return f"{reset_means(board.spec)} of labgrid place {place_for(board.spec).name}"


def info(ctx: typer.Context) -> None:
    """Firmware, uname, free heap and /flash usage."""
    with _board(ctx) as board:
        caps = board.capabilities()
        total, free = board.df()
        heap = board.eval("(gc.collect(), gc.mem_free())[1]")
        port = board.target.spec
    data = caps.to_json() | {"port": port, "mem_free": heap, "fs_total": total, "fs_free": free}

    def human() -> None:
        from rich.table import Table  # not at the top: start-up

        table = Table(show_header=False, box=None)
        rows = [
            ("port", port),
            ("firmware", caps.label),
            ("uname", f"{caps.sysname} {caps.release} {caps.version} {caps.machine}".strip()),
            ("micropython", ".".join(map(str, caps.micropython))),
            ("free heap", f"{heap} bytes"),
            (caps.root or "/", f"{total} bytes, {total - free} used, {free} free"),
            ("raw paste", "yes" if caps.raw_paste else "no"),
            ("inflate", caps.inflate or "no"),
            ("hashlib", f"{caps.hash_module} (concurrent hashes: {'yes' if caps.hash_concurrent else 'no'})"),
        ]
        for key, value in rows:
            table.add_row(key, escape(str(value)))
        out.print(table)

    emit(data, human)


_COMMANDS = {
    "ls": ls,
    "cat": cat,
    "get": get,
    "put": put,
    "rm": rm,
    "mkdir": mkdir,
    "df": df,
    "run": run,
    "exec": exec_cmd,
    "repl": repl,
    "reset": reset,
    "info": info,
}


def register(app: typer.Typer) -> None:
    for name, command in _COMMANDS.items():
        app.command(name=name, rich_help_panel="Board")(command)
