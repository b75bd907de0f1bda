"""`pytool flash` and `pytool erase` (issue #7)."""

from __future__ import annotations

import typer

from pytool import port_lock
from pytool.baud import FLASH_BAUD as DEFAULT_BAUD
from pytool.commands.common import here, port_option, target
from pytool.console import emit, err, escape, on_interrupt, options, out, status


class RichSink:
    """One rich progress bar per file written; skipped files get a line of their own (a `pytool.flash.ProgressSink`;
    rich's progress module and pytool.flash are imported when a command runs, not at the CLI's start)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=err.console,
            disable=options.json,
        )
        self.task = None
        self.current: str | None = None  # the region being checked or written
        self.finished: list[str] = []  # regions done (written, erased or unchanged)

    def __enter__(self) -> RichSink:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, label: str, total: int) -> None:
        self.task = self.progress.add_task(escape(label), total=total, note="")
        self.current = label  # what Ctrl-C would interrupt (see _flash_state)

    def update(self, done: int, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=done, total=total)

    def finish(self, label: str, note: str) -> None:
        if self.task is None:
            self.task = self.progress.add_task(escape(label), total=1, note="")
        total = self.progress.tasks[-1].total or 1
        self.progress.update(self.task, completed=total, note=note)
        self.task = None
        self.current = None
        self.finished.append(label)

    def message(self, text: str) -> None:
        self.progress.console.print(escape(text))


def _flash_state(spec: str, sink: RichSink) -> str:
    """What Ctrl-C during `pytool flash` left on the board, from how far the writing got."""
    again = "run the same `pytool flash` again (regions already written are skipped)"
    if sink.current is not None:
        return (
            f"flash to {spec} stopped while writing {sink.current} ({len(sink.finished)} region(s) done before it): "
            f"the firmware on the board is half-written and will not boot; {again}"
        )
    if not sink.finished:
        return f"flash to {spec} stopped before anything was written: the board's flash is as it was"
    return (
        f"flash to {spec} stopped after writing every region ({len(sink.finished)}): the firmware is complete, "
        "but its first boot was not checked (`pytool info` does)"
    )


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        from pytool.errors import UsageError

        raise UsageError(f"--offset {value} is not a number", "give it like 0x10000") from None


def flash(
    ctx: typer.Context,
    firmware: str = typer.Argument(..., help="Pycom archive (.tar.gz), ESP32 image (.bin) or folder."),
    baud: int = typer.Option(DEFAULT_BAUD, "--baud", "-b", help="Baud rate for flashing."),
    offset: str = typer.Option(None, "--offset", help="Flash offset of a single .bin (default by kind)."),
    erase_fs: bool = typer.Option(False, "--erase-fs", help="Also erase the /flash filesystem."),
    no_skip: bool = typer.Option(False, "--no-skip", help="Write every region, even if unchanged on the chip."),
    force: bool = typer.Option(False, "--force", help="Flash another board's firmware, or an unbootable image."),
    board: str = typer.Option(None, "--board", help="The board being flashed (catalogue key), if pytool can't tell."),
    reset: str = typer.Option(None, "--reset", help="Bootloader entry: dtr-rts, pic, manual or sim (default: port's)."),
    no_check: bool = typer.Option(False, "--no-check", help="Do not wait for the firmware's banner afterwards."),
) -> None:
    """Flash a Pycom firmware archive or an ESP32 image, keeping the config block."""
    from pytool.firmware import load_firmware
    from pytool.flash import FlashOptions
    from pytool.flash import flash as do_flash
    from pytool.ports import choose_port
    from pytool.transports import require_serial

    chosen, _ = choose_port(port_option(ctx), here())
    require_serial(chosen, "flashing")  # over WiFi nothing can flash: said before anything else
    fw = load_firmware(firmware)  # a bad archive is refused before any board is looked for
    port = target(ctx)
    opts = FlashOptions(
        baud=baud,
        skip_unchanged=not no_skip,
        erase_fs=erase_fs,
        force=force,
        board=board,
        offset=_int(offset),
        reset=reset,
        check_boot=not no_check,
        debug=options.debug,
    )
    what = fw.identity.banner if fw.identity else fw.source
    status(f"Flashing [bold]{escape(what)}[/] via {escape(port.spec)} ({reset or port.reset} reset)")
    # the port is held before any reset: never kick a board out of another pytool's session
    with port_lock.hold(port.url), RichSink() as sink, on_interrupt(lambda: _flash_state(port.spec, sink)):
        result = do_flash(fw, port, opts, sink, say=lambda m: sink.message(m))

    def human() -> None:
        count = {a: sum(r.action == a for r in result.regions) for a in ("written", "erased", "skipped")}
        for note in result.notes:
            out.print(f"note: {escape(note)}")
        out.print(
            f"{count['written']} written, {count['erased']} erased, {count['skipped']} unchanged; "
            f"config block {result.config_block}; "
            f"{result.flash_size} flash, script {result.script or '-'}; {result.seconds:.1f} s"
        )
        if result.booted:
            out.print(f"Booted: {escape(result.booted)} ([green]{result.boot_check}[/])")

    emit(result.to_json(), human)


def erase(
    ctx: typer.Context,
    all_: bool = typer.Option(False, "--all", help="Erase the whole chip (backs up config block and NVS first)."),
    baud: int = typer.Option(DEFAULT_BAUD, "--baud", "-b", help="Baud rate."),
    reset: str = typer.Option(None, "--reset", help="Bootloader entry: dtr-rts, pic, manual or sim."),
) -> None:
    """Erase the firmware (and with --all the whole chip, after backing up the config block)."""
    from pytool.flash import erase as do_erase
    from pytool.transports import require_serial

    port = target(ctx)
    require_serial(port.spec, "erasing the flash")
    with port_lock.hold(port.url):  # before any reset: never kick a board out of another pytool's session
        result = do_erase(port, all_, baud, reset, say=lambda m: status(escape(m)), debug=options.debug)

    def human() -> None:
        regions = ", ".join(f"0x{o:06x}+0x{s:x}" for o, s in result.erased)
        out.print(f"Erased {regions}; config block {result.config_block}")
        if result.backup:
            out.print(f"Backup of the config block and NVS: {escape(result.backup)}")

    emit(result.to_json(), human)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Firmware")(flash)
    app.command(rich_help_panel="Firmware")(erase)
