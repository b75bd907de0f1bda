"""Plumbing both simulated Bluetooth stacks share (Pycom's `service.py`, stock MicroPython's `nimble.py`): joining
the shared radio, taking the board's public address, leaving the air."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bumble import hci
from bumble.device import Device
from bumble.transport import open_transport

from pytool.sim.radio import HCI_Write_BD_ADDR_Command, ensure_radio


def colon(mac: bytes) -> str:
    """b"\\x24\\x0a..." -> "24:0A:..." (Bumble's address notation)."""
    return ":".join(f"{b:02X}" for b in mac)


async def join_radio(transport: str) -> tuple[str, Any]:
    """An HCI transport on the radio hub at `transport`: (the hub's transport, the HCI transport). The hub outlives
    every registered simulator; should it have died anyway, a new one is started."""
    try:
        return transport, await open_transport(transport)
    except OSError:
        transport = await asyncio.to_thread(ensure_radio)
        return transport, await open_transport(transport)


async def set_public_address(device: Device, mac: bytes) -> None:
    """Give a powered-on `device` the board's Bluetooth MAC as its public address (controller and host)."""
    public = hci.Address(colon(mac), hci.Address.PUBLIC_DEVICE_ADDRESS)
    await device.host.send_sync_command(HCI_Write_BD_ADDR_Command(bd_addr=public))
    device.public_address = public


async def power_off(device: Device | None, transport: Any) -> None:
    """Drop the links (peers see the disconnection) and leave the air."""
    if device is not None:
        for connection in list(device.connections.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.disconnect(), 2)
    if transport is not None:
        with contextlib.suppress(Exception):
            await transport.close()


async def quietly(awaitable: Any) -> None:
    """Await `awaitable`, ignoring its failure (a link that is already gone, say)."""
    with contextlib.suppress(Exception):
        await awaitable
