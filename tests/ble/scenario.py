"""One plain bleak script (no backend= anywhere; PYTOOL_BLE picks the stack), run against every kind of target:
a plain Bumble GATT peripheral and a simulated Pycom board."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData


@dataclass
class Target:
    """What the script needs to know about the device under test."""

    name: str  # advertised local name
    service: str  # a service UUID it advertises and serves
    read_char: str
    read_value: bytes
    rw_char: str  # readable and writable (with response)
    notify_char: str
    mtu: int  # the MTU the exchange ends with
    trigger_notify: Callable[[BleakClient], Awaitable[bytes]]  # make the device notify once; returns the payload


async def run(target: Target) -> list[str]:
    """The script; returns the steps it passed (each one asserts its outcome)."""
    steps: list[str] = []
    found: dict[str, AdvertisementData] = {}

    def is_target(device: BLEDevice, adv: AdvertisementData) -> bool:
        if adv.local_name == target.name and target.service in adv.service_uuids:
            found["adv"] = adv
            return True
        return False

    device = await BleakScanner.find_device_by_filter(is_target, timeout=20)
    assert device is not None, f"{target.name} not advertising {target.service}"
    steps.append("found")

    disconnects: list[BleakClient] = []
    client = BleakClient(device, disconnected_callback=disconnects.append, timeout=20)
    await client.connect()
    try:
        assert client.is_connected and client.mtu_size == target.mtu, client.mtu_size
        service = client.services.get_service(target.service)
        assert service is not None
        read_char, rw_char, notify_char = (
            service.get_characteristic(u) for u in (target.read_char, target.rw_char, target.notify_char)
        )
        assert read_char and rw_char and notify_char
        assert "read" in read_char.properties and "write" in rw_char.properties
        steps.append("services")

        assert await client.read_gatt_char(read_char) == target.read_value
        payload = b"bleak was here"
        await client.write_gatt_char(rw_char, payload, response=True)
        assert await client.read_gatt_char(rw_char) == payload
        steps.append("read-write")

        received: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(notify_char, lambda _c, data: received.put_nowait(bytes(data)))
        expected = await target.trigger_notify(client)
        notified = [await asyncio.wait_for(received.get(), 10)]
        while notified[-1] != expected:  # a device may notify its current value on subscription first (Pycom does)
            notified.append(await asyncio.wait_for(received.get(), 10))
        await client.stop_notify(notify_char)
        steps.append("notify")
    finally:
        await client.disconnect()
    assert disconnects == [client] and not client.is_connected
    steps.append("disconnected")
    return steps
