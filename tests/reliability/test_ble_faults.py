"""A BLE link lost in the middle of a test (the simulator drops it as a supervision timeout, at a point hypothesis
picks): the bleak client sees the disconnect, the board's handler sees CLIENT_DISCONNECTED and the board advertises
again, and the next connection works. A refused connection is not seen by the board, and the next one works."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.faults import arm, clear, examples, injected, record, time_limit

import pytool.ble
from pytool.board import BoardSession

pytestmark = time_limit(300)
NAME = "relble"
SERVICE = "12345678-1234-5678-1234-56789abcdef0"
CHAR = "12345678-1234-5678-1234-56789abcdef1"


def pycom_uuid(uuid: str) -> str:
    """A 128-bit UUID as Pycom's 16-byte form takes it (little-endian, reference section 4)."""
    return bytes.fromhex(uuid.replace("-", ""))[::-1].hex()


SERVER = f"""
from network import Bluetooth
import ubinascii
_ev = []
_bt = Bluetooth()
def _on_bt(b):
    e = b.events()
    if e & Bluetooth.CLIENT_CONNECTED:
        _ev.append('C')
    if e & Bluetooth.CLIENT_DISCONNECTED:
        _ev.append('D')
_bt.callback(trigger=Bluetooth.CLIENT_CONNECTED | Bluetooth.CLIENT_DISCONNECTED, handler=_on_bt)
_bt.set_advertisement(name='{NAME}')
_srv = _bt.service(uuid=ubinascii.unhexlify('{pycom_uuid(SERVICE)}'), isprimary=True)
_chr = _srv.characteristic(uuid=ubinascii.unhexlify('{pycom_uuid(CHAR)}'), value=b'hello')
_bt.advertise(True)
"""


@pytest.fixture(scope="module")
def server(sim):
    """The board runs a GATT server whose handler records connection events in `_ev`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_STATE_DIR", str(sim.state))
        board = BoardSession.connect(sim.port)
        board.exec(SERVER, timeout=30)
    yield board
    board.close()


@pytest.fixture
def ble(port, monkeypatch, server):
    monkeypatch.setenv("PYTOOL_BLE", port)
    pytool.ble.selection.install()
    yield server
    pytool.ble.selection.uninstall()


def events(board: BoardSession) -> str:
    return "".join(board.eval("_ev"))


async def connect(lost: asyncio.Event) -> BleakClient:
    device = await BleakScanner.find_device_by_name(NAME, timeout=20)
    assert device is not None, f"{NAME} is not advertising"
    client = BleakClient(device, disconnected_callback=lambda _: lost.set())
    await client.connect(timeout=20)
    return client


async def until(predicate, what: str, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(predicate):
            await asyncio.sleep(0.05)


@settings(max_examples=examples(2, 200), deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(reads_before=st.integers(0, 4), pause=st.floats(0.0, 0.2))
@example(reads_before=1, pause=0.0)
def test_dropped_link_is_seen_by_both_sides_and_the_next_connection_works(sim, ble, reads_before, pause):
    board = ble
    seen = events(board)
    drops = injected(sim.control).get("ble-drop", 0)

    async def scenario() -> None:
        lost = asyncio.Event()
        client = await connect(lost)
        await until(lambda: events(board) == seen + "C", "CLIENT_CONNECTED")
        for _ in range(reads_before):
            assert bytes(await client.read_gatt_char(CHAR)) == b"hello"
        await asyncio.sleep(pause)  # the drop lands at any moment of the session, not only right after a read
        await asyncio.to_thread(arm, sim.control, "ble-drop")
        async with asyncio.timeout(20):
            await lost.wait()  # the bleak client sees the disconnect
        assert not client.is_connected
        await until(lambda: events(board) == seen + "CD", "CLIENT_DISCONNECTED")

        again = asyncio.Event()
        client = await connect(again)  # the board advertises again and takes the next connection
        try:
            assert bytes(await client.read_gatt_char(CHAR)) == b"hello"
        finally:
            await client.disconnect()
        await until(lambda: events(board) == seen + "CDCD", "the second connection's events")

    error = ""
    try:
        asyncio.run(scenario())
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        fired = injected(sim.control).get("ble-drop", 0) - drops
        record("ble-drop", injected=fired, recovered=int(not error), files_checked=0, corrupt=0, tracebacks=0)
    assert fired == 1


def test_refused_connection_is_not_seen_by_the_board_and_the_next_one_works(sim, ble):
    board = ble
    seen = events(board)
    arm(sim.control, "ble-refuse")

    async def scenario() -> None:
        lost = asyncio.Event()
        try:
            client = await connect(lost)
            async with asyncio.timeout(20):
                await lost.wait()
        except Exception as exc:  # bleak may also fail the connect itself: either way the link is gone
            assert "Traceback" not in str(exc)
        client = await connect(asyncio.Event())
        try:
            assert bytes(await client.read_gatt_char(CHAR)) == b"hello"
        finally:
            await client.disconnect()
        await until(lambda: events(board) == seen + "CD", "the accepted connection's events")

    asyncio.run(scenario())
    assert injected(sim.control)["ble-refuse"] >= 1


def test_stopped_advertising_hides_the_board_until_it_advertises_again(sim, ble):
    board = ble
    arm(sim.control, "ble-stop-adv")

    async def scenario() -> None:
        assert await BleakScanner.find_device_by_name(NAME, timeout=2) is None  # nothing on the air
        board.exec("_bt.advertise(True)\n")  # still refused while the fault is set
        assert await BleakScanner.find_device_by_name(NAME, timeout=2) is None
        await asyncio.to_thread(clear, sim.control)
        board.exec("_bt.advertise(True)\n")
        assert await BleakScanner.find_device_by_name(NAME, timeout=20) is not None

    asyncio.run(scenario())
