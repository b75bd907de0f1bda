"""Helpers for the stock-board Bluetooth tests: a simulated generic ESP32 with stock MicroPython flashed, its serial
REPL through mpremote's transport, and a Bumble tester on the shared radio."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

from bumble.core import AdvertisingData
from bumble.device import Device
from mpremote.transport_serial import SerialTransport
from support.ble import bumble_host

from pytool.boards import get_board
from pytool.firmware.build import build_micropython_image
from pytool.sim.registry import SimRecord
from pytool.sim.testing import running_sim

BOOTLOADER_OFFSET = 0x1000


def stock_image(path: Path, version: str = "1.24.1") -> Path:
    """A flash image of the generic ESP32 with stock MicroPython written at 0x1000, as `pytool flash` writes it."""
    board = get_board("esp32")
    image = bytearray(b"\xff" * board.flash_size)
    app = build_micropython_image(version)
    image[BOOTLOADER_OFFSET : BOOTLOADER_OFFSET + len(app)] = app
    path.write_bytes(image)
    return path


class Serial:
    """The board's serial port through mpremote's transport: raw-REPL exec plus everything printed later."""

    def __init__(self, pty: str) -> None:
        self.transport = SerialTransport(pty, 115200)
        self.transport.enter_raw_repl(soft_reset=False)
        self.seen = b""
        self.prompt_eaten = False

    def exec(self, code: str) -> bytes:
        """Run `code` in the raw REPL; IRQ handlers print at any time, so what came meanwhile is kept in `seen`."""
        waiting = self.transport.serial.in_waiting
        if waiting:
            self.seen += self.transport.serial.read(waiting)
            self.prompt_eaten = True
        if self.prompt_eaten:  # the raw REPL's ">" went with that output: ask for a fresh prompt
            self.transport.enter_raw_repl(soft_reset=False)
            self.prompt_eaten = False
        out = self.transport.exec(code)
        self.seen += out
        return out

    def eval(self, expression: str) -> str:
        return self.exec(f"print(repr({expression}))").decode().strip()

    def read_until(self, needle: bytes, timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not printed; serial output: {self.seen[-2000:]!r}")
            self.prompt_eaten = True
            waiting = self.transport.serial.in_waiting
            self.seen += self.transport.serial.read(waiting or 1)
        return self.seen

    def read_match(self, pattern: bytes, timeout: float = 20.0) -> re.Match[bytes]:
        """Read until `pattern` (a regex) matches what the board printed; the match."""
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.seen)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not printed; serial output: {self.seen[-2000:]!r}")
            self.prompt_eaten = True
            waiting = self.transport.serial.in_waiting
            self.seen += self.transport.serial.read(waiting or 1)
        return found

    async def aread_match(self, pattern: bytes, timeout: float = 20.0) -> re.Match[bytes]:
        return await asyncio.to_thread(self.read_match, pattern, timeout)

    async def aexec(self, code: str) -> bytes:
        """exec() off the event loop, so that the radio side keeps running meanwhile."""
        return await asyncio.to_thread(self.exec, code)

    async def aeval(self, expression: str) -> str:
        return await asyncio.to_thread(self.eval, expression)

    async def aread_until(self, needle: bytes, timeout: float = 20.0) -> bytes:
        return await asyncio.to_thread(self.read_until, needle, timeout)

    def close(self) -> None:
        self.transport.close()


@contextlib.contextmanager
def stock_board(tmp_path: Path, name: str) -> Iterator[tuple[SimRecord, Serial]]:
    """A running simulated stock ESP32 and its serial REPL. Boards of one `tmp_path` share a state folder, so a
    radio hub of this checkout's code (not some other run's) carries them."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    with running_sim("esp32", name=name, flash=stock_image(tmp_path / f"{name}.bin"), state_dir=state) as rec:
        serial = Serial(rec.pty)
        try:
            yield rec, serial
        finally:
            serial.close()


@contextlib.asynccontextmanager
async def open_tester(transport: str, address: str = "C0:00:00:00:00:78"):
    """A Bumble host of its own on the shared radio."""
    async with bumble_host(transport, address) as (device, _):
        yield device


async def find_by_name(device: Device, name: str, timeout: float = 20.0, active: bool = False):
    """The first advertisement carrying complete local name `name`."""
    found = asyncio.get_running_loop().create_future()

    def on_adv(adv):
        if not adv.is_scan_response and adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME) == name and not found.done():
            found.set_result(adv)

    device.on("advertisement", on_adv)
    await device.start_scanning(active=active)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        device.remove_listener("advertisement", on_adv)
        await device.stop_scanning()
