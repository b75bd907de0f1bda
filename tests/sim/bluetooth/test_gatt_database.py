"""The simulated board's GATT database, seen over the air by bleak, is what a Pycom board's Bluedroid serves:
Bluedroid's GATT service at handle 1 (Service Changed + CCCD only: no 0x2B29 / 0x2B2A), its GAP service at 20
(Device Name, Appearance, Central Address Resolution) and the application's services from handle 40
(pytool/sim/bluetooth/bluedroid.py cites the ESP-IDF sources)."""

from __future__ import annotations

import pytest
from bleak import BleakClient
from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode

from pytool.ble import BumbleClient
from pytool.sim.bluetooth.service import BluetoothService

pytestmark = pytest.mark.timeout(90)

BOARD = "24:0A:C4:00:00:02"  # default base MAC + 2
PYCOM_SERVICE = "36353433-3231-3039-3837-363534333231"  # b'1234567890123456' read little-endian (4.3)
PYCOM_CHAR = "36353433-3231-3039-3837-363534336261"  # b'ab34567890123456'


def short(uuid: str) -> str:
    """'00002a00-0000-1000-8000-00805f9b34fb' -> '2a00'; 128-bit UUIDs stay whole."""
    return uuid[4:8] if uuid.endswith("-0000-1000-8000-00805f9b34fb") else uuid


@pytest.fixture
async def board(hub):
    """A board's Bluetooth stack on a private radio hub, running Pycom's GATTSCharacteristic example."""
    bt = BluetoothService(hub.transport)

    async def rpc(method: str, *args):
        return await bt.call(method, list(args), None)

    await rpc("init", {})
    await rpc("set_advertisement", b"LoPy", None, None, b"1234567890123456")
    await rpc("advertise", True)
    first = await rpc("service", b"1234567890123456", True, 1, True)
    await rpc("characteristic", first, b"ab34567890123456", None, None, 5)
    second = await rpc("service", 1234, True, 2, True)
    await rpc("characteristic", second, 4567, None, 0x02, 0x1234)  # PROP_READ only
    yield hub.transport
    await bt.close()


async def test_services_and_characteristics_are_those_of_a_pycom_board(board):
    async with BleakClient(BOARD, backend=BumbleClient, bumble={"transport": board}, timeout=10) as client:
        layout = [
            (
                service.handle,
                short(service.uuid),
                [
                    (
                        char.handle,
                        short(char.uuid),
                        char.properties,
                        [(d.handle, short(d.uuid)) for d in char.descriptors],
                    )
                    for char in service.characteristics
                ],
            )
            for service in client.services
        ]
        assert layout == [
            (1, "1801", [(3, "2a05", ["indicate"], [(4, "2902")])]),
            (20, "1800", [(22, "2a00", ["read"], []), (24, "2a01", ["read"], []), (26, "2aa6", ["read"], [])]),
            (40, PYCOM_SERVICE, [(42, PYCOM_CHAR, ["read", "write", "notify"], [(43, "2902")])]),
            (44, "04d2", [(46, "11d7", ["read"], [(47, "2902")])]),
        ]
        assert await client.read_gatt_char("2a00") == b"LoPy"  # follows the advertised name
        assert await client.read_gatt_char("2a01") == b"\x00\x00"
        assert await client.read_gatt_char("2aa6") == b"\x00"
        with pytest.raises(BleakGATTProtocolError) as read_error:  # Bluedroid adds it with permissions 0
            await client.read_gatt_char("2a05")
        assert read_error.value.code == BleakGATTProtocolErrorCode.READ_NOT_PERMITTED
        with pytest.raises(BleakGATTProtocolError) as write_error:  # gap_proc_write_req
            await client.write_gatt_char("2a00", b"renamed", response=True)
        assert write_error.value.code == BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED
        assert await client.read_gatt_char("2a00") == b"LoPy"
        await client.write_gatt_char(PYCOM_CHAR, b"\x07", response=True)  # the application's service works
        assert await client.read_gatt_char(PYCOM_CHAR) == b"\x07"
