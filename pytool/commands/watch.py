"""`pytool watch [DIR]`: Pymakr 2's development mode (pytool/watch.py): every save is checked, uploaded (only what
changed) and run, with the board's output streamed in between."""

from __future__ import annotations

import json
import queue
import sys
import threading
from pathlib import Path

import typer

from pytool.commands.common import target
from pytool.console import err, escape, options


def line(**fields: str) -> None:
    """One JSON line on stdout (`pytool --json watch`)."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def watch(
    ctx: typer.Context,
    directory: str = typer.Argument(None, help="Project folder (default: current folder)."),
    restart: str = typer.Option(
        None, "--restart", help="After an upload: main (run main.py again), soft or hard reset (watch_restart)."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Replace another project on the board (removes the files pytool put there for it)."
    ),
) -> int:
    """Upload and run the project on every save, streaming the board's output (Ctrl-C stops watching).

    With --json: one JSON object per line, {"event": "status", "message": ...} or {"event": "output", "text": ...}."""
    from pytool import config
    from pytool import watch as watching
    from pytool.errors import UsageError

    cfg = config.load(Path(directory) if directory else None)
    mode = restart or cfg.watch_restart
    if mode not in watching.RESTART_CHOICES:
        raise UsageError(f"--restart {mode} is not a restart mode", f"use one of {', '.join(watching.RESTART_CHOICES)}")

    def say(message: str) -> None:
        if options.json:  # one JSON object per line: {"event": "status"|"output", ...}
            line(event="status", message=message)
        else:
            err.print(f"[cyan]watch:[/] {escape(message)}", soft_wrap=True)

    def write(data: bytes) -> None:
        if options.json:
            line(event="output", text=data.decode("utf-8", "replace"))
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()

    watcher = watching.Watcher(cfg, lambda: target(ctx, cfg), mode, say, write, replace)
    batches: queue.Queue = queue.Queue()
    stop = threading.Event()
    thread = watching.watch_changes(cfg.sync_root, batches, stop)
    try:
        watcher.run(batches, stop)
    except KeyboardInterrupt:
        say("stopped watching; the board keeps running its program")
        return 0
    finally:
        stop.set()
        watcher.close()
        thread.join(timeout=2)
    return 0


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Project")(watch)
