"""Links of a simulated stock ESP32 (NimBLE): at most CONFIG_BT_NIMBLE_MAX_CONNECTIONS (4) links, refused beyond
with ENOMEM as ble_gap_adv_start / ble_gap_connect refuse them, and `_IRQ_CONNECTION_UPDATE` when the peer changes
the connection parameters (as central, or as peripheral through an L2CAP request the board accepts)."""

from __future__ import annotations

import ast
import asyncio
import contextlib

import pytest
from bumble.hci import Address
from stock_sim import open_tester, stock_board

pytestmark = [pytest.mark.timeout(180), pytest.mark.asyncio]

BOARD = """
import bluetooth
ble = bluetooth.BLE()
ble.active(True)
log = []
conns = []
def irq(event, data):
    log.append((event, tuple(bytes(x) if isinstance(x, memoryview) else x for x in data)))
    if event == 1:
        conns.append(data[0])
        try:
            ble.gap_advertise(20000)  # advertise again for the next central: refused once the links are used up
            print('READV ok')
        except OSError as e:
            print('READV', e.errno)
ble.irq(irq)
ble.gap_advertise(20000, b'\\x02\\x01\\x06\\x06\\x09Links')
"""


TRY_BOTH = """
for f in (lambda: ble.gap_advertise(20000), lambda: ble.gap_connect(0, b'\\x02\\x00\\x00\\x00\\x00\\x01')):
    try:
        f()
        print('no error')
    except OSError as e:
        print('errno', e.errno)
ble.gap_advertise(20000, connectable=False)
print('nonconn ok')
ble.gap_advertise(None)
"""


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with stock_board(tmp_path_factory.mktemp("stockbt-links"), "stockbt-links") as (rec, serial):
        yield rec, serial


@pytest.fixture
async def links(board):
    rec, serial = board
    serial.transport.enter_raw_repl(soft_reset=True)
    serial.seen = b""
    await serial.aexec(BOARD)
    addr_type, addr = ast.literal_eval(await serial.aeval("ble.config('mac')"))
    address = Address(":".join(f"{b:02X}" for b in addr), addr_type)
    yield rec, serial, address


async def test_four_links_then_enomem_for_advertising_and_connecting(links):
    rec, serial, address = links
    async with contextlib.AsyncExitStack() as stack:
        connections = []
        for i in range(4):
            tester = await stack.enter_async_context(open_tester(rec.hci, f"C0:00:00:00:01:{i:02X}"))
            connections.append(await tester.connect(address, timeout=10))
            await serial.aread_until(b"READV " if i < 3 else b"READV 12")
        assert serial.seen.count(b"READV ok") == 3, serial.seen
        assert len(ast.literal_eval(await serial.aeval("conns"))) == 4
        # the fifth: no connectable advertising, no outgoing connection (ENOMEM); non-connectable advertising is fine
        out = await serial.aexec(TRY_BOTH)
        assert out.split() == [b"errno", b"12", b"errno", b"12", b"nonconn", b"ok"], out
        # one link goes: a slot is free again
        await connections[0].disconnect()
        for _ in range(100):
            if (await serial.aeval("[e for e, _ in log].count(2)")) == "1":
                break
            await asyncio.sleep(0.05)
        assert await serial.aexec("ble.gap_advertise(20000)\nprint('again ok')") == b"again ok\r\n"
    await serial.aexec("ble.active(False)")


async def test_connection_update_from_the_central_and_requested_by_the_peripheral(links):
    rec, serial, address = links
    async with open_tester(rec.hci, "C0:00:00:00:02:01") as tester:
        connection = await tester.connect(address, timeout=10)
        await serial.aread_until(b"READV ok")  # printed by the handler: wait for it before the next exec
        # the central (the tester) changes the parameters: 50 ms interval, latency 2, 4 s supervision timeout
        await connection.update_parameters(50, 50, 2, 4000)
        for _ in range(100):
            updates = [d for e, d in ast.literal_eval(await serial.aeval("log")) if e == 27]
            if updates:
                break
            await asyncio.sleep(0.05)
        conn = ast.literal_eval(await serial.aeval("conns[-1]"))
        # (conn_handle, interval in 1.25 ms units, latency, supervision timeout in 10 ms units, status)
        assert updates == [(conn, 40, 2, 400, 0)], updates
        await connection.disconnect()
    # the board as central; the tester (peripheral) asks for new parameters over L2CAP and the board accepts them
    async with open_tester(rec.hci, "C0:00:00:00:02:02") as tester:
        accepted = asyncio.get_running_loop().create_future()
        tester.on("connection", lambda c: accepted.set_result(c) if not accepted.done() else None)
        await tester.start_advertising()
        await serial.aexec("log.clear()\nble.gap_connect(1, bytes.fromhex('C00000000202'))")
        peripheral = await asyncio.wait_for(accepted, 10)
        await peripheral.update_parameters(30, 30, 0, 2000, use_l2cap=True)
        for _ in range(100):
            updates = [d for e, d in ast.literal_eval(await serial.aeval("log")) if e == 27]
            if updates:
                break
            await asyncio.sleep(0.05)
        assert [u[1:] for u in updates] == [(24, 0, 200, 0)], updates
        await peripheral.disconnect()
    await serial.aexec("ble.active(False)")
