"""Two simulated stock ESP32 boards on the shared radio: one a `bluetooth.BLE` peripheral, the other scanning and
connecting with `gap_scan` / `gap_connect` and using every `gattc_*` call against it (the central half of
MicroPython's multi_bluetooth tests, in small)."""

from __future__ import annotations

import ast

import pytest
from stock_sim import Serial, open_tester, stock_board

pytestmark = [pytest.mark.timeout(240)]

PERIPHERAL = """
import bluetooth
ble = bluetooth.BLE()
ble.active(True)
conns = []
def irq(event, data):
    if event == 1:
        conns.append(data[0])
        print('P CONNECT')
    elif event == 3:
        print('P WRITE', ble.gatts_read(data[1]))
    elif event == 20:
        print('P INDICATE_DONE', data[2])
    elif event == 21:
        print('P MTU', data[1])
ble.irq(irq)
SVC = bluetooth.UUID('A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A')
CHAR = (bluetooth.UUID('00000000-1111-2222-3333-444444444444'),
        bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY | bluetooth.FLAG_INDICATE,
        ((bluetooth.UUID(0x2901), bluetooth.FLAG_READ),))
((h_char, h_desc),) = ble.gatts_register_services(((bluetooth.UUID(0x180D), ()), (SVC, (CHAR,))))[1:]
ble.gatts_write(h_char, b'periph0')
ble.gap_advertise(20000, b'\\x02\\x01\\x06\\x04\\xffMPY')
print('MAC', ble.config('mac'))
"""

CENTRAL = """
import bluetooth, machine, time
ble = bluetooth.BLE()
ble.active(True)
log = []
waiting = {}
def irq(event, data):
    items = []
    for x in data:
        items.append(bytes(x) if isinstance(x, memoryview) else str(x) if isinstance(x, bluetooth.UUID) else x)
    entry = (event, tuple(items))
    if event != 5 or entry not in log:  # scan results: each distinct report once (the heap is a board's)
        log.append(entry)
    waiting[event] = items
ble.irq(irq)
def wait(event, timeout_ms=8000):
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < timeout_ms:
        if event in waiting:
            return waiting.pop(event)
        machine.idle()
    raise ValueError('timeout waiting for %d' % event)
"""


