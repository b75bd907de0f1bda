"""Over the air, checked through device_lib's probe: what the board's callbacks did, not what they printed."""

from __future__ import annotations

import pytest
from bleak import BleakClient

pytestmark = [pytest.mark.hil, pytest.mark.asyncio]

TEMP = "7079746f-6f6c-0021-8000-746865726d6f"
SETPOINT = "7079746f-6f6c-0022-8000-746865726d6f"


async def test_typed_values_are_read_as_declared(ble_client: BleakClient):
    assert bytes(await ble_client.read_gatt_char(TEMP)) == (215).to_bytes(2, "little", signed=True)
    assert bytes(await ble_client.read_gatt_char(SETPOINT)) == b"\x14"


async def test_write_is_recorded_by_the_probe(ble_client: BleakClient, probe, board):
    await ble_client.write_gatt_char(SETPOINT, b"\x16", response=True)
    event = probe.wait_for("write", "setpoint")
    assert event.data == b"\x16"
    assert len(probe.events("write", "setpoint")) == 1
    board.expect(r"setpoint is now 22")


async def test_handler_exception_is_contained(ble_client: BleakClient, probe):
    await ble_client.write_gatt_char(SETPOINT, b"\x28", response=True)  # 40: the handler raises
    error = probe.wait_for("error", "setpoint")
    assert "too high" in error.data
    # callbacks still run: the next write reaches the handler
    await ble_client.write_gatt_char(SETPOINT, b"\x15", response=True)
    assert probe.wait_for("write", "setpoint", count=2).data == b"\x15"
    assert [e.data for e in probe.events("write", "setpoint")] == [b"\x28", b"\x15"]
