"""Firmware for the tests: built archives (building is deterministic, so caching is safe), archives made from
members, and flash images of a Pycom board as `pytool flash` writes them."""

from __future__ import annotations

import io
import tarfile
from functools import cache
from pathlib import Path

from pytool.boards import get_board
from pytool.deploy import simulator_firmware
from pytool.firmware import load_firmware, plan_archive
from pytool.firmware.build import BuiltFile, build_pycom_archive

EXPECTED_MEMBERS = {  # reference 1.1: tar order boot, part4MB, part8MB, app, script4MB, script8MB, script, script2
    "lopy4": ["bootloader.bin", "partitions_8MB.bin", "lopy4.bin", "script_8MB", "script", "script2"],
    "gpy": ["bootloader.bin", "partitions_8MB.bin", "gpy.bin", "script_8MB", "script", "script2"],
    "fipy": ["bootloader.bin", "partitions_8MB.bin", "fipy.bin", "script_8MB", "script", "script2"],
    "lopy": [
        "bootloader.bin",
        "partitions_4MB.bin",
        "partitions_8MB.bin",
        "lopy.bin",
        "script_4MB",
        "script_8MB",
        "script",
        "script2",
    ],
    "wipy3": [
        "bootloader.bin",
        "partitions_4MB.bin",
        "partitions_8MB.bin",
        "wipy.bin",
        "script_4MB",
        "script_8MB",
        "script",
        "script2",
    ],
    "sipy": ["bootloader.bin", "partitions_4MB.bin", "sipy.bin", "script_4MB", "script", "script2"],
}


@cache
def built(board: str = "lopy4", version: str = "1.20.2.r4") -> dict[str, bytes]:
    """Members of a built Pycom archive by name."""
    files: list[BuiltFile] = build_pycom_archive(board, version)
    return {f.name: f.data for f in files}


def make_archive(tmp_path, members: list[tuple[str, bytes]], name="fw.tar.gz", **info) -> str:
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members:
            ti = tarfile.TarInfo(member)
            ti.size = len(data)
            for k, v in info.items():
                setattr(ti, k, v)
            tar.addfile(ti, io.BytesIO(data))
    return str(path)


def load_firmware_from(files: dict[str, bytes], tmp=[]):  # noqa: B006 - tiny memo of a temp dir
    import tempfile
    from pathlib import Path

    if not tmp:
        tmp.append(Path(tempfile.mkdtemp()))
    path = tmp[0] / f"fw{len(list(tmp[0].iterdir()))}.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return load_firmware(path)


def stock_image(path):
    """A 4 MB generic ESP32 flash file with stock MicroPython 1.24.1 at 0x1000 (as esptool writes the release .bin)."""
    from pytool.boards import get_board
    from pytool.firmware.build import build_micropython_image

    image = build_micropython_image("1.24.1")
    data = bytearray(b"\xff" * get_board("esp32").flash_size)
    data[0x1000 : 0x1000 + len(image)] = image
    path.write_bytes(bytes(data))
    return path


def pycom_flash_image(path: Path, version: str = "1.20.2.r4", board_key: str = "lopy4") -> Path:
    """A whole flash image (written to `path`) with the simulator's Pycom firmware `version` written as `pytool flash`
    would write it."""
    board = get_board(board_key)
    plan = plan_archive(load_firmware(simulator_firmware(board_key, version)), board.flash_size)
    image = bytearray(b"\xff" * board.flash_size)
    for write in plan.writes:
        image[write.offset : write.offset + len(write.data)] = write.data
    path.write_bytes(image)
    return path
