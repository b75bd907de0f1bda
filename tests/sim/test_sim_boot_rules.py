"""The simulator's own boot path (`pytool.sim.boot`) against the host's `pytool.firmware.boot_select`: two
independent readings of the same formats must print the same text and boot the same image, on good flash and on
flash with bits flipped in the bootloader, partition table, app image and otadata."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

import pytool.sim
from pytool.boards import layouts
from pytool.firmware import ACTIVE_OTA0, STATUS_CHECK, BootInfo, boot_select
from pytool.firmware.build import build_micropython_image, build_pycom_archive
from pytool.sim.boot import boot

MB8 = 0x800000
L8 = layouts()["8MB"]


def _pycom_flash() -> bytearray:
    files = {f.name: f.data for f in build_pycom_archive("lopy4", "1.20.2.r4", app_size=0x8000)}
    flash = bytearray(b"\xff" * MB8)
    for offset, name in ((0x1000, "bootloader.bin"), (0x8000, "partitions_8MB.bin"), (0x10000, "lopy4.bin")):
        flash[offset : offset + len(files[name])] = files[name]
    return flash


def _outcomes(flash: bytearray, size: int) -> tuple[tuple, tuple]:
    def read(offset: int, n: int) -> bytes:
        return bytes(flash[offset : offset + n]).ljust(n, b"\xff")

    host, sim = boot_select(read, size), boot(read, size)
    fields = ("flavour", "board_name", "version", "micropython", "build_date", "banner")
    host_id = tuple(getattr(host.identity, f) for f in fields) if host.identity else None
    sim_id = tuple(getattr(sim.identity, f) for f in fields) if sim.identity else None
    return (host.ok, host.lines, host.app_offset, host.reason, host_id), (
        sim.ok,
        sim.lines,
        sim.app_offset,
        sim.reason,
        sim_id,
    )


def _assert_agree(flash: bytearray, size: int = MB8) -> int | None:
    """Both boot paths decide alike; returns the app offset booted (None: nothing boots)."""
    host, sim = _outcomes(flash, size)
    if "malformed image" in host[3]:  # esptool's wording for a bad hash flag; the simulator words it itself
        assert not sim[0] and "malformed image" in sim[3]
    else:
        assert host == sim
    return sim[2]


def test_valid_and_erased_flash():
    assert _assert_agree(_pycom_flash()) == 0x10000
    assert _assert_agree(bytearray(b"\xff" * MB8)) is None


def test_otadata_selects_ota0():
    flash = _pycom_flash()
    app = bytes(flash[0x10000:0x30000])
    flash[L8.ota_0.offset : L8.ota_0.offset + len(app)] = app
    flash[L8.otadata.offset : L8.otadata.offset + 40] = BootInfo(ACTIVE_OTA0, STATUS_CHECK).pack()
    host, sim = _outcomes(flash, MB8)
    assert host == sim and sim[2] == L8.ota_0.offset


@pytest.mark.parametrize(
    "region", [(0x1000, 0x7000), (0x8000, 0xC00), (0x10000, 0x20000), (L8.otadata.offset, 40)], ids=str
)
def test_bit_flips_are_judged_alike(region):
    base = _pycom_flash()
    if region[0] == L8.otadata.offset:  # flips in a valid otadata that selects ota_0
        app = bytes(base[0x10000:0x30000])
        base[L8.ota_0.offset : L8.ota_0.offset + len(app)] = app
        base[L8.otadata.offset : L8.otadata.offset + 40] = BootInfo(ACTIVE_OTA0, STATUS_CHECK).pack()
    rng = random.Random(region[0])
    results = set()
    for _ in range(60):
        flash = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = region[0] + rng.randrange(region[1] if rng.random() < 0.7 else 64)  # headers get extra hits
            flash[at] ^= 1 << rng.randrange(8)
        results.add(_assert_agree(flash))
    # the flips changed the outcome, so the comparison covered refusals (or, in otadata, the fallback to factory)
    assert (0x10000 in results) if region[0] == L8.otadata.offset else (None in results)


def test_stock_micropython_merged_image_and_truncations():
    image = build_micropython_image()
    flash = bytearray(b"\xff" * 0x400000)
    flash[0x1000 : 0x1000 + len(image)] = image
    assert _assert_agree(flash, 0x400000) is not None
    rng = random.Random(7)
    for _ in range(40):
        cut = bytearray(flash)
        end = rng.randrange(0x1000, 0x1000 + len(image))
        cut[end : 0x1000 + len(image)] = b"\xff" * (0x1000 + len(image) - end)
        _assert_agree(cut, 0x400000)


def test_no_simulator_module_imports_the_host_firmware_code():
    """The simulator judges images with its own code: no module under pytool/sim imports pytool.firmware or
    pytool.flash, not even inside a function."""
    offenders = []
    for path in Path(pytool.sim.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n.startswith(("pytool.firmware", "pytool.flash")) for n in names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
