"""Client-side property checks, as bleak on BlueZ does them (default) or strict (`bumble={"checks": "strict"}`).

BlueZ (src/gatt-client.c): StartNotify on a characteristic with neither notify nor indicate is refused before any
ATT traffic (org.bluez.Error.NotSupported, raised by bleak as BleakDBusError); WriteValue with the type bleak
always passes ("request" / "command") is sent whatever the properties say, and the peripheral's answer decides.
The test peripheral's COMMAND_CHAR has only write-without-response but accepts every write, and READ_CHAR only
read (its server refuses writes with WRITE_NOT_PERMITTED), so what reaches the peripheral is visible.
"""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient
from bleak.exc import BleakDBusError, BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode
from support.ble_peripheral import COMMAND_CHAR, CONTROL_CHAR, LONG_CHAR, LONG_INITIAL, NOTIFY_CHAR, READ_CHAR, RW_CHAR

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("ble_env")]


async def _written(peripheral, uuid: str, value: bytes) -> bool:
    """Whether the peripheral received `value` on `uuid` (a write without response has no answer: poll a bit)."""
    for _ in range(50):
        if (uuid, value) in peripheral.writes:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_start_notify_without_notify_or_indicate_raises_what_bleak_raises_on_bluez(peripheral):
    async with BleakClient(peripheral.address, timeout=10) as client:
        for uuid in (READ_CHAR, CONTROL_CHAR, COMMAND_CHAR):
            with pytest.raises(BleakDBusError) as error:
                await client.start_notify(uuid, lambda _c, _d: None)
            assert error.value.dbus_error == "org.bluez.Error.NotSupported"
            assert str(error.value) == "[org.bluez.Error.NotSupported] Operation is not supported"
        await client.start_notify(NOTIFY_CHAR, lambda _c, _d: None)  # has notify: fine
        await client.stop_notify(NOTIFY_CHAR)
        assert client.is_connected


async def test_writes_go_to_the_peripheral_whatever_the_properties_as_on_bluez(peripheral):
    async with BleakClient(peripheral.address, timeout=10) as client:
        await client.write_gatt_char(COMMAND_CHAR, b"request anyway", response=True)  # no "write" property
        assert (COMMAND_CHAR, b"request anyway") in peripheral.writes
        await client.write_gatt_char(LONG_CHAR, b"command anyway", response=False)  # no write-without-response
        assert await _written(peripheral, LONG_CHAR, b"command anyway")
        await client.write_gatt_char(LONG_CHAR, LONG_INITIAL, response=True)  # the session's peripheral is shared
        with pytest.raises(BleakGATTProtocolError) as error:  # the peripheral refuses: its answer decides
            await client.write_gatt_char(READ_CHAR, b"x", response=True)
        assert error.value.code == BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED


async def test_strict_checks_refuse_writes_the_properties_do_not_allow_before_sending(peripheral):
    before = list(peripheral.writes)
    async with BleakClient(peripheral.address, timeout=10, bumble={"checks": "strict"}) as client:
        with pytest.raises(BleakGATTProtocolError) as error:
            await client.write_gatt_char(COMMAND_CHAR, b"refused", response=True)
        assert error.value.code == BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED
        with pytest.raises(BleakError, match="no write-without-response property"):
            await client.write_gatt_char(LONG_CHAR, b"refused", response=False)
        with pytest.raises(BleakDBusError, match="Operation is not supported"):
            await client.start_notify(READ_CHAR, lambda _c, _d: None)
        await client.write_gatt_char(COMMAND_CHAR, b"allowed", response=False)  # the properties allow these
        await client.write_gatt_char(RW_CHAR, b"allowed", response=True)
        assert await _written(peripheral, COMMAND_CHAR, b"allowed")
        assert client.is_connected
    assert b"refused" not in [value for _, value in peripheral.writes[len(before) :]]


def test_unknown_checks_mode_is_refused():
    with pytest.raises(ValueError, match="'bluez' or 'strict'"):
        BleakClient("AA:BB:CC:DD:EE:FF", bumble={"checks": "macos"})
