"""Transport selection (PYTOOL_BLE, sim:NAME, the runner), transport loss and recovery, and the data conversions."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakError
from bumble import core
from bumble.core import AdvertisingData
from hypothesis import given
from hypothesis import strategies as st
from support.ble_peripheral import MANUFACTURER_DATA, MANUFACTURER_ID, READ_CHAR, READ_VALUE, TEST_SERVICE

import pytool.ble
from pytool.ble import host as ble_host
from pytool.ble.convert import advertisement_data, bumble_uuid, uuid_str
from pytool.errors import PytoolError
from pytool.sim import registry

pytestmark = pytest.mark.timeout(60)


class Relay:
    """A TCP relay in front of the radio (127.0.0.1), whose connections a test can cut like a pulled cable."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"tcp-client:127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    def cut(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


async def test_lost_transport_disconnects_and_next_use_opens_a_new_host(radio, peripheral, monkeypatch):
    pytool.ble.install()
    relay = Relay(radio.hub.port)
    monkeypatch.setenv("PYTOOL_BLE", await relay.start())
    try:
        gone = asyncio.Event()
        client = BleakClient(peripheral.address, disconnected_callback=lambda c: gone.set(), timeout=10)
        await client.connect()
        lost_host = ble_host.open_hosts()[0]
        relay.cut()  # the dongle is unplugged
        await asyncio.wait_for(gone.wait(), 10)
        assert not client.is_connected and lost_host.lost
        with pytest.raises(BleakError):
            await client.read_gatt_char(READ_CHAR)
        await client.disconnect()  # harmless when already gone

        await client.connect()  # recovered: a fresh host on a fresh connection
        assert ble_host.open_hosts()[0] is not lost_host
        assert await client.read_gatt_char(READ_CHAR) == READ_VALUE
        await client.disconnect()
        assert ble_host.open_hosts() == []
    finally:
        await relay.close()


async def test_unreachable_transport_is_bluetooth_not_available(unused_tcp_port, monkeypatch):
    pytool.ble.install()
    monkeypatch.setenv("PYTOOL_BLE", f"tcp-client:127.0.0.1:{unused_tcp_port}")
    with pytest.raises(BleakBluetoothNotAvailableError) as error:
        await BleakScanner.discover(timeout=0.1)
    assert "cannot open Bluetooth transport" in str(error.value) and "PYTOOL_BLE" in error.value.hint
    assert isinstance(error.value.as_pytool_error(), PytoolError)


async def test_sim_name_resolves_through_the_simulator_registry(radio, peripheral, monkeypatch):
    pytool.ble.install()
    registry.register(registry.SimRecord(name="board1", board="lopy4", pid=os.getpid(), pty="", hci=radio.transport))
    registry.register(registry.SimRecord(name="mute", board="lopy4", pid=os.getpid(), pty=""))
    monkeypatch.setenv("PYTOOL_BLE", "sim:board1")
    device = await BleakScanner.find_device_by_name("pytool-periph", timeout=10)
    assert device is not None and device.address == peripheral.address
    with pytest.raises(PytoolError, match="no simulator named 'ghost'"):
        pytool.ble.resolve_transport("sim:ghost")
    with pytest.raises(PytoolError, match="has no Bluetooth radio"):
        pytool.ble.resolve_transport("sim:mute")
    monkeypatch.delenv("PYTOOL_BLE")
    with pytest.raises(PytoolError, match="no Bluetooth transport configured"):
        pytool.ble.resolve_transport()


async def test_explicit_backend_argument_works_without_install(radio, peripheral):
    pytool.ble.uninstall()
    try:
        args = {"transport": radio.transport}
        scanner = BleakScanner(backend=pytool.ble.BumbleScanner, bumble=args)
        assert scanner.backend_id == "BumbleScanner"
        device = await BleakScanner.find_device_by_name(
            "pytool-periph", timeout=10, backend=pytool.ble.BumbleScanner, bumble=args
        )
        async with BleakClient(device, backend=pytool.ble.BumbleClient, bumble=args) as client:
            assert await client.read_gatt_char(READ_CHAR) == READ_VALUE
    finally:
        pytool.ble.install()


def test_runner_runs_an_unchanged_bleak_script(radio, peripheral, tmp_path):
    script = tmp_path / "plain_bleak.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, sys
            from bleak import BleakClient, BleakScanner

            async def main():
                device = await BleakScanner.find_device_by_name(sys.argv[1], timeout=10)
                async with BleakClient(device) as client:
                    print(client.backend_id, (await client.read_gatt_char("{READ_CHAR}")).decode())

            asyncio.run(main())
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytool.ble", "--transport", radio.transport, str(script), "pytool-periph"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"bumble {READ_VALUE.decode()}"


# -- conversions -------------------------------------------------------------------------------------------------


def test_echoed_scan_response_counts_once_and_names_fall_back_to_shortened():
    adv = [
        (AdvertisingData.SHORTENED_LOCAL_NAME, b"pyt"),
        (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, struct.pack("<HH", 0x180F, 0x180A)),
        (AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS, struct.pack("<I", 0x12345678)),
        (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, struct.pack("<H", MANUFACTURER_ID) + MANUFACTURER_DATA),
    ]
    data = advertisement_data(adv + adv, rssi=-61, previous=None, platform_data=())  # a stock virtual controller
    assert data.local_name == "pyt"
    assert data.service_uuids == [
        "0000180f-0000-1000-8000-00805f9b34fb",
        "0000180a-0000-1000-8000-00805f9b34fb",
        "12345678-0000-1000-8000-00805f9b34fb",
    ]
    assert data.manufacturer_data == {MANUFACTURER_ID: MANUFACTURER_DATA}
    assert (data.rssi, data.tx_power) == (-61, None)
    later = advertisement_data([(AdvertisingData.COMPLETE_LOCAL_NAME, b"pytool")], -55, data, ())
    assert later.local_name == "pytool" and later.service_uuids == data.service_uuids  # earlier data is kept


@given(st.uuids())
def test_uuid_strings_round_trip_through_bumble(value):
    text = str(value)
    assert uuid_str(bumble_uuid(text)) == text


def test_uuid_byte_order():
    assert uuid_str(core.UUID.from_16_bits(0x2A19)) == "00002a19-0000-1000-8000-00805f9b34fb"
    assert bumble_uuid(TEST_SERVICE).to_bytes() == bytes(reversed(bytes.fromhex(TEST_SERVICE.replace("-", ""))))
    assert bumble_uuid("180f") == core.UUID.from_16_bits(0x180F)


def test_benchmark_quick_mode_runs_and_reports_ratios():
    bench = Path(__file__).resolve().parents[2] / "bench" / "ble.py"
    result = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ratio bleak/raw" in result.stdout and "notify" in result.stdout
