"""The same plain bleak script (scenario.py) against (a) simulated Pycom boards and (b) a plain Bumble peripheral;
and two bleak clients on two simulated boards at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import scenario
from bleak import BleakClient, BleakScanner
from bumble import hci
from mpremote.transport_serial import SerialTransport
from support.ble_peripheral import CONTROL_CHAR, NOTIFY_CHAR, READ_CHAR, READ_VALUE, RW_CHAR, TEST_SERVICE
from support.firmware import pycom_flash_image

import pytool.ble
from pytool.ble.address import READ_BASE_MAC, base_mac_from_output, bt_address
from pytool.sim.registry import SimRecord
from pytool.sim.testing import running_sim

pytestmark = pytest.mark.timeout(180)

FIRMWARE = "1.20.2.r4"
PYCOM_SERVICE = str(uuid.UUID(bytes=bytes(reversed(b"1234567890123456"))))  # Pycom's UUID buffers are little-endian
PYCOM_READ = "0000ff01-0000-1000-8000-00805f9b34fb"
PYCOM_RW = "0000ff02-0000-1000-8000-00805f9b34fb"
BOARD_SCRIPT = """
from network import Bluetooth
bt = Bluetooth()
bt.set_advertisement(name='{name}', service_uuid=b'1234567890123456')
bt.advertise(True)
srv = bt.service(uuid=b'1234567890123456', isprimary=True, nbr_chars=2)
rd = srv.characteristic(uuid=0xFF01, value=b'hello bleak', properties=Bluetooth.PROP_READ)
rw = srv.characteristic(uuid=0xFF02, value=b'initial')
got = []
def on_write(c, ev):
    got.append(ev[1])
