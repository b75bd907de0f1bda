"""End to end: device scripts on simulated boards (real MicroPython, real bridge, the board's Bluetooth service)
reached over the air by a plain Bumble GATT client on the shared radio."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from bumble import att
from bumble.core import UUID, AdvertisingData
from bumble.device import Device, Peer
from bumble.hci import Address
from mpremote.transport import TransportError
from stock_sim import Serial
from support.ble import bumble_host
from support.firmware import pycom_flash_image

from pytool.sim.bluetooth import pycom
from pytool.sim.testing import running_sim

pytestmark = pytest.mark.timeout(120)

# The example of Pycom's GATTSCharacteristic page, unchanged: from `from network import Bluetooth` to the page's
# last line (shared/reference/pycom-docs-gattscharacteristic.txt)
EXAMPLE = Path(__file__).with_name("gattscharacteristic_example.txt")
TESTER = "C0:00:00:00:00:77"


@contextlib.contextmanager
def sim_board(tmp_path: Path, version: str, name: str):
    with running_sim("lopy4", name=name, flash=pycom_flash_image(tmp_path / f"{name}.bin", version)) as rec:
        serial = Serial(rec.pty)
        try:
            yield rec, serial
        finally:
            serial.close()


async def find_board(device: Device, name: str, timeout: float = 20.0):
    found = asyncio.get_running_loop().create_future()

    def on_adv(adv):
        if adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME) == name and not found.done():
            found.set_result(adv)

    device.on("advertisement", on_adv)
    await device.start_scanning()
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        device.remove_listener("advertisement", on_adv)
        await device.stop_scanning()


async def discover(device: Device, address: Address) -> Peer:
    peer = Peer(await device.connect(address, timeout=15))
    await peer.discover_services()
    for service in peer.services:
        await service.discover_characteristics()
    return peer


def char_of(peer: Peer, uuid: UUID):
    return next(c for s in peer.services for c in s.characteristics if c.uuid == uuid)


async def test_gattscharacteristic_example_on_1_20_1(tmp_path):
    with sim_board(tmp_path, "1.20.1", "example") as (rec, serial):
        with pytest.raises(TransportError, match="NameError"):
            await serial.aexec(EXAMPLE.read_text())  # the page's last line names an undefined `characteristic`
        async with bumble_host(rec.hci, TESTER) as (device, hci):
            adv = await find_board(device, "LoPy")
            # name in the advertisement, the service UUID in the scan response (Pycom >= 1.20.0.rc10)
            assert pycom.split_ad(bytes(adv.data))[1] == (0x09, b"LoPy")
            assert adv.data.get(AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS) == [
                UUID.from_bytes(b"1234567890123456")
            ]
            peer = await discover(device, adv.address)
            await serial.aread_until(b"Client connected")
            chr1 = char_of(peer, UUID.from_bytes(b"ab34567890123456"))
            chr2 = char_of(peer, UUID.from_16_bits(4567))
            # chr1: the first two reads print and answer the stored value 5 (big-endian constructor),
            # from the third read on the callback's 'ABC DEF' (never stored)
            assert [await chr1.read_value() for _ in range(4)] == [b"\x05", b"\x05", b"ABC DEF", b"ABC DEF"]
            # chr2: 0x1234 stored big-endian; the callback returns its counter once it exceeds 0xF1
            assert [await chr2.read_value() for _ in range(3)] == [b"\x12\x34", b"\xf2", b"\xf3"]
            await chr1.write_value(b"hello", with_response=True)
            seen = await serial.aread_until(b"Write request with value = b'hello'")
            assert seen.count(b"Read request on char 1") == 2  # printed by the first two reads only
            assert await serial.aexec("print(chr1.value(), chr2.value())") == b"b'hello' b'\\x124'\r\n"
            await hci.close()  # the tester is killed: its controller leaves the air
            await serial.aread_until(b"Client disconnected")
        # advertising resumed: another tester connects, and the board still counts chr2's reads
        async with bumble_host(rec.hci, "C0:00:00:00:00:79") as (device, _):
            peer = await discover(device, (await find_board(device, "LoPy")).address)
            assert await char_of(peer, UUID.from_16_bits(4567)).read_value() == b"\xf4"


HANDLERS_1_20_2 = """
import time
from network import Bluetooth
bt = Bluetooth()
bt.set_advertisement(name='R4', service_uuid=b'1234567890123456')
log = []
def on_conn(b):
    log.append(b.events())