@pytest.fixture(scope="module")
def boards(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stockbt-gattc")
    with stock_board(tmp, "stockbt-periph") as (prec, pser), stock_board(tmp, "stockbt-central") as (crec, cser):
        yield (prec, pser), (crec, cser)


def _events(serial: Serial, expression: str) -> list:
    return ast.literal_eval(serial.eval(expression))


def test_scan_connect_discover_read_write_notify_indicate_mtu(boards):
    (_prec, periph), (_crec, central) = boards
    out = periph.exec(PERIPHERAL).decode()
    addr_type, addr = ast.literal_eval(out.split("MAC ", 1)[1].strip())
    central.exec(CENTRAL)

    # passive scan: SCAN_RESULT (addr_type, addr, adv_type, rssi, adv_data) with the advertiser's bytes, then SCAN_DONE
    central.exec("ble.gap_scan(1000, 30000, 30000)\nwait(6)")
    results = [items for event, items in _events(central, "log") if event == 5 and items[1] == addr]
    assert results, "the peripheral was not seen by gap_scan"
    assert results[0][0] == addr_type and results[0][2] == 0 and results[0][4] == b"\x02\x01\x06\x04\xffMPY"
    assert isinstance(results[0][3], int)

    central.exec(f"log.clear()\nble.gap_connect({addr_type}, {addr!r})\nconn = wait(7)[0]")
    periph.read_until(b"P CONNECT")

    central.exec("ble.gattc_discover_services(conn)\nwait(10)")
    services = [items for event, items in _events(central, "log") if event == 9]
    uuids = [items[3] for items in services]
    assert uuids == [
        "UUID(0x1800)",
        "UUID(0x1801)",
        "UUID(0x180d)",
        "UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')",
    ], uuids
    assert [items[1:3] for items in services] == [(1, 5), (6, 9), (10, 10), (11, 15)]  # NimBLE's handle layout

    central.exec("log.clear()\nble.gattc_discover_characteristics(conn, 11, 15)\nwait(12)")
    chars = [items for event, items in _events(central, "log") if event == 11]
    # (conn, end_handle, value_handle, properties, uuid): value 13, its CCCD 14 and user descriptor 15
    assert [items[1:] for items in chars] == [(15, 13, 0x3A, "UUID('00000000-1111-2222-3333-444444444444')")]

    central.exec("log.clear()\nble.gattc_discover_descriptors(conn, 13, 15)\nwait(14)")
    descs = [items[1:] for event, items in _events(central, "log") if event == 13]
    assert descs == [(14, "UUID(0x2902)"), (15, "UUID(0x2901)")]

    central.exec("log.clear()\nble.gattc_read(conn, 13)\nwait(16)")
    assert [(e, items[1:]) for e, items in _events(central, "log")] == [(15, (13, b"periph0")), (16, (13, 0))]

    central.exec("log.clear()\nble.gattc_write(conn, 13, b'central0', 1)\nwait(17)")
    assert [(e, items[1:]) for e, items in _events(central, "log")] == [(17, (13, 0))]
    periph.read_until(b"P WRITE b'central0'")

    # reading a handle that does not exist: READ_DONE with NimBLE's status 0x100 + ATT "invalid handle" (0x01)
    central.exec("log.clear()\nble.gattc_read(conn, 200)\nwait(16)")
    assert [(e, items[1:]) for e, items in _events(central, "log")] == [(16, (200, 0x101))]

    # notifications and indications arrive whether or not the central subscribed (NimBLE passes them all up)
    periph.exec("ble.gatts_notify(conns[-1], h_char, b'periph1')")
    central.exec("wait(18)")
    periph.exec("ble.gatts_indicate(conns[-1], h_char, b'periph2')")
    central.exec("wait(19)")
    periph.read_until(b"P INDICATE_DONE 0")
    got = [(e, items[1:]) for e, items in _events(central, "log") if e in (18, 19)]
    assert got == [(18, (13, b"periph1")), (19, (13, b"periph2"))]

    # MTU exchange from the central: both sides get MTU_EXCHANGED with min(256, 256)
    central.exec("log.clear()\nble.gattc_exchange_mtu(conn)\nwait(21)")
    assert [(e, items[1:]) for e, items in _events(central, "log")] == [(21, (256,))]
    periph.read_until(b"P MTU 256")

    central.exec("print(ble.gap_disconnect(conn))\nwait(8)")
    assert central.eval("ble.gap_disconnect(conn)") == "False", "a closed link: gap_disconnect returns False"
    periph.exec("ble.active(False)")


def test_connect_to_nobody_times_out_with_peripheral_disconnect(boards):
    (_prec, _periph), (_crec, central) = boards
    central.exec(CENTRAL)
    central.exec("log.clear()\nble.gap_connect(0, b'\\x02\\x00\\x00\\x00\\x00\\x01', 300)\nwait(8)")
    assert _events(central, "log") == [(8, (0xFFFF, 0xFF, bytes(6)))]


@pytest.mark.asyncio
async def test_scan_sees_a_tester_and_its_scan_response(boards):
    (_prec, _periph), (crec, central) = boards
    central.exec(CENTRAL)
    async with open_tester(crec.hci, "C0:11:22:33:44:55") as tester:
        await tester.start_advertising(
            advertising_data=b"\x02\x01\x06\x05\x09Test", scan_response_data=b"\x05\xff\x01\x02\x03\x04"
        )
        await central.aexec("ble.gap_scan(1000, 30000, 30000, True)\nwait(6)")
    reports = [
        items for event, items in _events(central, "log") if event == 5 and items[1] == bytes.fromhex("C01122334455")
    ]
    kinds = {items[2]: items[4] for items in reports}
    assert kinds.get(0) == b"\x02\x01\x06\x05\x09Test", reports  # ADV_IND with the advertising data
    assert kinds.get(4) == b"\x05\xff\x01\x02\x03\x04", reports  # SCAN_RSP with the scan response data
    assert all(items[0] == 1 for items in reports), "a random static address: addr_type 1"


def test_gap_pair_encrypts_the_link_for_an_encrypted_characteristic(boards):
    """Just Works pairing (no IO on either side), as ble_gap_pair of MicroPython's multitests does it."""
    (_prec, periph), (_crec, central) = boards
    periph.exec(
        "import bluetooth\nble = bluetooth.BLE()\nble.active(True)\nupdates = []\n"
        "ble.irq(lambda e, d: updates.append(tuple(d)) if e == 28 else None)\n"
        "((h,),) = ble.gatts_register_services(((bluetooth.UUID(0x180D), ((bluetooth.UUID(0x2A37), 0x0202),)),))\n"
        "ble.gatts_write(h, b'encrypted')\nble.config(bond=True)\nble.gap_advertise(20000, b'\\x02\\x01\\x06')"
    )
    addr_type, addr = ast.literal_eval(periph.eval("ble.config('mac')"))
    central.exec(CENTRAL)
    central.exec(f"ble.config(bond=True)\nble.gap_connect({addr_type}, {addr!r})\nconn = wait(7)[0]")
    # not encrypted yet: the READ_ENCRYPTED characteristic refuses (NimBLE status 0x100 + insufficient encryption)
    central.exec("log.clear()\nble.gattc_read(conn, 12)\nwait(16)")
    assert [(e, items[1:]) for e, items in _events(central, "log")] == [(16, (12, 0x10F))]
    central.exec("log.clear()\nble.gap_pair(conn)\nwait(28)")
    assert [items[1:] for e, items in _events(central, "log") if e == 28] == [(1, 0, 1, 16)]
    central.exec("log.clear()\nble.gattc_read(conn, 12)\nwait(16)")
    assert [(e, items[1:]) for e, items in _events(central, "log")] == [(15, (12, b"encrypted")), (16, (12, 0))]
    assert [u[1:] for u in ast.literal_eval(periph.eval("updates"))] == [(1, 0, 1, 16)]
    central.exec("ble.gap_disconnect(conn)\nwait(8)")
    periph.exec("ble.active(False)")
