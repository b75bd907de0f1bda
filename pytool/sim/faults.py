"""Fault injection for the simulated board: what a yanked cable, a resetting board, a noisy line, a power cut in
the middle of a flash write or a flaky BLE link do, on demand.

One `FaultInjector` per board (`board.faults`). It sits on three seams of the simulator:
- the wire: every byte the host sends (`host_to_board`) and the board sends (`board_to_host`) passes through it;
- the flash chip: every erase and program of the `FlashImage` (`flash_op`), at sector granularity;
- the board's Bluetooth service: connection events and advertising (`ble_refuse`, `ble_advertising_allowed`).

Faults (name: parameters):
- `cut`: the USB cable is pulled after `after_bytes` host bytes or `after_s` seconds: the pty's master is closed
  (the host's reads/writes fail as with a vanished /dev/ttyUSB0; the port's path disappears and `--port sim:NAME`
  says the cable is unplugged) and the RFC2217 client is disconnected. The cable comes back after `down_s`
  seconds as a NEW pty behind the same path (like a /dev/serial/by-id name). The board keeps running.
- `reset` / `brownout`: the board resets (EN pulse, POWERON_RESET) or browns out (the ESP32's
  "Brownout detector was triggered", RTCWDT_BROWN_OUT_RESET) after `after_bytes` host bytes.
- `flip` / `drop`: each byte on the wire (`direction`: host, board or both) has its bits flipped / is lost with
  probability `rate`, from a `seed`ed generator.
- `slow`: the line moves at most `bytes_per_s` bytes per second in each direction.
- `power-loss`: the supply fails during a flash sector operation (`op`: erase, program or any) after `skip`
  complete sector operations: that sector is left partly done as on NOR flash (its first `fraction` of bytes
  erased/programmed, the rest in its old state), the board is off for `off_s` seconds, then boots from flash.
  `unplug: true` = a USB-powered board whose cable is pulled: the host also loses the port (as `cut`).
- `ble-drop`: the connected BLE client's link is lost now (supervision timeout).
- `ble-refuse`: the next BLE connection is closed as soon as it is made (the board never sees it).
- `ble-stop-adv`: the board stops advertising (and, while the fault is set, cannot start again).

`repeat: true` re-arms a fault after it fires (byte counters restart); otherwise it fires once. Rate faults
(`flip`, `drop`, `slow`) act while set; one-shot `flip`/`drop` stop after the first byte they hit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytool.errors import UsageError
from pytool.sim.fault_catalogue import FAULTS

SECTOR = 0x1000
BROWNOUT_RESET = "0xf (RTCWDT_BROWN_OUT_RESET)"

_DIRECTIONS = ("host", "board", "both")
_FLASH_OPS = ("erase", "program", "any")


class PowerLoss(Exception):
    """The supply failed in the middle of a flash operation (the ROM stops dead)."""


@dataclass
class Fault:
    """One armed fault."""

    name: str
    params: dict[str, Any]
    repeat: bool = False
    fired: int = 0
    count: int = 0  # bytes or sector operations seen since (re)arming
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "repeat": self.repeat,
            "fired": self.fired,
            "seen": self.count,
        }


def make_fault(name: str, params: dict[str, Any] | None = None, repeat: bool = False) -> Fault:
    """A validated fault (UsageError naming the bad parameter otherwise)."""
    if name not in FAULTS:
        raise UsageError(f"unknown fault '{name}'", f"choose one of: {', '.join(FAULTS)}")
    params = dict(params or {})
    unknown = set(params) - set(FAULTS[name])
    if unknown:
        raise UsageError(
            f"fault '{name}' has no parameter {', '.join(sorted(unknown))}",
            f"its parameters: {', '.join(FAULTS[name]) or 'none'}",
        )
    merged = {k: params.get(k, v) for k, v in FAULTS[name].items()}
    _validate(name, merged)
    fault = Fault(name, merged, repeat)
    fault.rng = random.Random(merged.get("seed", 0))
    return fault


def _validate(name: str, p: dict[str, Any]) -> None:
    def number(key: str, low: float, high: float | None = None) -> None:
        value = p[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low or (high and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise UsageError(f"fault '{name}': {key} must be a number {bound}, not {value!r}")

    if name == "cut":
        if (p["after_bytes"] is None) == (p["after_s"] is None):
            raise UsageError("fault 'cut' needs exactly one of after_bytes or after_s", "e.g. after_bytes=1000")
        for key in ("after_bytes", "after_s"):
            if p[key] is not None:
                number(key, 0)
        number("down_s", 0, 3600)
    elif name in ("reset", "brownout"):
        number("after_bytes", 0)
    elif name in ("flip", "drop"):
        number("rate", 0, 1)
        number("seed", 0)
        if p["direction"] not in _DIRECTIONS:
            raise UsageError(f"fault '{name}': direction must be one of {', '.join(_DIRECTIONS)}")
    elif name == "slow":
        number("bytes_per_s", 1)
    elif name == "power-loss":
        if p["op"] not in _FLASH_OPS:
            raise UsageError(f"fault 'power-loss': op must be one of {', '.join(_FLASH_OPS)}")
        number("skip", 0)
        number("fraction", 0, 1)
        number("off_s", 0, 3600)
        if not isinstance(p["unplug"], bool):
            raise UsageError("fault 'power-loss': unplug must be true or false")


class FaultInjector:
    """The faults of one `SimBoard` (all methods run in the board's event-loop thread)."""

    def __init__(self, board: Any) -> None:
        self.board = board
        self.faults: list[Fault] = []
        self.injected: dict[str, int] = {}  # fault name -> times fired (for `status` and bench/reliability.py)
        self._unplugged = False
        self._slow_queues: dict[str, bytearray] = {"host": bytearray(), "board": bytearray()}
        self._slow_sinks: dict[str, Callable[[bytes], None]] = {}
        self._slow_timer: asyncio.TimerHandle | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._pacing = False  # the replugged pty paces like the one it replaces
        self._link: Path | None = None  # and is reached through the same stable link

    # ---- API (control socket) ------------------------------------------------------------------------------------

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """The control socket's `fault` operation: `{"op": "fault", "name": N, "params": {...}, "repeat": b}` arms
        a fault, `"clear": true` clears N (or every fault without a name); no name lists them."""
        name = request.get("name")
        if request.get("clear"):
            self.clear(name)
        elif name is not None:
            params = request.get("params") or {}
            if not isinstance(params, dict):
                raise UsageError("fault params must be an object")
            await self.arm(make_fault(str(name), params, bool(request.get("repeat", False))))
        return self.status()

    def status(self) -> dict[str, Any]:
        return {"faults": [f.to_json() for f in self.faults], "injected": dict(self.injected)}

    async def arm(self, fault: Fault) -> None:
        """Set `fault`; time-based and immediate faults start now."""
        if fault.name.startswith("ble-"):
            self._bt()
        self.faults.append(fault)
        if fault.name == "cut" and fault.params["after_s"] is not None:
            self._later(fault.params["after_s"], lambda: self._fire_cut(fault))
        elif fault.name == "ble-drop":
            self.faults.remove(fault)  # immediate: nothing stays armed
            await self._ble_drop()
            self._fired(fault)
        elif fault.name == "ble-stop-adv":
            await self._ble_stop_advertising()
            self._fired(fault, keep=True)  # stays set: advertising cannot restart until cleared

    def clear(self, name: str | None = None) -> None:
        """Clear the faults called `name` (all when None); a slowed line delivers what it still holds."""
        if name is not None and name not in FAULTS:
            raise UsageError(f"unknown fault '{name}'", f"choose one of: {', '.join(FAULTS)}")
        self.faults = [f for f in self.faults if name is not None and f.name != name]
        if not self._active("slow"):
            self._flush_slow()

    def _active(self, name: str) -> list[Fault]:
        return [f for f in self.faults if f.name == name]

    def _fired(self, fault: Fault, keep: bool = False) -> None:
        fault.fired += 1
        fault.count = 0
        self.injected[fault.name] = self.injected.get(fault.name, 0) + 1
        if not fault.repeat and not keep and fault in self.faults:
            self.faults.remove(fault)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self._timers.append(self.board.loop.call_later(delay, fn))

    # ---- the wire ------------------------------------------------------------------------------------------------

    def host_to_board(self, data: bytes, deliver: Callable[[bytes], None]) -> None:
        """Bytes from the host: counted, possibly corrupted, cut short, or delayed; then `deliver`ed."""
        if self._unplugged:
            return
        if not self.faults:
            self._deliver(deliver, data)
            return
        for fault in self.faults:
            if fault.name in ("cut", "reset", "brownout") and fault.params.get("after_bytes") is not None:
                left = int(fault.params["after_bytes"]) - fault.count
                if left < len(data):
                    self._through(data[: max(left, 0)], "host", deliver)
                    self._trip(fault)
                    return
                fault.count += len(data)
        self._through(data, "host", deliver)

    def board_to_host(self, data: bytes, transmit: Callable[[bytes], None]) -> None:
        """Bytes the board sends: possibly corrupted or delayed; nothing while the cable is out."""
        if self._unplugged:
            return
        if not self.faults:
            transmit(data)
            return
        self._through(data, "board", transmit)

    def _through(self, data: bytes, side: str, sink: Callable[[bytes], None]) -> None:
        for fault in self.faults[:]:
            if fault.name in ("flip", "drop") and fault.params["direction"] in (side, "both") and data:
                data = self._noise(fault, data)
        if self._active("slow"):
            self._slow_sinks[side] = sink
            self._slow_queues[side] += data
            self._pump_slow()
        elif data:
            self._deliver(sink, data) if side == "host" else sink(data)

    def _noise(self, fault: Fault, data: bytes) -> bytes:
        rate = float(fault.params["rate"])
        out = bytearray()
        for byte in data:
            if rate and fault in self.faults and fault.rng.random() < rate:
                self._fired(fault)
                if fault.name == "flip":
                    out.append(byte ^ (1 << fault.rng.randrange(8)))
                continue  # dropped
            out.append(byte)
        return bytes(out)

    def _deliver(self, deliver: Callable[[bytes], None], data: bytes) -> None:
        with contextlib.suppress(PowerLoss):  # the board is already going down (see _power_loss)
            deliver(data)

    def _pump_slow(self) -> None:
        if self._slow_timer is not None:
            return
        faults = self._active("slow")
        if not faults:
            self._flush_slow()
            return
        tick = 0.01
        budget = max(1, int(float(faults[0].params["bytes_per_s"]) * tick))
        for side, queue in self._slow_queues.items():
            if queue:
                chunk = bytes(queue[:budget])
                del queue[:budget]
                sink = self._slow_sinks[side]
                self._deliver(sink, chunk) if side == "host" else sink(chunk)
        if any(self._slow_queues.values()):
            self._slow_timer = self.board.loop.call_later(tick, self._slow_tick)

    def _slow_tick(self) -> None:
        self._slow_timer = None
        self._pump_slow()

    def _flush_slow(self) -> None:
        if self._slow_timer is not None:
            self._slow_timer.cancel()
            self._slow_timer = None
        for side, queue in self._slow_queues.items():
            if queue:
                chunk = bytes(queue)
                queue.clear()
                sink = self._slow_sinks[side]
                self._deliver(sink, chunk) if side == "host" else sink(chunk)

    def _trip(self, fault: Fault) -> None:
        if fault.name == "cut":
            self._fire_cut(fault)
            return
        self._fired(fault)
        if fault.name == "reset":
            self.board.reset()
        else:  # brownout
            board = self.board
            board.write(b"\r\nBrownout detector was triggered\r\n\r\n")
            board._cancel_strap()
            board._schedule(board._boot(False, BROWNOUT_RESET))

    # ---- the cable -----------------------------------------------------------------------------------------------

    def _fire_cut(self, fault: Fault) -> None:
        if fault not in self.faults or self._unplugged:
            return
        self._fired(fault)
        self.unplug(float(fault.params["down_s"]))

    def unplug(self, down_s: float, power_on: bool = False) -> None:
        """Pull the USB cable: the host loses the port at once; it is back (as a new pty) after `down_s`, powering
        the board on first when `power_on` (a bus-powered board)."""
        from pytool.sim.serial_port import PtyPort, Rfc2217Port

        self._unplugged = True
        for queue in self._slow_queues.values():
            queue.clear()
        board = self.board
        self._publish_pty("")  # `sim:NAME` is "unplugged" now, not a path that may soon be someone else's
        for fe in list(board.front_ends):
            if isinstance(fe, PtyPort):
                self._pacing, self._link = fe._pacing, fe._link
                board.front_ends.remove(fe)
                fe.close()  # its link goes, the slave's reads and writes fail (EIO) and /dev/pts/N disappears
                board.port_open(fe, False)
            elif isinstance(fe, Rfc2217Port) and fe._conn is not None:
                with contextlib.suppress(OSError):
                    fe._conn.shutdown(2)
        self._later(down_s, lambda: self._replug(power_on))

    def _replug(self, power_on: bool) -> None:
        from pytool.sim.serial_port import PtyPort

        board = self.board
        if power_on:
            board.power_on()
        pty = PtyPort(board, board.loop, self._pacing, self._link)
        board.attach(pty)
        board.on_shutdown.append(pty.close)
        self._unplugged = False
        self._publish_pty(pty.port)

    def _publish_pty(self, path: str) -> None:
        """Update this board's registry record: its serial port is now `path` ("" = unplugged)."""
        from pytool.sim import registry

        for record in registry.running():
            if record.name == self.board.name and record.pid == os.getpid():
                record.pty = path
                registry.register(record)

    # ---- the flash chip ------------------------------------------------------------------------------------------

    def flash_op(self, image: Any, kind: str, offset: int, length: int, data: bytes = b"") -> None:
        """Called by `FlashImage` before an erase or program of [offset, offset+length): when a `power-loss` fault
        falls inside it, do the part that completes, leave one sector partly done and raise PowerLoss."""
        faults = [f for f in self._active("power-loss") if f.params["op"] in (kind, "any")]
        if not faults or length <= 0:
            return
        fault = faults[0]
        pos, end = offset, offset + length
        while pos < end:  # one sector-sized (or sector-bounded) piece at a time
            piece_end = min(end, (pos // SECTOR + 1) * SECTOR)
            if fault.count >= int(fault.params["skip"]):
                cut = pos + int((piece_end - pos) * float(fault.params["fraction"]))
                self._fired(fault)
                self._partial(image, kind, offset, cut, data)
                self._power_loss(float(fault.params["off_s"]), bool(fault.params["unplug"]))
                raise PowerLoss(f"power lost during {kind} at 0x{pos:x}")
            fault.count += 1
            pos = piece_end

    @staticmethod
    def _partial(image: Any, kind: str, offset: int, upto: int, data: bytes) -> None:
        """Apply the operation on [offset, upto) only (the bytes done before the power failed)."""
        if upto <= offset:
            return
        hook, image.faults = image.faults, None
        try:
            if kind == "erase":
                image.erase(offset, upto - offset)
            else:
                image.write(offset, data[: upto - offset])
        finally:
            image.faults = hook

    def _power_loss(self, off_s: float, unplug: bool) -> None:
        board = self.board
        board.power(False)
        if unplug:  # the supply comes back with the cable, before the port reappears
            self.unplug(off_s, power_on=True)
        else:
            self._later(off_s, board.power_on)

    # ---- Bluetooth -----------------------------------------------------------------------------------------------

    def _bt(self) -> Any:
        service = self.board.services.get("bt")
        if service is None:
            raise UsageError("this simulator has no Bluetooth", "BLE faults need the radio (pytool.sim.bluetooth)")
        service.faults = self  # its connection and advertising hooks ask us from now on
        return service

    async def _ble_drop(self) -> None:
        service = self._bt()
        client = getattr(service, "client", None)
        if client is None:
            raise UsageError("no BLE client is connected to this board", "connect one first, then drop its link")
        from bumble import hci

        await client.disconnect(reason=hci.HCI_CONNECTION_TIMEOUT_ERROR)

    def ble_refuse(self, connection: Any) -> bool:
        """Called by the Bluetooth service on every incoming connection: True = it is closed at once and the board
        never sees it (`ble-refuse`)."""
        for fault in self._active("ble-refuse"):
            self._fired(fault)
            self.board.loop.create_task(self._refuse(connection))
            return True
        return False

    async def _refuse(self, connection: Any) -> None:
        """Close the connection; the board keeps advertising (connecting stopped its advertiser)."""
        await connection.disconnect()
        service = self.board.services.get("bt")
        if service is not None and service.advertising and service.device is not None:
            await service._start_advertising()

    def ble_advertising_allowed(self) -> bool:
        """False while `ble-stop-adv` is set."""
        return not self._active("ble-stop-adv")

    async def _ble_stop_advertising(self) -> None:
        service = self._bt()
        device = getattr(service, "device", None)
        if device is not None:
            await device.stop_advertising()


def describe(status: dict[str, Any]) -> str:
    """One line per armed fault, for `pytool sim fault`."""
    lines = [
        f"{f['name']} {' '.join(f'{k}={v}' for k, v in f['params'].items() if v is not None)}"
        f"{' (repeat)' if f['repeat'] else ''} fired {f['fired']}x"
        for f in status.get("faults", [])
    ]
    injected = ", ".join(f"{k} {v}" for k, v in sorted(status.get("injected", {}).items()))
    return "\n".join(lines or ["no faults armed"]) + (f"\ninjected so far: {injected}" if injected else "")
