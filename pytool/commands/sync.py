"""`pytool sync`, `pytool check`, `pytool init` (issue #8)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from pytool.commands.common import board_session, port_option, target
from pytool.console import emit, err, escape, on_interrupt, options, out, status


def _config(directory: str | None):
    from pytool import config

    cfg = config.load(Path(directory) if directory else None)
    if cfg.source == config.PYMAKR_NAME:
        status(f"Using Pymakr settings from {cfg.root / config.PYMAKR_NAME} (write a pytool.toml: `pytool init`)")
        for note in cfg.notes:
            status(escape(f"pymakr.conf {note}"))
    return cfg


def _print_findings(report) -> None:
    for finding in report.findings:
        colour = "red" if finding.severity == "error" else "yellow"
        err.print(f"[{colour}]{escape(str(finding))}[/]", soft_wrap=True)


class _SyncBar:
    """The upload's progress bar, made when the first bytes go (rich.progress is not even imported for a sync
    that has nothing to upload: a no-change sync's start-up is most of its time) and never with --json."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._bar = None
        self._task = None

    def update(self, done: int, total: int) -> None:
        if options.json:
            return
        if self._bar is None:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = self._stack.enter_context(
                Progress(
                    TextColumn("sync"),
                    BarColumn(),
                    DownloadColumn(),
                    TimeElapsedColumn(),
                    console=err.console,
                    transient=True,
                )
            )
            self._task = self._bar.add_task("sync", total=total)
        self._bar.update(self._task, completed=done, total=total)

    def __enter__(self) -> _SyncBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def sync(
    ctx: typer.Context,
    directory: str = typer.Argument(None, help="Project folder (default: current folder)."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Print the plan; change nothing on the board."),
    mirror: bool = typer.Option(False, "--mirror", help="Also delete board files that are not in the project."),
    no_check: bool = typer.Option(False, "--no-check", help="Sync even if `pytool check` finds errors."),
    mpy: bool = typer.Option(False, "--mpy", help="Upload .py files precompiled to .mpy (not boot.py/main.py)."),
    no_reset: bool = typer.Option(False, "--no-reset", help="Do not reset afterwards (reset_after_sync)."),
    follow_links: bool = typer.Option(
        False, "--follow-links", help="Upload what links leading out of the project point to (default: refuse)."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Replace another project on the board (removes the files pytool put there for it)."
    ),
) -> None:
    """Put the project and device_lib/ on the board's /flash: only what changed, verified."""
    from pytool.sync import sync_project

    cfg = _config(directory)
    if cfg.safe_boot_before_sync and not dry_run:  # pymakr.conf safe_boot_on_upload: main.py cannot interfere
        from pytool.board_state import safe_boot

        safe_boot(target(ctx, cfg))
    where: list[str] = []  # the board's port, once connected

    def stopped() -> str:
        to = f" to {where[0]}" if where else ""
        return (
            f"sync of {cfg.root}{to} stopped: every file on the board is old or new (an upload replaces a file "
            "only once it is verified); run `pytool sync` again to finish"
        )

    with (
        on_interrupt(stopped),
        board_session(ctx, cfg) as board,
        _SyncBar() as bar,
    ):
        where.append(board.target.spec)
        outcome = sync_project(
            board,
            cfg,
            mirror=mirror,
            dry_run=dry_run,
            run_check=not no_check,
            mpy=mpy,
            reset=not no_reset,
            follow_links=follow_links,
            replace=replace,
            progress=bar.update,
        )
        summary = outcome.to_json(board) | {"config": cfg.source}
    plan, result, stats = outcome.plan, outcome.result, board.stats

    def human() -> None:
        if outcome.report:
            _print_findings(outcome.report)
        if dry_run:
            for f in plan.upload:
                out.print(f"upload  {f.rel}  ({f.size} bytes)")
            for rel in plan.delete:
                out.print(f"delete  {rel}")
            status(
                f"{len(plan.upload)} to upload, {len(plan.delete)} to delete, {len(plan.unchanged)} unchanged "
                f"on {outcome.caps.label} (dry run: nothing changed)"
            )
            return
        for rel in result.uploaded:
            status(f"[green]+[/] {escape(rel)}")
        for rel in result.deleted:
            status(f"[red]-[/] {escape(rel)}")
        status(
            f"{len(result.uploaded)} uploaded ({result.payload_bytes} bytes, {stats.tx} on the wire), "
            f"{len(result.deleted)} deleted, {result.unchanged} unchanged on {outcome.caps.label} "
            f"in {stats.round_trips} round trip(s), {outcome.seconds:.1f} s"
            + (f"; {outcome.reset} reset" if outcome.reset else "")
        )

    emit(summary, human)


def check_cmd(
    directory: str = typer.Argument(None, help="Project folder (default: current folder)."),
    firmware: str = typer.Option(
        None,
        "--firmware",
        help="Target firmware: a Pycom version (1.20.2.r4) or micropython-1.24.1. "
        "Default: pytool.toml's `firmware`, else Pycom 1.20.2.r4.",
    ),
    mpy: Path = typer.Option(None, "--mpy", help="Also write the compiled .mpy files into this folder."),
) -> int:
    """Compile-check the project for the board's MicroPython version and flag Pycom API misuse."""
    from pytool import check
    from pytool import sync as syncmod

    cfg = _config(directory)
    files = syncmod.collect(cfg, include_device_lib=False)
    target = check.target_from(None, firmware or cfg.firmware)
    report = check.check_files(((f.source, f.rel) for f in files), target)
    written = report.write_mpy(mpy) if mpy is not None else []

    def human() -> None:
        _print_findings(report)
        errors = len(report.errors)
        colour = "red" if errors else "green"
        status(
            f"[{colour}]{report.files} file(s) checked for {target.label}: {errors} error(s), "
            f"{len(report.findings) - errors} warning(s)[/]"
            + (f"; {len(written)} .mpy written to {mpy}" if mpy else "")
        )

    emit(report.to_json() | {"mpy": [str(p) for p in written]}, human)
    return 1 if report.errors else 0


def init(
    ctx: typer.Context,
    directory: str = typer.Argument(None, help="Project folder (default: current folder)."),
    port: str = typer.Option(None, "--port-default", help="Port to store as the project's default."),
    board: str = typer.Option(None, "--board", help="Board (catalogue key, e.g. lopy4)."),
    firmware: str = typer.Option(None, "--firmware", help="Firmware the project targets, e.g. 1.20.2.r4."),
    sync_folder: str = typer.Option(None, "--sync-folder", help="Subfolder that goes to /flash."),
    reset_after_sync: str = typer.Option(None, "--reset-after-sync", help="soft or hard."),
    ble_name: str = typer.Option(None, "--ble-name", help="The name the board advertises."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing pytool.toml."),
) -> None:
    """Write a pytool.toml for the project (imports pymakr.conf when there is one)."""
    from pytool import config
    from pytool.boards import get_board
    from pytool.ports import choose_port

    root = Path(directory) if directory else Path.cwd()
    if board:
        get_board(board)
    imported = (root / config.PYMAKR_NAME).is_file()
    path, cfg = config.init(
        root,
        force=force,
        port=port or choose_port(port_option(ctx))[0],
        board=board,
        firmware=firmware,
        sync_folder=sync_folder,
        reset_after_sync=reset_after_sync,
        ble_name=ble_name,
    )

    def human() -> None:
        status(f"Wrote {path}" + (f" (imported {config.PYMAKR_NAME})" if imported else ""))

    emit({"ok": True, "path": str(path), "imported_pymakr": imported, "config": cfg.to_json()}, human)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Project")(sync)
    app.command("check", rich_help_panel="Project")(check_cmd)
    app.command(rich_help_panel="Project")(init)
