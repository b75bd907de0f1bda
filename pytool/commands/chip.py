"""`pytool bootloader` and `pytool restore` (pytool/chip.py): the chip's ROM download mode, and the config block
and NVS that `pytool erase --all` backed up."""

from __future__ import annotations

from pathlib import Path

import typer

from pytool import port_lock
from pytool.baud import FLASH_BAUD as DEFAULT_BAUD
from pytool.commands.common import target
from pytool.console import emit, escape, options, out, status


def bootloader(
    ctx: typer.Context,
    reset: str = typer.Option(None, "--reset", help="Bootloader entry: dtr-rts, pic, manual or sim (default: port's)."),
) -> None:
    """Put the chip into its ROM bootloader (download mode) with the board's reset strategy, and leave it there."""
    from pytool.chip import enter_download_mode
    from pytool.transports import require_serial

    port = target(ctx)
    require_serial(port.spec, "entering the bootloader")
    with port_lock.hold(port.url):  # before any reset: never kick a board out of another pytool's session
        chip = enter_download_mode(port, reset, say=lambda m: status(escape(m)), debug=options.debug)
    emit(
        {"ok": True, "port": port.spec, "chip": chip, "reset": reset or port.reset},
        lambda: status(
            f"{escape(chip)} on {escape(port.spec)} is in its ROM bootloader (download mode): esptool can talk to it "
            "with --before no-reset; press reset (or `pytool flash`) to run the firmware again"
        ),
    )


def restore(
    ctx: typer.Context,
    backup: Path = typer.Argument(None, help="A backup of `pytool erase --all` (default: this chip's newest)."),
    force: bool = typer.Option(False, "--force", help="Write a backup made from another chip."),
    baud: int = typer.Option(DEFAULT_BAUD, "--baud", "-b", help="Baud rate."),
    reset: str = typer.Option(None, "--reset", help="Bootloader entry: dtr-rts, pic, manual or sim."),
) -> None:
    """Put back the config block and NVS that `pytool erase --all` backed up."""
    from pytool.chip import restore as do_restore
    from pytool.transports import require_serial

    port = target(ctx)
    require_serial(port.spec, "restoring the config block")
    with port_lock.hold(port.url):
        result = do_restore(port, backup, baud, reset, force, say=lambda m: status(escape(m)), debug=options.debug)

    def human() -> None:
        written = [r["name"] for r in result.regions if r["action"] == "written"]
        out.print(
            f"Restored {escape(result.backup)} to {escape(result.mac)}: "
            + (f"{', '.join(written)} written" if written else "already in place")
        )

    emit(result.to_json(), human)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Firmware")(bootloader)
    app.command(rich_help_panel="Firmware")(restore)
