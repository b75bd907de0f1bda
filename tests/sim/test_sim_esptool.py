"""Real esptool 5.x against the simulated board on its pty: identification, write/verify/read, erase."""

from __future__ import annotations

import os
import subprocess
import sys

import esptool
import pytest
import serial
from esptool.cmds import detect_chip, detect_flash_size
from support.sim import esptool_pty, module_sim, read_flash_file

from pytool.sim import rom
from pytool.sim.control import SimControl
from pytool.sim.testing import running_sim

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def sim8(tmp_path_factory):
    with module_sim(tmp_path_factory, "lopy4", "e8") as sim:
        yield sim


@pytest.fixture(scope="module")
def sim4(tmp_path_factory):
    with module_sim(tmp_path_factory, "sipy", "e4") as sim:
        yield sim


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[int, bytes]:
    """Three files like a Pycom archive's, compressible (so -z really uses FLASH_DEFL_*), small enough for
    the ROM's 1 KB blocks."""
    rnd = os.urandom(4096)
    return {
        0x1000: b"\xe9\x06\x02\x20" + bytes(range(256)) * 70 + rnd[:1000],
        0x8000: (b"\xaa\x50\x01\x02" + b"\x00" * 28) * 3 + b"\xff" * 2976,
        0x10000: b"\xe9\x05\x02\x20" + (b"MicroPython" * 7000) + rnd + b"\xc0\xdb" * 500,
    }


def _paths(tmp_path, files: dict[int, bytes]) -> list[str]:
    args = []
    for offset, data in files.items():
        path = tmp_path / f"f{offset:x}.bin"
        path.write_bytes(data)
        args += [hex(offset), str(path)]
    return args


@pytest.mark.parametrize("sim", ["sim8", "sim4"])
def test_chip_identification_and_flash_size(request, sim):
    rec, _, _ = request.getfixturevalue(sim)
    size = {"sim8": "8MB", "sim4": "4MB"}[sim]
    SimControl(rec.control).reset(bootloader=True)
    esp = detect_chip(rec.pty, 115200, "no-reset")
    try:
        assert esp.CHIP_NAME == "ESP32"
        assert esp.get_chip_description().startswith("ESP32-D0WD")
        assert esp.get_crystal_freq() == 40
        mac = ":".join(f"{b:02x}" for b in esp.read_mac())
        assert mac == SimControl(rec.control).status()["mac"]
        assert mac.startswith("30:ae:a4")
        esp = esp.run_stub()
        assert detect_flash_size(esp) == size
        assert esp.flash_id() & 0xFF == 0xEF
    finally:
        esp._port.close()


@pytest.mark.parametrize("stub", [True, False], ids=["stub", "no-stub"])
@pytest.mark.parametrize("compress", [True, False], ids=["compressed", "uncompressed"])
def test_write_flash_three_files_is_verified_and_lands_in_the_image(sim8, files, tmp_path, stub, compress):
    rec, _, _ = sim8
    esptool_pty(rec, "erase-region", "0x0", "0x30000")  # start from erased flash each time
    esptool_pty(rec, "write-flash", "-z" if compress else "-u", *_paths(tmp_path, files), stub=stub)
    for offset, data in files.items():
        assert read_flash_file(rec, offset, len(data)) == data
    esptool_pty(rec, "verify-flash", *_paths(tmp_path, files), stub=stub)


@pytest.mark.parametrize("stub", [True, False], ids=["stub", "no-stub"])
def test_read_flash_returns_the_bytes(sim8, tmp_path, stub):
    rec, _, _ = sim8
    data = os.urandom(3000 if not stub else 70000)
    (tmp_path / "in.bin").write_bytes(data)
    esptool_pty(rec, "write-flash", "0x20000", str(tmp_path / "in.bin"))
    esptool_pty(rec, "read-flash", "0x20000", str(len(data)), str(tmp_path / "out.bin"), stub=stub)
    assert (tmp_path / "out.bin").read_bytes() == data


