"""The simulated board's Bluetooth on a Bumble Device on the shared radio: Pycom `network.Bluetooth` semantics
(service "bt") and stock MicroPython's `bluetooth.BLE` on the ESP32 port's NimBLE (service "ble", `nimble.py`).

`install(board, loop)` is called once per simulator by the daemon: it makes sure the radio hub runs, registers
both bridge services in `board.services` (the firmware's device modules use the one of their flavour; each brings
its stack up only when device code asks) and returns the HCI transport testers use (the hub's).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pytool.sim.bluetooth.nimble import NimbleService
from pytool.sim.bluetooth.service import BluetoothService
from pytool.sim.radio import ensure_radio

__all__ = ["BluetoothService", "NimbleService", "install"]


def install(board: Any, loop: asyncio.AbstractEventLoop | None = None) -> str:
    """Register the "bt" service for `board` (anything with a `services` dict; `mac` and `board` used if present)
    and return the radio's transport string for the simulator's registry record."""
    transport = ensure_radio()
    mac = getattr(board, "mac", None)
    catalogue = getattr(board, "board", None)
    name = getattr(catalogue, "name", None) or "ESP32"
    service = BluetoothService(transport, mac=mac, board_name=str(name))
    board.services["bt"] = service
    stock = board.services["ble"] = NimbleService(transport, mac=mac)
    hooks = getattr(board, "on_shutdown", None)
    if hooks is not None:
        hooks.append(service.close)  # the board's controller leaves the air with the simulator
        hooks.append(stock.close)
    return transport
