"""A Runtime on its own event-loop thread, with a pty as its serial port: tests run unmodified mpremote (and
anything else that opens a serial port) against the simulated firmware without the full simulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import tty
from dataclasses import dataclass, field
from pathlib import Path

from pytool.boards import BoardModel, get_board
from pytool.firmware import pycom_banner
from pytool.sim.boot import Identity
from pytool.sim.runtime import Runtime, RuntimeContext


def identity_for(board: BoardModel, version: str = "1.20.2.r4") -> Identity:
    """What the simulated board's boot would have found in `board`'s firmware."""
    if not board.is_pycom:
        return Identity(
            "micropython",
            "ESP32",
            "1.24.1",
            "v1.24.1",
            "2024-11-29",
            "MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32",
        )
    tag, date = "v1.11-ffb0e1c", "2021-01-12"
    return Identity("pycom", board.name, version, tag, date, pycom_banner(version, tag, date, board.name))


def new_image(path: Path, board: BoardModel) -> Path:
    with open(path, "wb") as f:
        f.truncate(board.flash_size)
        f.seek(0)
        chunk = b"\xff" * (1 << 20)
        for _ in range(board.flash_size >> 20):
            f.write(chunk)
    return path


@dataclass
class HarnessBoard:
    """One simulated board (runtime only): `port` is the /dev/pts path clients open."""

    board: BoardModel
    image: Path
    workdir: Path
    mac: bytes = bytes.fromhex("240ac4123456")
    services: dict = field(default_factory=dict)
    hard_resets: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        os.set_blocking(self.master, False)
        self.runtime: Runtime | None = None
        self.output = bytearray()  # everything the board sent (for assertions)
        self._tasks: set[asyncio.Task] = set()
        self.call(self._attach)

    def call(self, fn, *args):
        """Run fn(*args) on the loop thread (awaiting it if it is a coroutine) and return its result."""

        async def run():
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(60)

    def _attach(self) -> None:
        self.loop.add_reader(self.master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return
        if self.runtime is not None:
            self.runtime.feed(data)

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # a full buffer drops bytes, as a UART without a reader does
            os.write(self.master, data)
        self.output += data

    def _hard_reset(self, safe: bool) -> None:
        self.hard_resets.append(safe)
        task = asyncio.ensure_future(self.boot(safe))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def boot(self, safe_boot: bool = False) -> None:
        """Power on (or hard reset): a fresh Runtime, as the simulator's board does."""
        if self.runtime is not None:
            await self.runtime.stop()
        self._write(b"\r\nets Jun  8 2016 00:22:57\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n")
        ctx = RuntimeContext(
            board=self.board,
            identity=identity_for(self.board),
            flash_path=self.image,
            safe_boot=safe_boot,
            mac=self.mac,
            write=self._write,
            hard_reset=self._hard_reset,
            loop=self.loop,
            services=self.services,
            workdir=self.workdir,
        )
        self.runtime = Runtime(ctx)
        await self.runtime.start()

    def wait_ready(self, timeout: float = 30) -> None:
        async def wait():
            await asyncio.wait_for(self.runtime.ready.wait(), timeout)

        self.call(wait)

    def power_off(self) -> None:
        if self.runtime is not None:
            self.call(self.runtime.stop)
            self.runtime = None

    def close(self) -> None:
        self.power_off()
        self.call(lambda: self.loop.remove_reader(self.master))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        os.close(self.master)
        os.close(self._slave)


def start_board(key: str, tmp: Path, image: Path | None = None) -> HarnessBoard:
    board = get_board(key)
    image = image or new_image(tmp / f"{key}.bin", board)
    hb = HarnessBoard(board, image, tmp)
    hb.call(hb.boot)
    hb.wait_ready()
    return hb


def raw_exec(hb: HarnessBoard, code: str) -> tuple[str, str]:
    """Run `code` in the raw REPL of the board (entered without a soft reset): (stdout, the error text)."""
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(hb.port, baudrate=115200)
    try:
        t.enter_raw_repl(soft_reset=False)
        t.exec_raw_no_follow(code)
        out, err = t.follow(20)
        t.exit_raw_repl()
    finally:
        t.close()
    return out.decode(), err.decode()