@pytest.mark.parametrize("stub", [True, False], ids=["stub", "no-stub"])
def test_erase_region_erases_only_that_region(sim8, tmp_path, stub):
    rec, _, _ = sim8
    (tmp_path / "z.bin").write_bytes(b"\x00" * 0x3000)
    esptool_pty(rec, "write-flash", "0x40000", str(tmp_path / "z.bin"))
    esptool_pty(rec, "erase-region", "0x41000", "0x1000", stub=stub)
    assert read_flash_file(rec, 0x40000, 0x3000) == b"\x00" * 0x1000 + b"\xff" * 0x1000 + b"\x00" * 0x1000


def test_erase_flash_erases_the_whole_chip(sim8, tmp_path):
    rec, _, _ = sim8
    (tmp_path / "z.bin").write_bytes(b"\x00" * 0x1000)
    esptool_pty(rec, "write-flash", "0x7FF000", str(tmp_path / "z.bin"))
    esptool_pty(rec, "erase-flash")
    assert read_flash_file(rec, 0, 0x800000) == b"\xff" * 0x800000


def test_esptool_cli_subprocess_chip_id(sim4):
    rec, _, _ = sim4
    SimControl(rec.control).reset(bootloader=True)
    result = subprocess.run(
        [sys.executable, "-m", "esptool", "--port", rec.pty, "--before", "no-reset", "--after", "no-reset", "chip-id"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Chip type:          ESP32-D0WDQ6 (revision v0.0)" in result.stdout  # SiPy: a revision-0 module
    assert f"MAC:                {SimControl(rec.control).status()['mac']}" in result.stdout


def test_raw_frames_over_the_pty_sync_and_unknown_command(sim4):
    rec, _, _ = sim4
    SimControl(rec.control).reset(bootloader=True)
    decoder = rom.SlipDecoder()
    with serial.Serial(rec.pty, 115200, timeout=0.2) as port:
        port.write(rom.slip_encode(bytes([0, rom.SYNC, 36, 0, 0, 0, 0, 0]) + b"\x07\x07\x12\x20" + b"\x55" * 32))
        frames: list[bytes] = []
        while len(frames) < 8 and (chunk := port.read(4096)):
            frames += decoder.feed(chunk)
        assert len(frames) == 8
        assert all(f[:2] == b"\x01\x08" for f in frames)
        port.write(rom.slip_encode(bytes([0, 0x77, 0, 0, 0, 0, 0, 0])))
        frames = []
        while not frames and (chunk := port.read(4096)):
            frames += decoder.feed(chunk)
        assert frames == [bytes([1, 0x77, 4, 0, 0, 0, 0, 0, 1, 5, 0, 0])]


def test_change_baudrate_then_write(sim8, tmp_path):
    rec, _, _ = sim8
    (tmp_path / "b.bin").write_bytes(b"baud" * 1000)
    esptool_pty(rec, "--baud", "921600", "write-flash", "0x50000", str(tmp_path / "b.bin"))
    assert read_flash_file(rec, 0x50000, 4000) == b"baud" * 1000
    assert esptool.__version__.startswith("5.")


def test_paced_simulator_still_flashes_and_reads_correctly(tmp_path):
    """--baud-pacing only slows bytes down to the line rate (figures: bench/sim_serial.py); data stays exact."""
    data = os.urandom(6000)
    (tmp_path / "p.bin").write_bytes(data)
    with running_sim("lopy", args=["--baud-pacing"]) as rec:
        esptool_pty(rec, "--baud", "921600", "write-flash", "0x9000", str(tmp_path / "p.bin"))
        esptool_pty(rec, "--baud", "921600", "read-flash", "0x9000", "6000", str(tmp_path / "back.bin"))
        assert read_flash_file(rec, 0x9000, 6000) == data
    assert (tmp_path / "back.bin").read_bytes() == data
