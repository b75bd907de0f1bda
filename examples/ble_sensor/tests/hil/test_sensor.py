"""Over the air: the sensor example's notifications, reads and interval writes, with plain bleak."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import pytest
from bleak import BleakClient, BleakScanner

pytestmark = [pytest.mark.hil, pytest.mark.asyncio]

SERVICE = "7079746f-6f6c-0001-8000-73656e736f72"
READING = "7079746f-6f6c-0002-8000-73656e736f72"
INTERVAL = "7079746f-6f6c-0003-8000-73656e736f72"


def temperature(sample: int) -> int:
    """The simulated sensor's reading for a sample number (0.01 degC), as main.py computes it."""
    return 2000 + 50 * (sample % 20)


async def test_advertises_sensor_service(ble_target):
    complete = asyncio.Event()
    found: dict = {}

    def on_advertisement(device, adv):
        if ble_target.matches(device, adv):
            found["adv"] = adv
            if SERVICE in adv.service_uuids:
                complete.set()

    async with BleakScanner(detection_callback=on_advertisement, scanning_mode="active"):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), ble_target.scan_timeout)
    assert "adv" in found, f"no advertisement from {ble_target}"
    assert found["adv"].local_name == "PySensor"
    assert SERVICE in found["adv"].service_uuids


async def test_notifications_carry_consecutive_samples(ble_client: BleakClient):
    received: asyncio.Queue[bytes] = asyncio.Queue()
    await ble_client.start_notify(READING, lambda _char, data: received.put_nowait(bytes(data)))
    samples = []
    for _ in range(4):
        samples.append(struct.unpack("<Hh", await asyncio.wait_for(received.get(), 10)))
    await ble_client.stop_notify(READING)
    numbers = [n for n, _ in samples]
    assert numbers == list(range(numbers[0], numbers[0] + 4)), f"samples not consecutive: {samples}"
    assert all(t == temperature(n) for n, t in samples), f"readings do not follow the sensor model: {samples}"


async def test_read_returns_the_latest_sample(ble_client: BleakClient):
    """Reads answer the stored value: a consistent sample, newer ones as the loop stores them."""
    first = struct.unpack("<Hh", await ble_client.read_gatt_char(READING))
    assert first[1] == temperature(first[0])
    for _ in range(200):  # the loop stores a new sample every 200 ms; give it plenty of reads
        latest = struct.unpack("<Hh", await ble_client.read_gatt_char(READING))
        assert latest[1] == temperature(latest[0])
        if latest[0] != first[0]:
            break
        await asyncio.sleep(0.05)
    assert latest[0] > first[0], f"the loop stored no new sample: {first} then {latest}"


async def test_interval_write_changes_the_pace(ble_client: BleakClient, board):
    assert struct.unpack("<H", await ble_client.read_gatt_char(INTERVAL)) == (200,)
    await ble_client.write_gatt_char(INTERVAL, struct.pack("<H", 50), response=True)
    board.expect(r"interval set to 50 ms")
    assert struct.unpack("<H", await ble_client.read_gatt_char(INTERVAL)) == (50,)
    await ble_client.write_gatt_char(INTERVAL, b"\x01", response=True)
    board.expect(r"interval write ignored: 1 bytes")
    await ble_client.write_gatt_char(INTERVAL, struct.pack("<H", 200), response=True)
    board.expect(r"interval set to 200 ms")
