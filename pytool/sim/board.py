"""`SimBoard`: one simulated ESP32 module. Power, the EN/IO0 reset lines and the strap they latch, and the three
things the UART can be connected to: the ROM download loader, the ROM/bootloader boot loop on bad flash, or the
running firmware (`pytool.sim.runtime`, when present).

All methods run in the daemon's event-loop thread. Mode changes are serialised through one lock, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytool.boards import BoardModel
from pytool.sim.boot import Identity
from pytool.sim.boot import boot as boot_from_flash
from pytool.sim.faults import FaultInjector
from pytool.sim.flash_image import FlashImage
from pytool.sim.rom import Efuse, RomLoader
from pytool.sim.serial_port import FrontEnd
from pytool.sim.uart import BOOT_BAUD, UartService, garble

log = logging.getLogger(__name__)

ROM_BANNER = "ets Jun  8 2016 00:22:57"
POWERON_RESET = "0x1 (POWERON_RESET)"
SW_RESET = "0x3 (SW_RESET)"
SW_CPU_RESET = "0xc (SW_CPU_RESET)"
RTCWDT_RTC_RESET = "0x10 (RTCWDT_RTC_RESET)"
DEEPSLEEP_RESET = "0x5 (DEEPSLEEP_RESET)"
UART_FLUSH_S = 0.2  # time for output the firmware wrote before machine.deepsleep() to reach the port
BOOT_DOWNLOAD = "0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))"
BOOT_FLASH = "0x13 (SPI_FAST_FLASH_BOOT)"

STRAP_WINDOW_S = 0.150  # after EN rises, IO0 low within this window selects download mode ...
STRAP_HOLD_S = 0.005  # ... when held low at least this long (RFC2217 delivers line changes >= 50 ms apart)
BOOT_LOOP_PERIOD_S = 3.0  # a module with bad flash resets (watchdog) this often; throttled to keep logs readable


class Mode(enum.StrEnum):
    OFF = "off"
    RESET = "held-in-reset"  # EN low
    DOWNLOAD = "download"  # ROM serial loader (or esptool's stub)
    BOOT_LOOP = "boot-loop"  # no valid firmware: ROM / 2nd-stage errors, then a watchdog reset
    APP = "app"  # firmware running on the runtime
    DEEP_SLEEP = "deep-sleep"  # machine.deepsleep(): UART silent, radio off, until the timer (or a reset) wakes it
    NO_RUNTIME = "app-without-runtime"  # valid firmware, but pytool.sim.runtime is not installed


def _runtime_classes() -> tuple[type, type] | None:
    try:
        from pytool.sim.runtime import Runtime, RuntimeContext
    except ImportError:
        return None
    return Runtime, RuntimeContext


class SimBoard:
    """A simulated board: flash, eFuse MAC, reset lines, UART modes."""

    def __init__(
        self,
        name: str,
        board: BoardModel,
        flash: FlashImage,
        mac: bytes,
        loop: asyncio.AbstractEventLoop,
        workdir: Path,
    ) -> None:
        self.name = name
        self.board = board
        self.flash = flash
        self.mac = mac
        self.loop = loop
        self.workdir = workdir
        self.services: dict[str, Any] = {}  # host services for device code (Bluetooth registers "bt")
        self.uart_baud = BOOT_BAUD  # the firmware's UART0 rate (machine.UART(0, baudrate=...); pytool.sim.uart)
        self.services["uart"] = UartService(
            self, lambda: self.identity is not None and self.identity.flavour == "pycom"
        )
        self.front_ends: list[FrontEnd] = []
        self.monitors: list[Callable[[bytes], None]] = []  # observers of everything the UART sends
        # REPL terminals beside the UART (Pycom's telnet, as dupterm): the firmware's output, no serial-wire faults
        self.terminals: list[Callable[[bytes], None]] = []
        self.control: Any = None  # the ControlServer (daemon): `board.control.add_handler(op, fn)`
        self.on_shutdown: list[Callable[[], Any]] = []  # called (and awaited if async) when the daemon exits
        self.faults = FaultInjector(self)  # wire, flash and BLE faults on demand (pytool.sim.faults)
        flash.faults = self.faults
        self.rom = RomLoader(
            flash,
            Efuse(mac, board.chip_revision),
            self.write,
            host_baud=self.host_baud,
            run_app=lambda: self._schedule(self._boot(False, SW_CPU_RESET)),
            reboot=lambda: self._schedule(self._boot(True, SW_CPU_RESET)),
        )
        self.mode = Mode.OFF
        self.identity: Identity | None = None
        self.boot_reason: str = ""
        self.boots = 0
        self.runtime: Any = None
        self._safe_boot_next = False
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._loop_timer: asyncio.TimerHandle | None = None
        # reset lines (classic auto-reset circuit) and strap sampling
        self.en = True
        self.io0 = True
        self._io0_low_since: float | None = None
        self._strap_window_end: float | None = None
        self._strap_timers: list[asyncio.TimerHandle] = []

    # ---- UART ---------------------------------------------------------------------------------------------------

    def attach(self, front_end: FrontEnd) -> None:
        self.front_ends.append(front_end)

    def host_baud(self) -> int:
        """The baud rate of the (first) open front end: what the ROM's auto-baud would lock onto."""
        for fe in self.front_ends:
            if fe.is_open:
                return fe.baud()
        return 115200

    def line_rate(self) -> int | None:
        """The rate the board's UART transmits at: the firmware's UART0 rate while it runs, else None (the ROM's
        auto-baud follows the host)."""
        return self.uart_baud if self.mode == Mode.APP else None

    def _rates_matter(self) -> bool:
        """Whether a host at another rate than the board's UART0 gets garbage: with pacing on, and whenever the
        firmware moved UART0 off the boot rate. (An unpaced board at the boot rate forgives a client that left
        its port at pyserial's default 9600, as the simulator always has.)"""
        return self.uart_baud != BOOT_BAUD or any(getattr(fe, "_pacing", False) for fe in self.front_ends)

    def uart_rate_changed(self, baud: int) -> None:
        """UART0 re-initialised at `baud` (by the firmware, or the boot rate again after a reset)."""
        if baud != self.uart_baud:
            log.debug("UART0 rate %d -> %d", self.uart_baud, baud)
        self.uart_baud = baud

    @property
    def port_is_open(self) -> bool:
        """Someone listens to the firmware's output: an open serial front end or a REPL terminal."""
        return any(fe.is_open for fe in self.front_ends) or bool(self.terminals)

    def write(self, data: bytes) -> None:
        """Bytes the board transmits on its UART (to every open front end, through the fault injector), and to its
        other REPL terminals (telnet)."""
        for terminal in list(self.terminals):
            terminal(data)
        self.faults.board_to_host(data, self._transmit)

    def _transmit(self, data: bytes) -> None:
        rate = self.line_rate() if self._rates_matter() else None
        for fe in self.front_ends:
            fe.write(data if rate is None or not fe.is_open else garble(data, rate, fe.baud()))
        for monitor in self.monitors:
            monitor(data)

    def _text(self, text: str) -> None:
        self.write(text.encode())

    def feed(self, data: bytes) -> None:
        """Bytes the host sent to the board's UART (through the fault injector)."""
        self.faults.host_to_board(data, self._receive)

    def _receive(self, data: bytes) -> None:
        rate = self.line_rate() if self._rates_matter() else None
        if rate is not None:  # the host's bytes as the firmware's UART decodes them at its own rate
            data = garble(data, self.host_baud(), rate)
            if not data:
                return
        if self.mode == Mode.DOWNLOAD:
            self.rom.feed(data)
        elif self.mode == Mode.APP and self.runtime is not None:
            self.runtime.feed(data)

    def port_open(self, front_end: FrontEnd, is_open: bool) -> None:
        if self.runtime is not None:
            self.runtime.port_open(self.port_is_open)

    # ---- reset lines --------------------------------------------------------------------------------------------

    def set_lines(self, dtr: bool, rts: bool, when: float) -> None:
        """DTR/RTS from a USB-UART bridge through the classic two-transistor circuit: EN low when RTS alone is
        asserted, IO0 low when DTR alone is asserted."""
        en = not (rts and not dtr)
        io0 = not (dtr and not rts)
        log.debug("lines dtr=%d rts=%d -> EN=%d IO0=%d at %.3f", dtr, rts, en, io0, when)
        if io0 != self.io0:
            self.io0 = io0
            if not io0:
                self._io0_low_since = when
            else:
                self._strap_io0_released(when)
                self._io0_low_since = None
        if en != self.en:
            self.en = en
            if not en:
                self._cancel_strap()
                self._schedule(self._hold_in_reset())
            else:
                self._strap_window_end = when + STRAP_WINDOW_S
                self._strap_timers.append(
                    self.loop.call_later(max(0.0, self._strap_window_end - time.monotonic()), self._strap_timeout)
                )
        if self._strap_window_end is not None and not self.io0:
            assert self._io0_low_since is not None
            due = self._io0_low_since + STRAP_HOLD_S - time.monotonic()
            self._strap_timers.append(self.loop.call_later(max(0.0, due), self._strap_check))

    def _strap_check(self) -> None:
        if self._strap_window_end is None or self.io0 or self._io0_low_since is None:
            return
        if self._io0_low_since <= self._strap_window_end and time.monotonic() - self._io0_low_since >= STRAP_HOLD_S:
            self._strap_decided(download=True)

    def _strap_io0_released(self, when: float) -> None:
        low = self._io0_low_since
        window_end = self._strap_window_end
        if window_end is not None and low is not None and low <= window_end and when - low >= STRAP_HOLD_S:
            self._strap_decided(download=True)

    def _strap_timeout(self) -> None:
        if self._strap_window_end is None:
            return
        self._strap_check()
        if self._strap_window_end is not None:
            self._strap_decided(download=False)

    def _strap_decided(self, download: bool) -> None:
        self._cancel_strap()
        self._schedule(self._boot(download, POWERON_RESET))

    def _cancel_strap(self) -> None:
        self._strap_window_end = None
        for timer in self._strap_timers:
            timer.cancel()
        self._strap_timers.clear()

    # ---- power and resets ---------------------------------------------------------------------------------------

    def power_on(self) -> None:
        """Power the board up (boot from flash)."""
        self._schedule(self._boot(False, POWERON_RESET))

    def reset(self, bootloader: bool = False, safe_boot: bool = False) -> asyncio.Task:
        """Press reset (with IO0 held low when `bootloader`, with P12 held high when `safe_boot`): what the
        control socket does on a pty."""
        self._cancel_strap()
        self._safe_boot_next = self._safe_boot_next or safe_boot
        return self._schedule(self._boot(bootloader, POWERON_RESET))

    def power(self, on: bool) -> asyncio.Task:
        """Switch the supply off (UART silent, firmware gone) or on again (boots from flash)."""
        self._cancel_strap()
        return self._schedule(self._boot(False, POWERON_RESET) if on else self._power_off())

    async def _power_off(self) -> None:
        async with self._lock:
            await self._power_down()
            self.mode = Mode.OFF

    def hard_reset(self, safe_boot: bool = False) -> None:
        """A software-requested reset (machine.reset(), Ctrl-F): boots from flash, optionally into safe boot.
        Safe to call from any thread."""
        try:
            in_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            in_loop = False
        if not in_loop:
            self.loop.call_soon_threadsafe(self.hard_reset, safe_boot)
            return
        self._safe_boot_next = self._safe_boot_next or safe_boot
        self._schedule(self._boot(False, SW_CPU_RESET))

    def deep_sleep(self, time_ms: int | None) -> None:
        """machine.deepsleep([time_ms]): the firmware and its radio go, and after `time_ms` the board boots again
        with rst:0x5 (DEEPSLEEP_RESET); without a time only a reset wakes it. Safe to call from any thread."""
        try:
            in_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            in_loop = False
        if not in_loop:
            self.loop.call_soon_threadsafe(self.deep_sleep, time_ms)
            return
        self._schedule(self._sleep(time_ms))

    async def _sleep(self, time_ms: int | None) -> None:
        # ESP-IDF flushes the UARTs before it sleeps (sleep_modes.c, flush_uarts): the firmware's last output (the
        # raw REPL's acknowledgement, say) goes out first
        await asyncio.sleep(UART_FLUSH_S)
        async with self._lock:
            await self._power_down()
            self.mode = Mode.DEEP_SLEEP
            if time_ms is not None:
                wake = lambda: self._schedule(self._boot(False, DEEPSLEEP_RESET))  # noqa: E731
                self._loop_timer = self.loop.call_later(time_ms / 1000, wake)

    def _schedule(self, coro: Any) -> asyncio.Task:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("board transition failed", exc_info=task.exception())

    async def _hold_in_reset(self) -> None:
        async with self._lock:
            await self._power_down()
            self.mode = Mode.RESET

    async def _power_down(self) -> None:
        if self._loop_timer is not None:
            self._loop_timer.cancel()
            self._loop_timer = None
        if self.runtime is not None:
            runtime, self.runtime = self.runtime, None
            try:
                await runtime.stop()
            except Exception:
                log.exception("runtime failed to stop")
        self.identity = None
        self.rom.reset()

    async def _boot(self, download: bool, reason: str) -> None:
        async with self._lock:
            await self._power_down()
            if not self.en:
                self.mode = Mode.RESET
                return
            self.boots += 1
            self.boot_reason = reason
            self.uart_rate_changed(BOOT_BAUD)
            strap = BOOT_DOWNLOAD if download else BOOT_FLASH
            self._text(f"{ROM_BANNER}\r\n\r\nrst:{reason},boot:{strap}\r\n")
            if download:
                self.mode = Mode.DOWNLOAD
                self._text("waiting for download\r\n")
                return
            result = boot_from_flash(self.flash.read, self.flash.size)
            if result.lines:
                self._text("\r\n".join(result.lines) + "\r\n")
            if not result.ok:
                self.mode = Mode.BOOT_LOOP
                again = RTCWDT_RTC_RESET if result.reason.startswith("invalid header") else SW_RESET
                self._loop_timer = self.loop.call_later(
                    BOOT_LOOP_PERIOD_S, lambda: self._schedule(self._boot(False, again))
                )
                return
            self.identity = result.identity
            safe_boot, self._safe_boot_next = self._safe_boot_next, False
            classes = _runtime_classes()
            if classes is None:
                self.mode = Mode.NO_RUNTIME
                banner = result.identity.banner
                self._text(f"{banner}\r\nruntime not available (pytool.sim.runtime is not installed)\r\n")
                return
            runtime_cls, context_cls = classes
            context = context_cls(
                board=self.board,
                identity=result.identity,
                flash_path=self.flash.path,
                safe_boot=safe_boot,
                mac=self.mac,
                write=self.write,
                hard_reset=self.hard_reset,
                deep_sleep=self.deep_sleep,
                reset_reason=reason,
                loop=self.loop,
                services=self.services,
                workdir=self.workdir,
            )
            self.runtime = runtime_cls(context)
            self.mode = Mode.APP
            try:
                await self.runtime.start()
            except Exception as exc:  # a broken runtime must not take the board (ROM, control socket) down
                log.exception("runtime failed to start")
                self.runtime, self.mode = None, Mode.BOOT_LOOP
                self._text(f"pytool sim: the runtime failed to start: {type(exc).__name__}: {exc}\r\n")
                return
            self.runtime.port_open(self.port_is_open)

    async def shutdown(self) -> None:
        """Power off for good (daemon exit)."""
        self._cancel_strap()
        async with self._lock:
            await self._power_down()
            self.mode = Mode.OFF
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot for `pytool sim` and tests."""
        return {
            "name": self.name,
            "board": self.board.key,
            "mode": str(self.mode),
            "boot_reason": self.boot_reason,
            "boots": self.boots,
            "stub": self.rom.stub,
            "firmware": self.identity.banner if self.identity is not None else None,
            "mac": self.mac.hex(":"),
            "flash": str(self.flash.path),
            "flash_size": self.flash.size,
            "port_open": self.port_is_open,
            "baud": self.host_baud(),
            "uart_baud": self.uart_baud,
            "en": self.en,
            "io0": self.io0,
            "safe_boot_next": self._safe_boot_next,
            "services": sorted(self.services),
        }