bt.callback(trigger=Bluetooth.CLIENT_CONNECTED | Bluetooth.CLIENT_DISCONNECTED, handler=on_conn)
bt.advertise(True)
srv = bt.service(uuid=0x181C, nbr_chars=2)
ok = srv.characteristic(uuid=0xFF01, value=b'ok')
props = Bluetooth.PROP_READ | Bluetooth.PROP_WRITE | Bluetooth.PROP_INDICATE
bad = srv.characteristic(uuid=0xFF02, value=1, properties=props)
def on_ok(c, ev):
    log.append(ev)
    return 0x0102
def on_bad(c, ev):
    raise ValueError('boom')
every = Bluetooth.CHAR_READ_EVENT | Bluetooth.CHAR_WRITE_EVENT | Bluetooth.CHAR_SUBSCRIBE_EVENT
ok.callback(trigger=every, handler=on_ok)
bad.callback(trigger=Bluetooth.CHAR_WRITE_EVENT, handler=on_bad)
"""


async def test_two_argument_handlers_subscribe_and_a_fatal_exception_on_1_20_2(tmp_path):
    with sim_board(tmp_path, "1.20.2.r4", "r4") as (rec, serial):
        await serial.aexec(HANDLERS_1_20_2)
        async with bumble_host(rec.hci, TESTER) as (device, hci):
            adv = await find_board(device, "R4")
            peer = await discover(device, adv.address)
            ok = char_of(peer, UUID.from_16_bits(0xFF01))
            bad = char_of(peer, UUID.from_16_bits(0xFF02))
            assert await ok.read_value() == b"\x01\x02"  # handler(arg, (event, data)): int return, big-endian
            await ok.write_value(b"w", with_response=True)
            got = asyncio.Queue()
            await ok.subscribe(lambda v: got.put_nowait(bytes(v)))
            assert await asyncio.wait_for(got.get(), 10) == b"w"  # CCCD 0x0001: the current value at once
            await serial.aexec("ok.value(0x1234)")  # value(int): little-endian, notified
            assert await asyncio.wait_for(got.get(), 10) == b"\x34\x12"
            log = await serial.aexec("print(log, ok.config(), ok.events(), ok.events())")
            # flags accumulate without a call to events(), which clears them: READ|WRITE|SUBSCRIBE, then 0
            assert log == b"[2, (8, None), (16, b'w'), (128, None)] 1 152 0\r\n"

            indicated = asyncio.Queue()
            await bad.subscribe(lambda v: indicated.put_nowait(bytes(v)), prefer_notify=False)
            assert await serial.aexec("print(bad.config())") == b"2\r\n"  # CHAR_CONFIG_INDICATE: nothing sent yet
            await serial.aexec("bad.value(b'ind')")  # PROP_INDICATE: value() indicates
            assert await asyncio.wait_for(indicated.get(), 10) == b"ind"
            await bad.write_value(b"x", with_response=True)  # the write is answered before the callback runs
            await serial.aread_until(b"Unhandled exception in callback handler")
            await serial.aread_until(b"ValueError: boom")
            # every later callback is lost until soft reset: reads answer with an ATT error, not a stall
            with pytest.raises(att.ATT_Error) as err:
                await ok.read_value()
            assert err.value.error_code == att.ATT_UNLIKELY_ERROR_ERROR
            # the killed tester: CLIENT_DISCONNECTED reaches no handler now, but the flags still accumulate
            await hci.close()
        wait_events = (
            "e = 0\nfor _ in range(100):\n    e = bt.events()\n    if e: break\n    time.sleep(0.05)\nprint(e)"
        )
        assert await serial.aexec(wait_events) == b"4\r\n"  # CLIENT_DISCONNECTED
        # advertising resumed after the client went away: a new tester connects; callbacks stay dead
        async with bumble_host(rec.hci, "C0:00:00:00:00:78") as (device, _):
            adv = await find_board(device, "R4")
            peer = await discover(device, adv.address)
            assert await char_of(peer, UUID.from_16_bits(0xFF02)).read_value() == b"x"  # no read callback
            with pytest.raises(att.ATT_Error):
                await char_of(peer, UUID.from_16_bits(0xFF01)).read_value()


SERVER = """
from network import Bluetooth
bt = Bluetooth()
bt.set_advertisement(name='srv')
bt.advertise(True)
s = bt.service(uuid=0xFFF0, nbr_chars=2)
c = s.characteristic(uuid=0xFFF1, value=b'hi')
d = s.characteristic(uuid=0xFFF2, value=b'i', properties=Bluetooth.PROP_READ | Bluetooth.PROP_INDICATE)
c.callback(trigger=Bluetooth.CHAR_WRITE_EVENT, handler=lambda ch, ev: print('server got', ev[1]))
"""

CLIENT = """
import time
from network import Bluetooth
bt = Bluetooth()
bt.start_scan(-1)
adv = None
for _ in range(200):
    adv = bt.get_adv()
    if adv and bt.resolve_adv_data(adv.data, Bluetooth.ADV_NAME_CMPL) == 'srv':
        break
    time.sleep(0.05)
