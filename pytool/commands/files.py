"""The board commands mpremote users type: cp, tree, sha256sum, eval, touch, rmdir (issue #19).

Board paths may start with ':' as in mpremote (`pytool touch :lib/x.py`); for `cp` the ':' is what marks the
board side."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pytool.commands.common import board_session
from pytool.console import emit, escape, options, out, status
from pytool.errors import UsageError

if TYPE_CHECKING:
    from rich.tree import Tree


def cp(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(..., help="SOURCE... DEST; board paths start with ':' (`:main.py`, `:`)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Copy folders and everything in them."),
) -> None:
    """Copy files between the host and the board, or on the board (`:` marks the board side)."""
    from pytool import board_ops
    from pytool.commands.progress import transfer_bar

    if len(paths) < 2:
        raise UsageError("cp needs a source and a destination", "e.g. `pytool cp main.py :` or `pytool cp :x.py .`")
    specs, dest = board_ops.check_cp(paths[:-1], paths[-1], recursive)
    with (
        board_session(ctx) as board,
        transfer_bar(f"cp {Path(paths[-2]).name}", lambda: board_ops.total_bytes(board, specs)) as bar,
    ):
        result = board_ops.copy(board, specs, dest, recursive, bar)
    emit(
        result.to_json(),
        lambda: status(f"{result.count} file(s) copied" + (f" ({result.bytes} bytes)" if result.bytes else "")),
    )


def tree(ctx: typer.Context, path: str = typer.Argument("", help="Board folder (default: the board's root).")) -> None:
    """Show the board's folders and files as a tree."""
    from pytool import board_ops

    with board_session(ctx) as board:
        root = board_ops.tree(board, path)

    def add(branch: Tree, node: board_ops.TreeNode) -> None:
        for child in sorted(node.children.values(), key=lambda c: (c.size >= 0, c.name)):
            if child.size < 0:
                add(branch.add(f"[bold]{escape(child.name)}/[/]"), child)
            else:
                branch.add(f"{escape(child.name)} [dim]({child.size})[/]")

    def human() -> None:
        from rich.tree import Tree  # not at the top: start-up

        top = Tree(escape(root.name))
        add(top, root)
        out.print(top)

    emit(root.to_json(), human)


def sha256sum(
    ctx: typer.Context, paths: list[str] = typer.Argument(..., help="Board files or folders (every file below).")
) -> None:
    """SHA-256 of board files, computed on the board (the output of `sha256sum`)."""
    from pytool import board_ops

    with board_session(ctx) as board:
        sums = board_ops.sha256sums(board, paths)
    emit(
        [{"path": p, "sha256": h} for p, h in sums],
        lambda: [out.print(f"{h}  {escape(p)}") for p, h in sums],
    )


def eval_cmd(ctx: typer.Context, expression: str = typer.Argument(..., help="A Python expression.")) -> int:
    """Evaluate a Python expression on the board and print its value."""
    from pytool.board import BoardCodeError

    try:
        compile(expression, "<eval>", "eval")
    except SyntaxError as exc:
        raise UsageError(
            f"{expression!r} is not a Python expression ({exc.msg})", "run statements with `pytool exec`"
        ) from None
    with board_session(ctx) as board:
        board.capabilities()  # the session's helpers go first, so a traceback shows only the expression
        try:
            if options.json:
                value = board.query(f"_pt_out(repr({expression}))\n", timeout=30)
            else:
                printed = board.exec(f"print({expression})\n", timeout=30)
        except BoardCodeError as exc:
            if options.json:
                emit({"ok": False, "error": exc.traceback})
            else:
                sys.stderr.write(exc.traceback + "\n")
            return 1
    if options.json:
        emit({"ok": True, "repr": value})
    else:
        sys.stdout.buffer.write(printed.replace(b"\r\n", b"\n"))
        sys.stdout.flush()
    return 0


def touch(ctx: typer.Context, paths: list[str] = typer.Argument(..., help="Board files.")) -> None:
    """Create empty board files (files that exist are left as they are)."""
    from pytool import board_ops

    with board_session(ctx) as board:
        done = [board_ops.touch(board, p) for p in paths]
    emit({"ok": True, "files": done}, lambda: status(f"touched {', '.join(escape(p) for p in done)}"))


def rmdir(ctx: typer.Context, paths: list[str] = typer.Argument(..., help="Empty board folders.")) -> None:
    """Remove empty folders on the board (`pytool rm -r` removes a folder with its contents)."""
    from pytool import board_ops

    with board_session(ctx) as board:
        done = [board_ops.rmdir(board, p) for p in paths]
    emit({"ok": True, "removed": done}, lambda: status(f"removed {', '.join(escape(p) for p in done)}"))


_COMMANDS = {"cp": cp, "tree": tree, "sha256sum": sha256sum, "eval": eval_cmd, "touch": touch, "rmdir": rmdir}


def register(app: typer.Typer) -> None:
    for name, command in _COMMANDS.items():
        app.command(name=name, rich_help_panel="Board")(command)
