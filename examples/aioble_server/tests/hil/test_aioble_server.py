"""Over the air: the seed example's test file (examples/gatt_server/tests/hil/test_gatt_server.py) against its
aioble twin (main.py). The test code is unchanged: same UUIDs and expected bytes; only this docstring and two
comments differ. aioble must be on the board: conftest.py installs it from a micropython-lib checkout, or the
tests skip and say so.

Fixtures come from the `pytool.hil` pytest plugin: `board` (serial session and capture of what the board prints),
`ble_target`, `ble_device` (the board found by its advertised name), `ble_client` (a connected bleak client),
`fresh_board` (hard reset before the test, so the example's counters start from zero).
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from bleak import BleakClient, BleakScanner

pytestmark = [pytest.mark.hil, pytest.mark.asyncio]

# 16-byte UUIDs given as bytes (Pycom's API, bluetooth.UUID) are little-endian: the client sees them byte-reversed.
SERVICE_1 = "36353433-3231-3039-3837-363534333231"  # uuid=b'1234567890123456'
CHAR_1 = "36353433-3231-3039-3837-363534336261"  # uuid=b'ab34567890123456'
SERVICE_2 = "000004d2-0000-1000-8000-00805f9b34fb"  # uuid=1234
CHAR_2 = "000011d7-0000-1000-8000-00805f9b34fb"  # uuid=4567


async def test_advertisement_has_name_and_service_uuid(ble_target):
    """Advertising packet: the name 'LoPy'; scan response: the 128-bit service UUID."""
    found: dict = {}
    complete = asyncio.Event()

    def on_advertisement(device, adv):
        if ble_target.matches(device, adv):
            found["adv"] = adv
            if SERVICE_1 in adv.service_uuids:
                complete.set()

    async with BleakScanner(detection_callback=on_advertisement, scanning_mode="active"):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), ble_target.scan_timeout)
    assert "adv" in found, f"no advertisement from {ble_target} within {ble_target.scan_timeout} s"
    adv = found["adv"]
    assert adv.local_name == "LoPy"
    assert SERVICE_1 in adv.service_uuids, f"service UUIDs advertised: {adv.service_uuids}"
    assert adv.tx_power is not None, "set_advertisement puts the TX power level in the advertising packet"


async def test_services_and_characteristics(ble_client: BleakClient):
    """Two primary services, one characteristic each, with Pycom's default properties read|write|notify."""
    services = {s.uuid: s for s in ble_client.services}
    assert SERVICE_1 in services, f"services on the board: {sorted(services)}"
    assert SERVICE_2 in services, f"services on the board: {sorted(services)}"
    char1 = services[SERVICE_1].get_characteristic(CHAR_1)
    char2 = services[SERVICE_2].get_characteristic(CHAR_2)
    assert char1 is not None and char2 is not None
    for char in (char1, char2):
        assert {"read", "write", "notify"} <= set(char.properties), char.properties


async def test_char1_read_sequence(fresh_board, ble_client: BleakClient, board):
    """Reads 1-2 answer the stored value 5 and print on the board; from the third read on: 'ABC DEF'."""
    first = await ble_client.read_gatt_char(CHAR_1)
    board.expect(r"Read request on char 1")
    second = await ble_client.read_gatt_char(CHAR_1)
    board.expect(r"Read request on char 1")
    third = await ble_client.read_gatt_char(CHAR_1)
    fourth = await ble_client.read_gatt_char(CHAR_1)
    assert [bytes(first), bytes(second), bytes(third), bytes(fourth)] == [b"\x05", b"\x05", b"ABC DEF", b"ABC DEF"]
    assert board.count(r"Read request on char 1") == 2, "the third and fourth reads must not print"


async def callbacks_done(client: BleakClient) -> None:
    """Return once the board has run every characteristic callback queued so far.

    Pycom answers a write at once and runs its callback later, on the one thread that runs all callbacks, in
    order. A read of a characteristic with a read callback is answered when a callback of that characteristic
    returns, whichever it is: a read sent while the write's callback has printed but not yet returned gets that
    callback's answer (the stored value) and its own callback's answer is dropped. A read of CHAR_2 (which has its
    own read callback, queued behind all the others) is answered only after they have all returned."""
    await client.read_gatt_char(CHAR_2)


async def test_char1_write_prints_and_stores_value(fresh_board, ble_client: BleakClient, board):
    """A write runs the callback (which prints the value) and is stored: the next early read returns it."""
    await ble_client.write_gatt_char(CHAR_1, b"hello", response=True)
    board.expect(r"Write request with value = b'hello'")
    await callbacks_done(ble_client)  # the write's callback has printed; now it has returned too
    # The write counted as the handler's first call: this read is its second (stored value) ...
    assert bytes(await ble_client.read_gatt_char(CHAR_1)) == b"hello"
    board.expect(r"Read request on char 1")
    # ... and this one its third: 'ABC DEF' (on stock MicroPython main.py stores it: reads answer the stored value).
    assert bytes(await ble_client.read_gatt_char(CHAR_1)) == b"ABC DEF"
    await ble_client.write_gatt_char(CHAR_1, b"\x00\xffbin", response=True)
    board.expect(r"Write request with value = b'\\x00\\xffbin'")


async def test_char2_counter(fresh_board, ble_client: BleakClient):
    """Initial value 0x1234 (big-endian); then the counter, an int answered as one big-endian byte."""
    values = [bytes(await ble_client.read_gatt_char(CHAR_2)) for _ in range(4)]
    assert values == [b"\x12\x34", b"\xf2", b"\xf3", b"\xf4"]


async def test_connect_and_disconnect_events(ble_device, board):
    """The Bluetooth-level callback prints a line on each connection and disconnection."""
    async with BleakClient(ble_device) as client:
        assert client.is_connected
        board.expect(r"Client connected")
    board.expect(r"Client disconnected")
    # advertising resumes after the disconnection: the board can be connected again
    async with BleakClient(ble_device) as client:
        board.expect(r"Client connected")
        assert bytes(await client.read_gatt_char(CHAR_2)) != b""
    board.expect(r"Client disconnected")
