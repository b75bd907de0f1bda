"""The radio hub: real Bumble hosts over real TCP connections, one virtual controller each."""

from __future__ import annotations

import asyncio
import os

import pytest
from bumble.core import AdvertisingData
from bumble.device import Device
from bumble.hci import Address
from support.ble import bumble_host

from pytool.sim import radio, registry

pytestmark = pytest.mark.timeout(60)


async def scan_for(device: Device, address: str, timeout: float = 10.0):
    """The first complete advertisement (with scan response when active) from `address`."""
    found: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_adv(adv):
        if adv.address == Address(address) and not found.done():
            found.set_result(adv)

    device.on("advertisement", on_adv)
    await device.start_scanning(filter_duplicates=False)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        device.remove_listener("advertisement", on_adv)
        await device.stop_scanning()


async def test_two_hosts_discover_connect_and_see_peer_vanish(hub):
    async with (
        bumble_host(hub.transport, "C0:00:00:00:00:01", "board") as (board, _),
        bumble_host(hub.transport, "C0:00:00:00:00:02", "tester") as (tester, tester_hci),
    ):
        adv_data = bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, b"LoPy")]))
        rsp_data = bytes(AdvertisingData([(AdvertisingData.MANUFACTURER_SPECIFIC_DATA, b"\x4c\x00hi")]))
        await board.start_advertising(advertising_data=adv_data, scan_response_data=rsp_data)

        adv = await scan_for(tester, "C0:00:00:00:00:01")
        # The advertisement carries the name, the scan response the manufacturer data: both, once each
        assert bytes(adv.data) == adv_data + rsp_data
        assert adv.is_connectable

        board_side: asyncio.Future = asyncio.get_running_loop().create_future()
        board.on("connection", lambda c: board_side.done() or board_side.set_result(c))
        connection = await tester.connect("C0:00:00:00:00:01", timeout=10)
        board_connection = await asyncio.wait_for(board_side, 10)
        assert board_connection.peer_address == Address("C0:00:00:00:00:02")

        gone: asyncio.Future = asyncio.get_running_loop().create_future()
        board_connection.on("disconnection", lambda reason: gone.done() or gone.set_result(reason))
        await tester_hci.close()  # the tester goes away without a word
        reason = await asyncio.wait_for(gone, 10)
        assert reason == 0x08  # CONNECTION_TIMEOUT: as after a lost link's supervision timeout
        assert connection is not None
    await asyncio.sleep(0.1)
    assert hub.connections == 0


async def test_passive_scanner_gets_no_scan_response(hub):
    async with (
        bumble_host(hub.transport, "C0:00:00:00:00:11", "board") as (board, _),
        bumble_host(hub.transport, "C0:00:00:00:00:12", "tester") as (tester, _),
    ):
        adv_data = bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, b"X")]))
        rsp_data = bytes(AdvertisingData([(AdvertisingData.MANUFACTURER_SPECIFIC_DATA, b"\x01\x02")]))
        await board.start_advertising(advertising_data=adv_data, scan_response_data=rsp_data)
        found: asyncio.Future = asyncio.get_running_loop().create_future()
        tester.on("advertisement", lambda a: found.done() or found.set_result(a))
        await tester.start_scanning(active=False)
        adv = await asyncio.wait_for(found, 10)
        assert bytes(adv.data) == adv_data


def test_ensure_radio_starts_one_shared_hub_and_reuses_it():
    first = radio.ensure_radio(idle_exit=30)
    try:
        assert first.startswith("tcp-client:127.0.0.1:")
        record = radio.running_radio()
        assert record is not None and record["transport"] == first and record["pid"] != os.getpid()
        assert radio.ensure_radio() == first  # found through the record, not started twice
    finally:
        assert radio.stop_radio()
    assert radio.running_radio() is None


async def test_ensure_radio_hub_carries_traffic():
    transport = radio.ensure_radio(idle_exit=30)
    try:
        async with (
            bumble_host(transport, "C0:00:00:00:00:21", "a") as (a, _),
            bumble_host(transport, "C0:00:00:00:00:22", "b") as (b, _),
        ):
            await a.start_advertising(advertising_data=bytes(AdvertisingData([(AdvertisingData.FLAGS, b"\x06")])))
            connection = await b.connect("C0:00:00:00:00:21", timeout=10)
            assert connection.peer_address == Address("C0:00:00:00:00:21")
    finally:
        radio.stop_radio()


def test_hub_stays_while_a_simulator_is_registered():
    hub = radio.RadioHub(idle_exit=60)
    record = registry.SimRecord(name="b", board="lopy4", pid=os.getpid(), pty="/dev/null")
    registry.register(record)
    hub._idle_since -= 1000
    assert hub.unused_for() < 500  # a registered simulator keeps it in use
    registry.unregister("b")
    hub._idle_since -= 1000
    assert hub.unused_for() >= 1000


async def test_hub_formats_packets_for_its_log_only_when_debugging(hub, monkeypatch):
    """Bumble's controller builds a debug line (with the whole packet as text) for every HCI packet; the hub's
    controllers do that only when the `bumble.controller` logger is on DEBUG (issue 17: CPU with many boards)."""
    import logging

    from bumble import controller

    formatted = []
    original = controller.color
    monkeypatch.setattr(controller, "color", lambda *args: formatted.append(args) or original(*args))
    async with (
        bumble_host(hub.transport, "C0:00:00:00:00:05", "board") as (board, _),
        bumble_host(hub.transport, "C0:00:00:00:00:06", "tester") as (tester, _),
    ):
        await board.start_advertising(advertising_data=b"\x05\x09LoPy")
        adv = await scan_for(tester, "C0:00:00:00:00:05")
        assert bytes(adv.data).startswith(b"\x05\x09LoPy")  # the traffic went through the hub as before
        assert formatted == []
        level = controller.logger.level
        controller.logger.setLevel(logging.DEBUG)
        try:
            await scan_for(tester, "C0:00:00:00:00:05")
        finally:
            controller.logger.setLevel(level)
        assert formatted, "with DEBUG on, Bumble's own debug lines are there"
