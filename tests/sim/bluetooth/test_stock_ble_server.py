"""A simulated stock ESP32 running `bluetooth.BLE` code (real MicroPython, real bridge, the NimBLE model on Bumble),
reached over the air by plain bleak through pytool's Bumble backend (PYTOOL_BLE) and by a Bumble tester."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError
from bumble.device import Advertisement
from stock_sim import find_by_name, open_tester, stock_board

import pytool.ble

pytestmark = [pytest.mark.timeout(180), pytest.mark.asyncio]

SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
CHAR_RWN = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
CHAR_R = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"

# The board's script: one service, a read/write/notify characteristic with a user descriptor, a read-only one;
# the IRQ handler prints every event with the types of its data tuple.
SERVER = """
import bluetooth
from micropython import const
ble = bluetooth.BLE()
ble.active(True)
events = []
kept = []
conns = []
refuse = [0]
def irq(event, data):
    events.append(event)
    kinds = ','.join(type(x).__name__ for x in data)
    print('IRQ', event, kinds)
    if event == 1:
        conns.append(data[0])
        kept.append(data[2])
        print('ADDR', bytes(data[2]).hex())
    if event == 3:
        print('WRITE', ble.gatts_read(data[1]))
    if event == 4:
        print('READREQ', data[1])
        return refuse[0]
ble.irq(irq)
SVC = bluetooth.UUID('6E400001-B5A3-F393-E0A9-E50E24DCCA9E')
RWN = (bluetooth.UUID('6E400002-B5A3-F393-E0A9-E50E24DCCA9E'),
       bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY,
       ((bluetooth.UUID(0x2901), bluetooth.FLAG_READ),))