bt.stop_scan()
conn = bt.connect(adv.mac)
chars = {}
for srv in conn.services():
    for ch in srv.characteristics():
        chars[ch.uuid()] = ch
ch = chars[0xFFF1]
print('read', ch.read())
notes = []
ch.callback(trigger=Bluetooth.CHAR_NOTIFY_EVENT, handler=lambda c, ev: notes.append(ev))
ch.write(b'from client')
inds = []
chars[0xFFF2].callback(trigger=Bluetooth.CHAR_NOTIFY_EVENT, handler=lambda c, ev: inds.append(ev))
"""


async def test_two_boards_talk(tmp_path):
    with (
        sim_board(tmp_path, "1.20.2.r4", "srv") as (srv_rec, server),
        sim_board(tmp_path, "1.20.2.r4", "cli") as (cli_rec, client),
    ):
        await server.aexec(SERVER)
        assert b"read b'hi'" in await client.aexec(CLIENT)
        await server.aread_until(b"server got b'from client'")
        await server.aexec("c.value(b'pushed')")
        wait = "for _ in range(100):\n    if len(notes) > 1: break\n    time.sleep(0.05)\nprint(notes, ch.value())"
        # subscribing (CCCD 0x0001) makes the Pycom server notify its current value at once; then value() pushes
        assert await client.aexec(wait) == b"[(32, b'hi'), (32, b'pushed')] b'pushed'\r\n"
        await server.aexec("d.value(b'ind')")
        wait = "for _ in range(100):\n    if len(inds) > 1: break\n    time.sleep(0.05)\nprint(inds)"
        assert await client.aexec(wait) == b"[(64, b'i'), (64, b'ind')]\r\n"  # indications: event 0x40
        state = "print(conn.isconnected(), conn.get_mtu(), ch.read_descriptor(0x2902), srv.isprimary(), ch.instance())"
        assert await client.aexec(state) == b"True 23 b'\\x01\\x00' True 0\r\n"
        assert await client.aexec("conn.disconnect()\nprint(conn.isconnected())") == b"False\r\n"
        wait_events = "for _ in range(100):\n    e = bt.events()\n    if e: break\n    time.sleep(0.05)\nprint(e)"
        assert await server.aexec("import time\n" + wait_events) == b"6\r\n"  # CONNECTED | DISCONNECTED
        assert srv_rec.hci == cli_rec.hci  # one radio, shared by every board and tester


RESET_SCRIPT = """
from network import Bluetooth
bt = Bluetooth()
bt.set_advertisement(name='rst')
bt.advertise(True)
srv = bt.service(uuid=0xFFE0)
c = srv.characteristic(uuid=0xFFE1, value=b'v')
"""


async def test_soft_reset_keeps_the_link_but_drops_services_hard_reset_takes_the_stack_down(tmp_path):
    with sim_board(tmp_path, "1.20.2.r4", "rst") as (rec, serial):
        await serial.aexec(RESET_SCRIPT)
        with pytest.raises(TransportError, match="Erorr while sending BLE indication/notification"):
            await serial.aexec("c.value(b'no client')")  # value() raises without a client, after storing
        assert await serial.aexec("print(c.value())") == b"b'no client'\r\n"
        async with bumble_host(rec.hci, TESTER) as (device, _):
            adv = await find_board(device, "rst")
            peer = await discover(device, adv.address)
            assert UUID.from_16_bits(0xFFE0) in [s.uuid for s in peer.services]
            dropped = asyncio.get_running_loop().create_future()
            peer.connection.on("disconnection", lambda reason: dropped.done() or dropped.set_result(reason))

            # soft reset (Ctrl-D in the raw REPL): the link stays, the GATT app's services are gone (4.10)
            await asyncio.to_thread(serial.transport.enter_raw_repl, True)
            services = await peer.discover_services()
            assert UUID.from_16_bits(0xFFE0) not in [s.uuid for s in services]
            assert not dropped.done()

            # hard reset: the stack goes down with the interpreter, the client sees the link drop
            serial.transport.serial.write(b"import machine\r\nmachine.reset()\r\n\x04")
            await asyncio.wait_for(dropped, 20)
