"""Plain bleak code (no backend= argument; PYTOOL_BLE picks Bumble) against a plain Bumble GATT peripheral."""

from __future__ import annotations

import asyncio
import os
import signal
import struct

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import (
    BleakCharacteristicNotFoundError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from bumble import gatt_client, hci
from support.ble_peripheral import (
    APP_ERROR,
    BATTERY,
    BATTERY_LEVEL,
    BATTERY_SERVICE,
    CONFIG_DESC,
    CONTROL_CHAR,
    HANG_CHAR,
    INDICATE_CHAR,
    LONG_CHAR,
    LONG_INITIAL,
    MANUFACTURER_DATA,
    MANUFACTURER_ID,
    NOTIFY_CHAR,
    READ_CHAR,
    READ_VALUE,
    RW_CHAR,
    SECRET_CHAR,
    SERVICE_DATA,
    TEST_SERVICE,
    TX_POWER,
    USER_DESCRIPTION,
    USER_DESCRIPTION_TEXT,
    spawn_peripheral,
)

from pytool.ble import host as ble_host

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("ble_env")]
CCCD = "00002902-0000-1000-8000-00805f9b34fb"


async def find(name: str, **kwargs) -> BLEDevice:
    device = await BleakScanner.find_device_by_name(name, timeout=10, **kwargs)
    assert device is not None, f"{name} not found"
    return device


# -- scanner ----------------------------------------------------------------------------------------------------


async def test_plain_bleak_picks_bumble_only_while_pytool_ble_is_set(monkeypatch):
    assert BleakScanner().backend_id == "bumble"
    assert BleakClient("C0:00:00:00:00:01").backend_id == "bumble"
    monkeypatch.delenv("PYTOOL_BLE")
    assert BleakScanner().backend_id != "bumble"  # bleak's own choice for this OS


async def test_discover_reports_complete_deduplicated_advertisement_data(peripheral):
    found = await BleakScanner.discover(timeout=1.5, return_adv=True)
    device, adv = found[peripheral.address]
    assert device.name == "pytool-periph"
    assert adv.local_name == "pytool-periph"
    assert adv.service_uuids == [BATTERY_SERVICE, TEST_SERVICE]  # each once, in advertised order
    assert adv.manufacturer_data == {MANUFACTURER_ID: MANUFACTURER_DATA}
    assert adv.service_data == {BATTERY_SERVICE: SERVICE_DATA}
    assert adv.tx_power == TX_POWER
    assert adv.rssi == -50  # what the virtual radio reports
    assert "pytool-periph-2" in {d.name for d, _ in found.values()}


async def test_passive_scan_sends_no_scan_request_so_sees_no_scan_response(peripheral):
    found = await BleakScanner.discover(timeout=1.5, return_adv=True, scanning_mode="passive")
    _, adv = found[peripheral.address]
    assert adv.service_uuids == [BATTERY_SERVICE, TEST_SERVICE]  # advertising data
    assert adv.local_name is None and adv.manufacturer_data == {}  # scan response data: not requested


async def test_find_by_name_address_and_service_filter(peripheral):
    by_name = await find("pytool-periph")
    assert by_name.address == peripheral.address
    by_address = await BleakScanner.find_device_by_address(peripheral.address.lower(), timeout=10)
    assert by_address is not None and by_address.name == "pytool-periph"
    filtered = await BleakScanner.discover(timeout=1.0, service_uuids=[TEST_SERVICE])
    assert peripheral.address in {d.address for d in filtered}
    nothing = await BleakScanner.discover(timeout=1.0, service_uuids=["0000feed-0000-1000-8000-00805f9b34fb"])
    assert nothing == []
    assert await BleakScanner.find_device_by_name("nobody-by-that-name", timeout=0.5) is None


async def test_detection_callbacks_and_advertisement_stream(peripheral):
    seen: list[tuple[BLEDevice, AdvertisementData]] = []
    got_two = asyncio.Event()

    def on_detect(device: BLEDevice, adv: AdvertisementData) -> None:
        if device.address == peripheral.address:
            seen.append((device, adv))
            if len(seen) >= 2:
                got_two.set()

    async with BleakScanner(on_detect) as scanner:
        await asyncio.wait_for(got_two.wait(), 10)
        streamed: list[AdvertisementData] = []
        async with asyncio.timeout(10):
            async for device, adv in scanner.advertisement_data():
                if device.address == peripheral.address:
                    streamed.append(adv)
                    break
    assert all(adv.local_name == "pytool-periph" for _, adv in seen)
    assert streamed[0].tx_power == TX_POWER