RO = (bluetooth.UUID('6E400003-B5A3-F393-E0A9-E50E24DCCA9E'), bluetooth.FLAG_READ)
((h_rwn, h_desc, h_ro),) = ble.gatts_register_services(((SVC, (RWN, RO)),))
print('HANDLES', h_rwn, h_desc, h_ro)
ble.gatts_write(h_rwn, b'first')
ble.gatts_write(h_desc, b'a label')
ble.gatts_write(h_ro, b'read only')
ADV = b'\\x02\\x01\\x06\\x08\\x09StockBT'
RESP = b'\\x11\\x07' + bytes(SVC)
ble.gap_advertise(50000, ADV, resp_data=RESP)
print('ADVERTISING')
"""


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with stock_board(tmp_path_factory.mktemp("stockbt"), "stockbt-server") as (rec, serial):
        yield rec, serial


@pytest.fixture
async def server(board, monkeypatch):
    """The server script freshly started (soft reset first: the stack goes down with the interpreter)."""
    rec, serial = board
    serial.transport.enter_raw_repl(soft_reset=True)
    serial.seen = b""
    out = await serial.aexec(SERVER)
    assert b"HANDLES 12 14 16" in out, out  # NimBLE's layout: GAP 1-5, GATT 6-9, service 10, decl 11, value 12, ...
    monkeypatch.setenv("PYTOOL_BLE", rec.hci)
    pytool.ble.install()
    yield rec, serial


async def _find(name: str = "StockBT"):
    device = await BleakScanner.find_device_by_name(name, timeout=20)
    assert device is not None, f"{name} not advertising"
    return device


async def test_advertising_data_and_scan_response_as_given(server):
    rec, _serial = server
    async with open_tester(rec.hci) as tester:
        adv = await find_by_name(tester, "StockBT")
        assert adv.data_bytes == b"\x02\x01\x06\x08\x09StockBT", "gap_advertise sends adv_data byte for byte"
        found: dict = {}

        def on_report(report):  # raw reports (Bumble's own accumulator merges advertisement and scan response)
            parsed = Advertisement.from_advertising_report(report)
            if parsed is not None and parsed.address == adv.address and parsed.is_scan_response:
                found["rsp"] = parsed.data_bytes

        tester.host.on("advertising_report", on_report)
        await tester.start_scanning(active=True, legacy=True)
        for _ in range(100):
            if "rsp" in found:
                break
            await asyncio.sleep(0.05)
        await tester.stop_scanning()
    uuid_le = bytes.fromhex(SERVICE.replace("-", ""))[::-1]
    assert found.get("rsp") == b"\x11\x07" + uuid_le, "resp_data is the scan response, byte for byte"


async def test_bleak_connect_read_write_notify(server):
    _rec, serial = server
    device = await _find()
    async with BleakClient(device) as client:
        await serial.aread_until(b"IRQ 1 int,int,memoryview")
        assert bytes(await client.read_gatt_char(CHAR_RWN)) == b"first"
        await serial.aread_until(b"READREQ 12")
        await client.write_gatt_char(CHAR_RWN, b"hello", response=True)
        await serial.aread_until(b"WRITE b'hello'")
        assert bytes(await client.read_gatt_char(CHAR_RWN)) == b"hello"
        # a client write is cut to the 20 bytes modbluetooth allocates
        await client.write_gatt_char(CHAR_RWN, b"x" * 30, response=True)
        await serial.aread_until(b"WRITE b'" + b"x" * 20 + b"'")
        # notifications: gatts_notify with data, and gatts_write(send_update=True) to a subscribed client
        got: asyncio.Queue = asyncio.Queue()
        await client.start_notify(CHAR_RWN, lambda _c, data: got.put_nowait(bytes(data)))
        await serial.aexec("ble.gatts_notify(conns[-1], h_rwn, b'note')")
        assert await asyncio.wait_for(got.get(), 10) == b"note"
        await serial.aexec("ble.gatts_write(h_rwn, b'updated', True)")
        assert await asyncio.wait_for(got.get(), 10) == b"updated"
        with pytest.raises(BleakError):
            await client.write_gatt_char(CHAR_R, b"nope", response=True)  # READ only: WRITE_NOT_PERMITTED
    await serial.aread_until(b"IRQ 2 int,int,memoryview")


async def test_read_request_refusal_and_raising_handler(server):
    _rec, serial = server
    device = await _find()
    async with BleakClient(device) as client:
        await serial.aexec("refuse[0] = 0x05")
        with pytest.raises(BleakError) as refused:
            await client.read_gatt_char(CHAR_R)
        assert "0x05" in str(refused.value).lower() or "authentication" in str(refused.value).lower()
        await serial.aexec("refuse[0] = None")
        assert bytes(await client.read_gatt_char(CHAR_R)) == b"read only"
        # a handler that raises: traceback printed, handler disabled, the stack keeps answering
        await serial.aexec("def bad(e, d):\n    raise ValueError('boom')\nble.irq(bad)")
        assert bytes(await client.read_gatt_char(CHAR_R)) == b"read only"
        out = await serial.aread_until(b"ValueError: boom")
        assert b"Unhandled exception in IRQ callback handler" in out
        assert bytes(await client.read_gatt_char(CHAR_R)) == b"read only"
        assert (await serial.aeval("ble._handler")) == "None"
    assert serial.seen.count(b"ValueError: boom") == 1, "the disabled handler is not called again"


async def test_irq_memoryviews_are_valid_only_inside_the_handler(server):
    _rec, serial = server
    device = await _find()
    async with BleakClient(device):
        found = await serial.aread_match(rb"ADDR ([0-9a-f]{12})\r\n")
    inside = found.group(1).decode()
    assert inside != "000000000000"
    assert await serial.aeval("bytes(kept[0]).hex()") == repr("000000000000")
    assert await serial.aeval("len(kept[0])") == "6"


async def test_uuid_and_errors_as_modbluetooth(server):
    """UUIDs compare, print and convert like modbluetooth's; a stack call in the wrong state is OSError(errno)."""
    _rec, serial = server
    assert await serial.aeval("bluetooth.UUID(0x2901) == bluetooth.UUID(b'\\x01\\x29')") == "True"
    assert await serial.aeval("bluetooth.UUID(b'\\x01\\x29')") == "UUID(0x2901)"
    assert await serial.aeval("bytes(bluetooth.UUID('6E400001-B5A3-F393-E0A9-E50E24DCCA9E'))[-1]") == "110"
    # registering while advertising: NimBLE's ble_gatts_reset() refuses with BLE_HS_EBUSY
    assert await serial.aeval("(lambda: [ble.gatts_register_services(()) for _ in ()] or 0)()") == "0"
    out = await serial.aexec("try:\n ble.gatts_register_services(())\nexcept OSError as e:\n print(e.errno)")
    assert out.strip() == b"16"
    out = await serial.aexec("ble.active(False)\ntry:\n ble.config('mac')\nexcept OSError as e:\n print(e.errno)")
    assert out.strip() == b"19"
    out = await serial.aexec("try:\n ble.config('rxbuf')\nexcept ValueError as e:\n print(e)")
    assert out.strip() == b"unknown config param"
