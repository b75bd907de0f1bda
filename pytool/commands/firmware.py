"""`pytool firmware info|build` (issues #7 and #3)."""

from __future__ import annotations

from pathlib import Path

import typer

from pytool.console import emit, escape, out, status

firmware_app = typer.Typer(help="Inspect firmware archives and build simulator firmware.", no_args_is_help=True)


@firmware_app.command()
def info(file: Path = typer.Argument(..., help="Pycom archive (.tar.gz), ESP32 image (.bin) or folder.")) -> None:
    """Board, version, files, offsets, sizes and hashes of a firmware archive or image."""
    from pytool.firmware import describe, load_firmware

    result = describe(load_firmware(file))

    def human() -> None:
        out.print(f"[bold]{escape(result['source'])}[/]  ({result['kind']})")
        out.print(f"  firmware: {escape(result['banner'] or 'unknown (no version banner found)')}")
        if result["kind"] == "image":
            valid = "valid" if result["valid"] else f"INVALID: {result['problem']}"
            out.print(f"  image: {result['image_kind']} at 0x{result['offset']:x}, {valid}")
        from rich.table import Table  # not at the top: start-up

        files = Table("file", "size", "sha256 (use --json for all)", box=None, pad_edge=False)
        for f in result["files"]:
            files.add_row(escape(f["name"]), str(f["size"]), f["sha256"][:16] + "...")
        out.print(files)
        for key, lay in result["layouts"].items():
            if "error" in lay:
                out.print(f"  {key} modules: [red]{escape(lay['error'])}[/]")
                continue
            out.print(f"  {key} modules: script [bold]{lay['script']}[/]")
            for note in lay["notes"]:
                out.print(f"    note: {escape(note)}")
            for e in lay["erases"]:
                out.print(f"    erase 0x{e['offset']:06x} +0x{e['size']:x}")
            for w in lay["writes"]:
                what = w["file"] or "(otadata: boot factory)"
                out.print(f"    write 0x{w['offset']:06x} {escape(what)} ({w['size']} bytes, padded to {w['padded']})")

    emit(result, human)


@firmware_app.command()
def build(
    board: str = typer.Option("lopy4", "--board", "-b", help="Catalogue board (lopy4, fipy, ..., esp32)."),
    version: str = typer.Option(None, "--version", "-v", help="Firmware version, e.g. 1.20.2.r4 or 1.24.1."),
    flavour: str = typer.Option("pycom", "--flavour", help="pycom (a Pycom archive) or micropython (one .bin)."),
    output: Path = typer.Option(None, "--output", "-o", help="Output file (default: the release's own name)."),
    micropython: str = typer.Option(None, "--micropython", help="MICROPY_GIT_TAG for an unlisted Pycom version."),
    date: str = typer.Option(None, "--date", help="Build date YYYY-MM-DD for an unlisted version."),
) -> None:
    """Build simulator firmware: a real Pycom archive, or a stock MicroPython image for offset 0x1000."""
    from pytool.boards import get_board
    from pytool.errors import UsageError
    from pytool.firmware import build as fb
    from pytool.firmware import describe, load_firmware

    if flavour == "micropython":
        version = version or "1.24.1"
        output = output or Path(f"ESP32_GENERIC-v{version}.bin")
        output.write_bytes(fb.build_micropython_image(version, date))
    elif flavour == "pycom":
        version = version or "1.20.2.r4"
        files = fb.build_pycom_archive(board, version, micropython, date)
        output = output or Path(fb.archive_name(get_board(board), version))
        fb.write_archive(files, output)
    else:
        raise UsageError(f"unknown flavour '{flavour}'", "use --flavour pycom or --flavour micropython")
    result = describe(load_firmware(output))
    status(f"Built {escape(str(output))} ({escape(result['banner'] or '')})")
    emit({"output": str(output)} | result, lambda: out.print(str(output)))


def register(app: typer.Typer) -> None:
    app.add_typer(firmware_app, name="firmware", rich_help_panel="Firmware")