# -- client -----------------------------------------------------------------------------------------------------


async def test_connect_exchanges_mtu_and_discovers_services(peripheral):
    device = await find("pytool-periph")
    async with BleakClient(device) as client:
        assert client.is_connected
        assert client.mtu_size == 517  # our offer and Bumble's server default
        services = client.services
        test = services.get_service(TEST_SERVICE)
        assert test is not None
        chars = {c.uuid: c for c in test.characteristics}
        assert set(chars) >= {READ_CHAR, RW_CHAR, LONG_CHAR, NOTIFY_CHAR, INDICATE_CHAR, CONTROL_CHAR, SECRET_CHAR}
        assert chars[RW_CHAR].properties == ["read", "write-without-response", "write"]
        assert chars[NOTIFY_CHAR].properties == ["notify"]
        assert chars[RW_CHAR].max_write_without_response_size == 514
        assert [d.uuid for d in chars[RW_CHAR].descriptors] == [USER_DESCRIPTION, CONFIG_DESC]
        assert [d.uuid for d in chars[INDICATE_CHAR].descriptors] == [CCCD]
        handles = sorted([s.handle for s in services] + list(services.characteristics) + list(services.descriptors))
        assert len(handles) == len(set(handles))  # every attribute has its own handle
        assert all(c.service_handle == test.handle for c in test.characteristics)
        assert services.get_characteristic(BATTERY_LEVEL).service_uuid == BATTERY_SERVICE  # 16-bit UUIDs
    assert not client.is_connected


async def test_connect_by_address_string_and_smaller_mtu_offer(peripheral):
    async with BleakClient(peripheral.address, bumble={"mtu": 100}) as client:
        assert client.mtu_size == 100
        assert await client.read_gatt_char(BATTERY_LEVEL) == bytearray([BATTERY])


async def test_read_write_characteristics_and_descriptors(peripheral):
    async with BleakClient(await find("pytool-periph")) as client:
        assert await client.read_gatt_char(READ_CHAR) == READ_VALUE
        await client.write_gatt_char(RW_CHAR, b"with response", response=True)
        assert peripheral.rw_value == b"with response"
        await client.write_gatt_char(RW_CHAR, b"without response", response=False)
        assert await client.read_gatt_char(RW_CHAR) == b"without response"  # the read follows the write
        assert await client.read_gatt_char(RW_CHAR, use_cached=True) == b"without response"
        assert await client.read_gatt_char(LONG_CHAR) == LONG_INITIAL

        rw = client.services.get_characteristic(RW_CHAR)
        user_description = rw.get_descriptor(USER_DESCRIPTION)
        config = rw.get_descriptor(CONFIG_DESC)
        assert await client.read_gatt_descriptor(user_description) == USER_DESCRIPTION_TEXT
        await client.write_gatt_descriptor(config.handle, b"\x2a\x2b")
        assert peripheral.config_value == b"\x2a\x2b"
        assert await client.read_gatt_descriptor(config.handle) == b"\x2a\x2b"


async def test_long_values_need_more_than_one_pdu(peripheral):
    async with BleakClient(await find("pytool-periph"), bumble={"mtu": 64}) as client:
        assert client.mtu_size == 64
        assert await client.read_gatt_char(LONG_CHAR) == LONG_INITIAL  # 300 bytes > MTU-1: read blob
        long_value = bytes(reversed(range(256))) + bytes(range(200))
        await client.write_gatt_char(LONG_CHAR, long_value, response=True)  # > MTU-3: prepared writes
        assert peripheral.long_value == long_value
        assert await client.read_gatt_char(LONG_CHAR) == long_value
        with pytest.raises(BleakGATTProtocolError) as too_long:  # ATT values are at most 512 bytes
            await client.write_gatt_char(LONG_CHAR, bytes(513), response=True)
        assert too_long.value.code == BleakGATTProtocolErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH
        await client.write_gatt_char(LONG_CHAR, LONG_INITIAL, response=True)


