"""The board on the air: what to look for, how to find it, and a bleak client that logs what it does.

Used by `pytool deploy` (its advertise step) and by the pytest plugin's fixtures (pytool.hil.plugin).

Plain bleak throughout, so the same tests run on the OS Bluetooth stack with a real board and on pytool's
Bumble backend with a simulated one (the backend is chosen by `PYTOOL_BLE`, see pytool.ble).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

#: Where the client's log lines go: `log(text)`.
LogSink = Callable[[str], None]


@dataclass(frozen=True)
class BleTarget:
    """The board as seen over the air: its advertised name or its address (the address wins if both)."""

    name: str | None
    address: str | None = None
    scan_timeout: float = 20.0

    def matches(self, device: BLEDevice, adv: AdvertisementData | None = None) -> bool:
        """True if this advertisement comes from the board under test."""
        if self.address:
            return device.address.upper() == self.address.upper()
        local_name = adv.local_name if adv is not None else device.name
        return bool(self.name) and local_name == self.name

    def __str__(self) -> str:
        return f"address {self.address}" if self.address else f"name {self.name!r}"


async def find_device(target: BleTarget) -> BLEDevice | None:
    """Scan for the board (up to `target.scan_timeout` s); None if it does not advertise."""
    if target.address:
        return await BleakScanner.find_device_by_address(target.address, timeout=target.scan_timeout)
    return await BleakScanner.find_device_by_filter(target.matches, timeout=target.scan_timeout)


def _show(data: Any) -> str:
    raw = bytes(data)
    text = raw.hex(" ") if len(raw) <= 64 else raw[:64].hex(" ") + f" ... ({len(raw)} bytes)"
    return f"{text}  {raw[:64]!r}"


class LoggedBleakClient(BleakClient):
    """A BleakClient that writes one line per GATT operation (with its data) to a log sink."""

    def __init__(self, *args: Any, log: LogSink | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._log_sink = log or (lambda _line: None)
        self._t0 = time.monotonic()

    def _log(self, text: str) -> None:
        self._log_sink(f"ble +{time.monotonic() - self._t0:7.3f}s {text}")

    async def connect(self, *args: Any, **kwargs: Any) -> None:
        self._log(f"connect {self.address}")
        try:
            await super().connect(*args, **kwargs)
        except Exception as exc:
            self._log(f"connect failed: {type(exc).__name__}: {exc}")
            raise
        self._log(f"connected, MTU {self.mtu_size}")

    async def disconnect(self, *args: Any, **kwargs: Any) -> None:
        self._log("disconnect")
        await super().disconnect(*args, **kwargs)

    async def read_gatt_char(self, char: Any, **kwargs: Any) -> bytearray:
        try:
            value = await super().read_gatt_char(char, **kwargs)
        except Exception as exc:
            self._log(f"read {_uuid(char)} failed: {type(exc).__name__}: {exc}")
            raise
        self._log(f"read {_uuid(char)} -> {_show(value)}")
        return value

    async def write_gatt_char(self, char: Any, data: Any, response: bool | None = None) -> None:
        kind = "write" if response else "write (no response)" if response is False else "write (default)"
        try:
            await super().write_gatt_char(char, data, response)
        except Exception as exc:
            self._log(f"{kind} {_uuid(char)} <- {_show(data)} failed: {type(exc).__name__}: {exc}")
            raise
        self._log(f"{kind} {_uuid(char)} <- {_show(data)}")

    async def start_notify(self, char: Any, callback: Callable[..., Any], **kwargs: Any) -> None:
        uuid = _uuid(char)
        logged: Callable[..., Any]
        if inspect.iscoroutinefunction(callback):

            async def logged(sender: Any, data: bytearray) -> None:
                self._log(f"notification {uuid} -> {_show(data)}")
                await callback(sender, data)

        else:

            def logged(sender: Any, data: bytearray) -> None:
                self._log(f"notification {uuid} -> {_show(data)}")
                callback(sender, data)

        await super().start_notify(char, logged, **kwargs)
        self._log(f"subscribed to {uuid}")

    async def stop_notify(self, char: Any) -> None:
        await super().stop_notify(char)
        self._log(f"unsubscribed from {_uuid(char)}")


def _uuid(char: Any) -> str:
    return str(getattr(char, "uuid", char))
