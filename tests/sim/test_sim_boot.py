"""Boot behaviour of the simulated board: ROM text, boot loop on bad flash, firmware banner, persistence,
and the EN/IO0 strap sampling behind the RFC2217 auto-reset."""

from __future__ import annotations

import asyncio
import time

import esptool
import pytest
from support.sim import esptool_pty, open_port, read_until

from pytool.boards import get_board
from pytool.firmware.build import build_pycom_archive
from pytool.sim import board as board_mod
from pytool.sim.board import Mode, SimBoard
from pytool.sim.control import SimControl
from pytool.sim.flash_image import FlashImage
from pytool.sim.testing import running_sim

pytestmark = pytest.mark.timeout(120)

ROM_HEADER = b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
DOWNLOAD = (
    b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))"
    b"\r\nwaiting for download\r\n"
)


def test_fresh_simulator_boot_loops_on_the_erased_flash():
    with running_sim("lopy4") as rec, open_port(rec) as port:
        SimControl(rec.control).reset()
        out = read_until(
            port,
            ROM_HEADER + b"invalid header: 0xffffffff\r\n",
            b"rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n",
        )
        assert b"waiting for download" not in out
        assert SimControl(rec.control).status()["mode"] == "boot-loop"


def test_reset_into_the_bootloader_prints_the_download_banner():
    with running_sim("wipy2") as rec, open_port(rec) as port:
        state = SimControl(rec.control).reset(bootloader=True)
        assert state["mode"] == "download"
        read_until(port, DOWNLOAD, timeout=10)


def test_power_off_silences_the_board_and_power_on_boots_it():
    with running_sim("lopy") as rec, open_port(rec) as port:
        control = SimControl(rec.control)
        assert control.power(False)["mode"] == "off"
        port.reset_input_buffer()
        assert port.read(100) == b""  # nothing while unpowered (no boot loop either)
        assert control.power(True)["mode"] == "boot-loop"
        read_until(port, ROM_HEADER + b"invalid header: 0xffffffff\r\n", timeout=10)


def test_output_while_nobody_has_the_port_open_is_dropped():
    with running_sim("lopy") as rec:
        control = SimControl(rec.control)
        assert not control.status()["port_open"]
        control.reset(bootloader=True)  # the download banner goes out while the port is closed ...
        control.power(False)  # ... and nothing after it
        with open_port(rec) as port:
            assert port.read(200) == b""  # a UART's output is not stored for a later reader
            control.reset(bootloader=True)
            read_until(port, DOWNLOAD, timeout=10)
        deadline = time.monotonic() + 10
        while control.status()["port_open"]:  # the close is noticed (the pty master reads EIO)
            assert time.monotonic() < deadline, "the simulator did not notice the port being closed"
            time.sleep(0.01)


def test_flash_and_mac_survive_stop_and_start(tmp_path):
    (tmp_path / "p.bin").write_bytes(b"persistent!" * 100)
    with running_sim("lopy4", name="keep") as rec:
        mac = SimControl(rec.control).status()["mac"]
        esptool_pty(rec, "write-flash", "0x300000", str(tmp_path / "p.bin"))
    with running_sim("lopy4", name="keep") as rec:
        assert SimControl(rec.control).status()["mac"] == mac
        esptool_pty(rec, "read-flash", "0x300000", "1100", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == b"persistent!" * 100


def test_flashing_a_built_archive_boots_its_firmware(tmp_path):
    files = {f.name: f.data for f in build_pycom_archive("lopy4", "1.20.2.r4", app_size=0x8000)}
    for name in ("bootloader.bin", "partitions_8MB.bin", "lopy4.bin"):
        (tmp_path / name).write_bytes(files[name])
    banner = b"Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32"
    with running_sim("lopy4") as rec:
        esptool_pty(
            rec,
            "write-flash",
            *("0x1000", str(tmp_path / "bootloader.bin")),
            *("0x8000", str(tmp_path / "partitions_8MB.bin")),
            *("0x10000", str(tmp_path / "lopy4.bin")),
        )
        with open_port(rec) as port:
            state = SimControl(rec.control).reset()
            assert state["firmware"] == banner.decode()
            assert state["mode"] in ("app", "app-without-runtime")
            read_until(port, ROM_HEADER, b"entry 0x", banner, timeout=30)
        # --after no-reset with the stub: FLASH_END(reboot) drops back into the ROM loader
        esptool_pty(rec, "chip-id")
        state = SimControl(rec.control).status()
        assert (state["mode"], state["stub"], state["boot_reason"]) == ("download", False, "0xc (SW_CPU_RESET)")
        # --after soft-reset with the ROM: FLASH_BEGIN(0, 0) + FLASH_END(run) starts the app
        SimControl(rec.control).reset(bootloader=True)
        esptool.main(["--port", rec.pty, "--before", "no-reset", "--after", "soft-reset", "--no-stub", "chip-id"])
        deadline = time.monotonic() + 20
        while (state := SimControl(rec.control).status())["mode"] == "download":
            assert time.monotonic() < deadline, state
            time.sleep(0.02)
        assert state["firmware"] == banner.decode()


# ---- strap sampling (the board model itself, with the line timings a USB-UART bridge produces) -------------


@pytest.fixture
async def lone_board(tmp_path, monkeypatch):
    monkeypatch.setattr(board_mod, "_runtime_classes", lambda: None)
    loop = asyncio.get_running_loop()
    with FlashImage(tmp_path / "f.bin", 0x400000) as flash:
        board = SimBoard("t", get_board("lopy"), flash, bytes(6), loop, tmp_path)
        yield board
        await board.shutdown()


async def _settled(board: SimBoard, boots: int) -> Mode:
    for _ in range(500):
        if board.boots > boots and not board._tasks:
            return board.mode
        await asyncio.sleep(0.01)
    raise AssertionError(f"board did not boot (mode {board.mode})")


async def test_classic_reset_with_rfc2217_gaps_enters_download_mode(lone_board):
    t = time.monotonic()
    # esptool's ClassicReset as an RFC2217 server sees it: each line change >= 50 ms after the previous one
    lone_board.set_lines(dtr=False, rts=True, when=t)  # EN low
    lone_board.set_lines(dtr=True, rts=True, when=t + 0.10)  # EN rises (both asserted = both high)
    lone_board.set_lines(dtr=True, rts=False, when=t + 0.15)  # IO0 low 50 ms after EN rose
    lone_board.set_lines(dtr=False, rts=False, when=t + 0.20)  # IO0 released after 50 ms
    assert await _settled(lone_board, 0) == Mode.DOWNLOAD


async def test_hard_reset_pulse_boots_from_flash(lone_board):
    t = time.monotonic()
    lone_board.set_lines(dtr=False, rts=True, when=t)
    lone_board.set_lines(dtr=False, rts=False, when=t + 0.1)
    assert await _settled(lone_board, 0) == Mode.BOOT_LOOP


async def test_io0_glitch_shorter_than_the_hold_time_is_ignored(lone_board):
    t = time.monotonic()
    lone_board.set_lines(dtr=False, rts=True, when=t)
    lone_board.set_lines(dtr=False, rts=False, when=t + 0.1)
    lone_board.set_lines(dtr=True, rts=False, when=t + 0.12)
    lone_board.set_lines(dtr=False, rts=False, when=t + 0.121)  # 1 ms low
    assert await _settled(lone_board, 0) == Mode.BOOT_LOOP