async def test_errors_map_to_bleak_exceptions(peripheral):
    async with BleakClient(await find("pytool-periph")) as client:
        with pytest.raises(BleakGATTProtocolError) as read_error:
            await client.read_gatt_char(SECRET_CHAR)
        assert read_error.value.code == BleakGATTProtocolErrorCode.READ_NOT_PERMITTED
        with pytest.raises(BleakGATTProtocolError) as write_error:
            await client.write_gatt_char(SECRET_CHAR, b"x", response=True)
        assert write_error.value.code == APP_ERROR
        with pytest.raises(BleakGATTProtocolError) as descriptor_error:
            user_description = client.services.get_characteristic(RW_CHAR).get_descriptor(USER_DESCRIPTION)
            await client.write_gatt_descriptor(user_description, b"no")
        assert descriptor_error.value.code == BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED
        with pytest.raises(BleakCharacteristicNotFoundError):
            await client.read_gatt_char("0000beef-0000-1000-8000-00805f9b34fb")
        with pytest.raises(BleakError, match="do not fit"):
            await client.write_gatt_char(RW_CHAR, bytes(600), response=False)
        with pytest.raises(BleakError, match="Operation is not supported"):  # as BlueZ: see test_property_checks
            await client.start_notify(READ_CHAR, lambda c, d: None)
        assert client.is_connected  # errors do not cost the connection


async def test_unknown_address_is_device_not_found():
    client = BleakClient("C0:FF:EE:C0:FF:EE", timeout=1.0)
    with pytest.raises(BleakDeviceNotFoundError) as error:
        await client.connect()
    assert error.value.identifier == "C0:FF:EE:C0:FF:EE"
    assert not client.is_connected
    assert ble_host.open_hosts() == []  # the failed attempt let go of its host


async def test_notifications_and_indications_arrive_in_order_until_stopped(peripheral):
    async with BleakClient(await find("pytool-periph")) as client:
        notified: list[int] = []
        indicated: list[int] = []
        got_all = asyncio.Event()

        def on_notify(char, data: bytearray) -> None:
            assert char.uuid == NOTIFY_CHAR and isinstance(data, bytearray)
            notified.append(struct.unpack_from("<H", data)[0])
            if len(notified) == 50:
                got_all.set()

        async def on_indicate(char, data: bytearray) -> None:  # bleak also takes coroutine callbacks
            indicated.append(struct.unpack_from("<H", data)[0])

        await client.start_notify(NOTIFY_CHAR, on_notify)
        await client.start_notify(INDICATE_CHAR, on_indicate)
        cccd = client.services.get_characteristic(NOTIFY_CHAR).get_descriptor(CCCD)
        assert await client.read_gatt_descriptor(cccd) == b"\x01\x00"
        indicate_cccd = client.services.get_characteristic(INDICATE_CHAR).get_descriptor(CCCD)
        assert await client.read_gatt_descriptor(indicate_cccd) == b"\x02\x00"

        await client.write_gatt_char(CONTROL_CHAR, b"n" + struct.pack("<HH", 50, 100), response=True)
        await asyncio.wait_for(got_all.wait(), 10)
        assert notified == list(range(50))

        await client.write_gatt_char(CONTROL_CHAR, b"i" + struct.pack("<HH", 5, 20), response=True)
        async with asyncio.timeout(10):
            while len(indicated) < 5:
                await asyncio.sleep(0.01)
        assert indicated == list(range(5))

        await client.stop_notify(NOTIFY_CHAR)
        assert await client.read_gatt_descriptor(cccd) == b"\x00\x00"
        await client.write_gatt_char(CONTROL_CHAR, b"n" + struct.pack("<HH", 5, 10), response=True)
        await client.read_gatt_char(READ_CHAR)  # a round trip after the (unsent) notifications
        assert len(notified) == 50