rw.callback(trigger=Bluetooth.CHAR_WRITE_EVENT, handler=on_write)
"""


class Board:
    """A simulated LoPy4 running BOARD_SCRIPT, driven through its serial port (mpremote's raw REPL)."""

    def __init__(self, record: SimRecord, name: str) -> None:
        self.record = record
        self.name = name
        self.serial = SerialTransport(record.pty, 115200)
        self.serial.enter_raw_repl(soft_reset=False)
        self.serial.exec(BOARD_SCRIPT.format(name=name))

    async def exec(self, code: str) -> bytes:
        return await asyncio.to_thread(self.serial.exec, code)

    async def writes_seen(self, timeout: float = 10.0) -> bytes:
        """What the board's write callback recorded, once it has run: Pycom answers the write on the radio and
        queues the callback for the Python thread, so the reply can reach the client before the callback runs."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (seen := await self.exec("print(got)")) == b"[]\r\n" and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        return seen


@contextlib.contextmanager
def simulated_board(tmp_path: Path, name: str) -> Iterator[Board]:
    flash = pycom_flash_image(tmp_path / f"{name}.bin", FIRMWARE)
    with running_sim("lopy4", name=name, flash=flash) as record:
        sim = Board(record, name)
        try:
            yield sim
        finally:
            with contextlib.suppress(OSError):  # the board may have been killed: its pty is gone
                sim.serial.close()


@pytest.fixture
def ble(monkeypatch):
    pytool.ble.install()
    return monkeypatch


async def test_scenario_on_a_simulated_pycom_board(tmp_path, ble):
    with simulated_board(tmp_path, "bleakA") as board:
        ble.setenv("PYTOOL_BLE", "sim:bleakA")  # resolved through the simulator registry

        async def push(_client: BleakClient) -> bytes:
            await board.exec("rw.value(b'pushed')")  # Pycom: value() notifies the connected client
            return b"pushed"

        target = scenario.Target(
            name="bleakA",
            service=PYCOM_SERVICE,
            read_char=PYCOM_READ,
            read_value=b"hello bleak",
            rw_char=PYCOM_RW,
            notify_char=PYCOM_RW,
            mtu=200,  # Pycom's BT_MTU_SIZE_MAX answers our 517
            trigger_notify=push,
        )
        assert await scenario.run(target) == ["found", "services", "read-write", "notify", "disconnected"]
        assert await board.writes_seen() == b"[b'bleak was here']\r\n"  # the device callback saw the write


async def test_scenario_on_a_plain_bumble_peripheral(radio, ble):
    ble.setenv("PYTOOL_BLE", radio.transport)

    async def ask(client: BleakClient) -> bytes:
        await client.write_gatt_char(CONTROL_CHAR, b"n" + struct.pack("<HH", 1, 12), response=True)
        return struct.pack("<H", 0) + bytes(10)

    target = scenario.Target(
        name="pytool-periph",
        service=TEST_SERVICE,
        read_char=READ_CHAR,
        read_value=READ_VALUE,
        rw_char=RW_CHAR,
        notify_char=NOTIFY_CHAR,
        mtu=517,
        trigger_notify=ask,
    )
    assert await scenario.run(target) == ["found", "services", "read-write", "notify", "disconnected"]


async def test_two_clients_on_two_simulated_boards_at_once(tmp_path, ble):
    with simulated_board(tmp_path, "boardA") as board_a, simulated_board(tmp_path, "boardB") as board_b:
        assert board_a.record.hci == board_b.record.hci  # one shared radio
        ble.setenv("PYTOOL_BLE", "sim:boardA")

        async def session(board: Board) -> bytes:
            device = await BleakScanner.find_device_by_name(board.name, timeout=20)
            assert device is not None
            assert device.details.address_type == hci.Address.PUBLIC_DEVICE_ADDRESS  # an ESP32's MAC
            target = device if board is board_a else device.address  # by address string: typed by a scan
            async with BleakClient(target, timeout=20) as client:
                await client.write_gatt_char(PYCOM_RW, f"for {board.name}".encode(), response=True)
                return bytes(await client.read_gatt_char(PYCOM_RW))

        assert await asyncio.gather(session(board_a), session(board_b)) == [b"for boardA", b"for boardB"]
        assert await board_a.writes_seen() == b"[b'for boardA']\r\n"
        assert await board_b.writes_seen() == b"[b'for boardB']\r\n"


async def test_simulated_board_killed_mid_connection_fires_disconnected_callback(tmp_path, ble):
    with simulated_board(tmp_path, "doomed") as board:
        ble.setenv("PYTOOL_BLE", board.record.hci)
        gone = asyncio.Event()
        device = await BleakScanner.find_device_by_name("doomed", timeout=20)
        assert device is not None
        async with BleakClient(device, disconnected_callback=lambda _c: gone.set(), timeout=20) as client:
            assert await client.read_gatt_char(PYCOM_READ) == b"hello bleak"
            os.kill(board.record.pid, signal.SIGKILL)  # power cut: no goodbye on the air
            await asyncio.wait_for(gone.wait(), 10)
            assert not client.is_connected


async def test_two_boards_with_one_name_are_told_apart_by_the_address_they_report(tmp_path, ble):
    """Both advertise 'LoPy' (issue 17): the address derived from what each board reports over serial (its base
    MAC) is the one the registry records and the one it uses on the air, so each client reaches its own board."""
    with simulated_board(tmp_path, "twinA") as board_a, simulated_board(tmp_path, "twinB") as board_b:
        ble.setenv("PYTOOL_BLE", "sim:twinA")
        for board in (board_a, board_b):
            await board.exec("bt.set_advertisement(name='LoPy', service_uuid=b'1234567890123456')")

        async def session(board: Board) -> bytes:
            reported = base_mac_from_output(await board.exec(READ_BASE_MAC))
            address = bt_address(reported)
            assert board.record.bt_address == address
            device = await BleakScanner.find_device_by_address(address, timeout=20)
            assert device is not None and device.name == "LoPy"
            async with BleakClient(device, timeout=20) as client:
                await client.write_gatt_char(PYCOM_RW, f"for {board.name}".encode(), response=True)
                return bytes(await client.read_gatt_char(PYCOM_RW))

        assert board_a.record.bt_address != board_b.record.bt_address
        assert await asyncio.gather(session(board_a), session(board_b)) == [b"for twinA", b"for twinB"]
        assert await board_a.writes_seen() == b"[b'for twinA']\r\n"
        assert await board_b.writes_seen() == b"[b'for twinB']\r\n"
