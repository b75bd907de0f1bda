"""Host services the simulated firmware itself uses over the bridge: "runtime" (hard reset, kbd_intr) and
"timer" (machine.Timer.Alarm callbacks, delivered on the device's IRQ thread)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from pytool.sim.runtime.bridge import BridgeConnection
from pytool.sim.runtime.firmware_help import help_text

log = logging.getLogger(__name__)

#: How long a timer callback may run on the device before the host gives up on it (and stops that timer).
ALARM_TIMEOUT = 30.0


class RuntimeControl(Protocol):
    """What the "runtime" service needs from the supervisor (`pytool.sim.runtime.supervisor.Runtime`)."""

    ctx: Any  # the RuntimeContext: deep_sleep, hard_reset, identity (the firmware's flavour and board)

    def request_hard_reset(self, safe_boot: bool, marked: bool = False) -> None: ...
    def set_kbd_intr(self, char: int, reset_char: int | None) -> None: ...


class RuntimeService:
    """machine.reset(), machine.deepsleep(), pycom.bootmgr(reset=True), micropython.kbd_intr() -> the supervisor;
    help() texts."""

    name = "runtime"

    def __init__(self, runtime: RuntimeControl) -> None:
        self.runtime = runtime

    async def call(self, method: str, args: list, conn: BridgeConnection) -> Any:
        if method == "hard_reset":
            safe, marked = bool(args[0]) if args else False, len(args) > 1 and bool(args[1])
            asyncio.get_running_loop().call_soon(self.runtime.request_hard_reset, safe, marked)
            return None
        if method == "deepsleep":  # machine.deepsleep([time_ms])
            time_ms = None if not args or args[0] is None else max(0, int(args[0]))
            ctx = self.runtime.ctx  # a board without sleep support resets, as the port does if the sleep returns
            sleep = getattr(ctx, "deep_sleep", None) or (lambda _ms: ctx.hard_reset(False))
            asyncio.get_running_loop().call_soon(sleep, time_ms)
            return None
        if method == "bye":  # the interpreter exits: release its IRQ thread first
            conn.release()
            return None
        if method == "help":  # help() / help('modules') as the firmware prints them
            ident = self.runtime.ctx.identity
            return help_text(ident.flavour, ident.board_name, str(args[0]) if args else "")
        if method == "kbd_intr":
            self.runtime.set_kbd_intr(int(args[0]), None if len(args) < 2 or args[1] is None else int(args[1]))
            return None
        raise ValueError(f"unknown runtime method {method}")

    def interpreter_started(self, conn: BridgeConnection) -> None:
        pass

    def interpreter_stopped(self, hard: bool) -> None:
        pass


class _Alarm:
    def __init__(self, service: TimerService, tid: int, period: float, periodic: bool) -> None:
        self.service, self.tid, self.period, self.periodic = service, tid, period, periodic
        self.in_flight = False
        self.handle: asyncio.TimerHandle | None = None
        self.task: asyncio.Task | None = None

    def arm(self) -> None:
        self.handle = asyncio.get_running_loop().call_later(self.period, self.fire)

    def fire(self) -> None:
        if self.periodic:
            self.arm()
        if not self.in_flight:  # a slow handler coalesces ticks instead of queueing them without end
            self.in_flight = True
            self.task = asyncio.ensure_future(self.deliver())

    async def deliver(self) -> None:
        conn = self.service.conn
        try:
            if conn is not None:
                await conn.event("timer", "alarm", self.tid, ALARM_TIMEOUT)
        except (TimeoutError, ConnectionError):
            self.service.cancel(self.tid)  # the IRQ thread is dead or the interpreter gone
        except Exception:
            log.debug("timer alarm %s failed", self.tid, exc_info=True)
        finally:
            self.in_flight = False
            if not self.periodic:
                self.service.alarms.pop(self.tid, None)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()


class TimerService:
    """machine.Timer.Alarm: the host keeps time and sends "alarm" events to the device's IRQ thread."""

    name = "timer"

    def __init__(self) -> None:
        self.conn: BridgeConnection | None = None
        self.alarms: dict[int, _Alarm] = {}

    async def call(self, method: str, args: list, conn: BridgeConnection) -> Any:
        if method == "start":
            tid, period, periodic = int(args[0]), float(args[1]), bool(args[2])
            self.cancel(tid)
            alarm = self.alarms[tid] = _Alarm(self, tid, max(period, 0.0005), periodic)
            alarm.arm()
            return None
        if method == "cancel":
            self.cancel(int(args[0]))
            return None
        raise ValueError(f"unknown timer method {method}")

    def cancel(self, tid: int) -> None:
        alarm = self.alarms.pop(tid, None)
        if alarm is not None and alarm.task is not asyncio.current_task():
            alarm.cancel()
        elif alarm is not None and alarm.handle is not None:
            alarm.handle.cancel()

    def interpreter_started(self, conn: BridgeConnection) -> None:
        self.conn = conn

    def interpreter_stopped(self, hard: bool) -> None:
        for tid in list(self.alarms):
            with contextlib.suppress(Exception):
                self.cancel(tid)
        self.conn = None