async def test_disconnected_callback_on_disconnect_and_reconnect(peripheral):
    calls: list[BleakClient] = []
    client = BleakClient(await find("pytool-periph"), disconnected_callback=calls.append)
    await client.connect()
    await client.disconnect()
    assert calls == [client] and not client.is_connected
    await client.connect()  # the same client object connects again
    assert await client.read_gatt_char(READ_CHAR) == READ_VALUE
    await client.disconnect()
    assert len(calls) == 2
    with pytest.raises(BleakError):
        await client.read_gatt_char(READ_CHAR)


async def test_peripheral_killed_mid_connection_fires_disconnected_callback(radio):
    proc, _ = spawn_peripheral(radio.transport, "pytool-doomed")
    try:
        gone = asyncio.Event()
        async with BleakClient(await find("pytool-doomed"), disconnected_callback=lambda c: gone.set()) as client:
            assert await client.read_gatt_char(READ_CHAR) == READ_VALUE
            stuck = asyncio.create_task(client.read_gatt_char(HANG_CHAR))  # a request the peer never answers
            await asyncio.sleep(0.2)
            assert not stuck.done()
            os.kill(proc.pid, signal.SIGKILL)
            await asyncio.wait_for(gone.wait(), 10)
            assert not client.is_connected
            with pytest.raises(BleakError, match="disconnected"):
                await asyncio.wait_for(stuck, 10)  # ended by the disconnection, not by the 30 s ATT timeout
            with pytest.raises(BleakError):
                await client.read_gatt_char(READ_CHAR)
    finally:
        proc.kill()
        proc.wait(10)


async def test_timeouts_are_builtin_timeout_errors(peripheral, monkeypatch):
    absent = BLEDevice("C0:AB:CD:EF:01:23", None, hci.Address("C0:AB:CD:EF:01:23"))  # typed: no scan first
    with pytest.raises(TimeoutError):
        await BleakClient(absent, timeout=0.5).connect()
    assert ble_host.open_hosts() == []  # nothing left behind (a host whose controller kept initiating is retired)
    monkeypatch.setattr(gatt_client, "GATT_REQUEST_TIMEOUT", 0.5)  # instead of the ATT's 30 s
    async with BleakClient(await find("pytool-periph")) as client:
        with pytest.raises(TimeoutError):
            await client.read_gatt_char(HANG_CHAR)


async def test_service_filter_limits_discovery(peripheral):
    async with BleakClient(await find("pytool-periph"), services=["180f"]) as client:
        assert [s.uuid for s in client.services] == [BATTERY_SERVICE]
        assert await client.read_gatt_char(BATTERY_LEVEL) == bytearray([BATTERY])


async def test_two_clients_connect_at_once_and_share_one_host(peripheral, peripheral2):
    first, second = await asyncio.gather(find("pytool-periph"), find("pytool-periph-2"))
    a, b = BleakClient(first), BleakClient(second)
    await asyncio.gather(a.connect(), b.connect())  # the host creates one connection at a time
    try:
        assert len(ble_host.open_hosts()) == 1
        values = await asyncio.gather(a.read_gatt_char(READ_CHAR), b.read_gatt_char(READ_CHAR))
        assert values == [READ_VALUE, READ_VALUE]
        await asyncio.gather(
            a.write_gatt_char(RW_CHAR, b"to a", response=True), b.write_gatt_char(RW_CHAR, b"to b", response=True)
        )
        assert (peripheral.rw_value, peripheral2.rw_value) == (b"to a", b"to b")
    finally:
        await asyncio.gather(a.disconnect(), b.disconnect())
    assert ble_host.open_hosts() == []


async def test_scanning_continues_while_a_client_connects(peripheral, peripheral2):
    seen_after_connect = asyncio.Event()
    connected = False

    def on_detect(device: BLEDevice, adv: AdvertisementData) -> None:
        if connected and device.address == peripheral2.address:
            seen_after_connect.set()

    async with BleakScanner(on_detect), BleakClient(await find("pytool-periph")) as client:
        connected = True
        assert await client.read_gatt_char(READ_CHAR) == READ_VALUE
        await asyncio.wait_for(seen_after_connect.wait(), 10)


async def test_pair(peripheral):
    async with BleakClient(await find("pytool-periph"), pair=True) as client:
        assert client._backend._connection.is_encrypted  # SMP ran (Just Works) and the link got encrypted
        assert await client.read_gatt_char(READ_CHAR) == READ_VALUE
