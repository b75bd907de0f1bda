"""Pairing and bonding on simulated stock ESP32 boards (NimBLE's security manager as modbluetooth_nimble.c drives
it, SMP on Bumble): passkey entry and numeric comparison through `_IRQ_PASSKEY_ACTION` / `gap_passkey`, bonds kept
by the application through `_IRQ_GET_SECRET` / `_IRQ_SET_SECRET` and used again on a new link, a bleak client
pairing through pytool's Bumble backend."""

from __future__ import annotations

import ast

import pytest
from bleak import BleakClient, BleakScanner
from stock_sim import Serial, stock_board

import pytool.ble

pytestmark = [pytest.mark.timeout(240)]

# Both boards: an IRQ handler that logs every event (memoryviews as bytes, UUIDs as text), keeps the secret store in
# a dict as aioble's security module does, and remembers the pending passkey action.
BOARD = """
import bluetooth, machine, time
ble = bluetooth.BLE()
log = []
waiting = {}
secrets = {}
pending = []
def irq(event, data):
    items = []
    for x in data:
        items.append(bytes(x) if isinstance(x, memoryview) else str(x) if isinstance(x, bluetooth.UUID) else x)
    log.append((event, tuple(items)))
    waiting[event] = items
    if event == 29:
        sec_type, index, key = data
        if key is None:
            found = [v for (t, k), v in secrets.items() if t == sec_type]
            return found[index] if index < len(found) else None
        return secrets.get((sec_type, bytes(key)))
    if event == 30:
        sec_type, key, value = data
        if value is None:  # delete: True while there was something to delete (as aioble's store answers)
            return secrets.pop((sec_type, bytes(key)), None) is not None
        else:
            secrets[(sec_type, bytes(key))] = bytes(value)
        return True
    if event == 31:
        pending.append(tuple(data))
ble.irq(irq)
ble.active(True)
def wait(event, timeout_ms=8000):
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < timeout_ms:
        if event in waiting:
            return waiting.pop(event)
        machine.idle()
    raise ValueError('timeout waiting for %d' % event)
def events(code):
    return [items for e, items in log if e == code]
"""

# The peripheral's service: one characteristic that needs an encrypted link, one that needs MITM-protected keys.
SERVICE = """
_R, _R_ENC, _R_AUTH = 0x0002, 0x0200, 0x0400
((h_enc, h_auth),) = ble.gatts_register_services(((bluetooth.UUID(0x180D),
    ((bluetooth.UUID(0x2A37), _R | _R_ENC), (bluetooth.UUID(0x2A38), _R | _R_AUTH))),))
ble.gatts_write(h_enc, b'encrypted')
ble.gatts_write(h_auth, b'authenticated')
ble.gap_advertise(20000, b'\\x02\\x01\\x06\\x06\\x09Stock')
"""


@pytest.fixture(scope="module")
def boards(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stockbt-sec")
    with stock_board(tmp, "stocksec-periph") as (prec, pser), stock_board(tmp, "stocksec-central") as (crec, cser):
        yield (prec, pser), (crec, cser)


def _fresh(serial: Serial, setup: str = "") -> None:
    """The board script after a soft reset (the stack goes down with the interpreter; ble_hs_cfg stays)."""
    serial.transport.enter_raw_repl(soft_reset=True)
    serial.seen = b""
    serial.exec(BOARD + setup)


def _ev(serial: Serial, code: int) -> list:
    return ast.literal_eval(serial.eval(f"events({code})"))


def _connect(periph: Serial, central: Serial) -> bytes:
    """Central connects to the advertising peripheral; the peripheral's public address (big-endian)."""
    addr_type, addr = ast.literal_eval(periph.eval("ble.config('mac')"))
    central.exec(f"log.clear()\nble.gap_connect({addr_type}, {addr!r})\nconn = wait(7)[0]")
    periph.exec("conn = wait(1)[0]")
    return addr


def test_active_asks_the_app_for_our_irk_and_the_peer_records(boards):
    """load_irk(): GET_SECRET(10, 0, b'irk'), none stored -> SET_SECRET(10, b'irk', 16 random bytes); then the peer
    records are enumerated (key None). A second start finds the IRK and sets nothing."""
    (_p, periph), _c = boards
    _fresh(periph)
    log = ast.literal_eval(periph.eval("log"))
    assert [e for e, _ in log] == [29, 30, 29], log
    assert log[0][1] == (10, 0, b"irk")
    assert log[1][1][:2] == (10, b"irk") and len(log[1][1][2]) == 16
    assert log[2][1] == (2, 0, None)
    periph.exec("log.clear()\nble.active(True)")
    assert [e for e, _ in ast.literal_eval(periph.eval("log"))] == [29, 29]


def test_passkey_entry_bonds_and_a_new_link_reuses_the_bond(boards):
    (_p, periph), (_c, central) = boards
    # peripheral displays (io=0 DISPLAY_ONLY), central types (io=2 KEYBOARD_ONLY); MITM and LE Secure Connections
    _fresh(periph, "ble.config(io=0, mitm=True, bond=True, le_secure=True)\n" + SERVICE)
    _fresh(central, "ble.config(io=2, mitm=True, bond=True, le_secure=True)")
    addr = _connect(periph, central)
    central.exec("log.clear()\nble.gattc_read(conn, 12)\nwait(16)")
    assert [items[1:] for items in _ev(central, 16)] == [(12, 0x10F)]  # not encrypted: insufficient encryption

    central.exec("log.clear()\nble.gap_pair(conn)")
    periph.exec("wait(31)")  # _IRQ_PASSKEY_ACTION (conn, DISPLAY, 0): the app picks the passkey and shows it
    assert periph.eval("pending[-1][1:]") == "(3, 0)"
    periph.exec("ble.gap_passkey(conn, 3, 123456)")
    central.exec("wait(31)")  # (conn, INPUT, 0): the user types what the peripheral shows
    assert central.eval("pending[-1][1:]") == "(2, 0)"
    with pytest.raises(Exception, match="EALREADY"):
        central.exec("ble.gap_pair(conn)")  # pairing is under way on this link
    with pytest.raises(Exception, match="EINVAL"):
        central.exec("ble.gap_passkey(conn, 4, 1)")  # not the pending action: ble_sm_inject_io's BLE_HS_EINVAL
    central.exec("ble.gap_passkey(conn, 2, 123456)\nwait(28)")
    periph.exec("wait(28)")
    # encrypted, authenticated (MITM: passkey entry), bonded, 16-byte key
    assert [u[1:] for u in _ev(central, 28)] == [(1, 1, 1, 16)]
    assert [u[1:] for u in _ev(periph, 28)] == [(1, 1, 1, 16)]
    with pytest.raises(Exception, match="ENOENT"):
        central.exec("ble.gap_passkey(conn, 2, 1)")  # no pairing in progress any more

    # the bond: our keys (type 1) then the peer's (type 2), keyed by the peer's ble_addr_t, 80-byte records
    sets = _ev(central, 30)
    assert [(t, k) for t, k, _v in sets] == [(1, bytes([0]) + addr[::-1]), (2, bytes([0]) + addr[::-1])]
    assert all(len(v) == 80 for _t, _k, v in sets)
    assert sorted(t for t, _k, _v in _ev(periph, 30) if t != 10) == [1, 2]  # 10: our IRK, at active()

    central.exec("log.clear()\nble.gattc_read(conn, 14)\nwait(16)")  # READ_AUTHENTICATED: MITM keys suffice
    assert [(e, items[1:]) for e, items in ast.literal_eval(central.eval("log"))] == [
        (15, (14, b"authenticated")),
        (16, (14, 0)),
    ]
    central.exec("ble.gap_disconnect(conn)\nwait(8)")
    periph.exec("wait(2)\nble.gap_advertise(20000)")

    # a new link: gap_pair finds the bond (the peer's record), encrypts with its LTK, no passkey this time
    _connect(periph, central)
    central.exec("log.clear()\npending.clear()\nble.gap_pair(conn)\nwait(28)")
    periph.exec("wait(28)")
    assert [u[1:] for u in _ev(central, 28)] == [(1, 1, 1, 16)]
    assert [u[1:] for u in _ev(periph, 28)][-1] == (1, 1, 1, 16)
    assert central.eval("pending") == "[]"
    assert [(t, k) for t, _i, k in _ev(central, 29)] == [(2, bytes([0]) + addr[::-1])]  # the peer's record
    assert [t for t, _i, _k in _ev(periph, 29)][-1] == 1  # the LTK request: our record
    central.exec("log.clear()\nble.gattc_read(conn, 14)\nwait(16)")
    assert _ev(central, 15)[0][2] == b"authenticated"
    central.exec("ble.gap_disconnect(conn)\nwait(8)")
    periph.exec("wait(2)\nble.active(False)")


def test_security_request_from_the_peripheral_legacy_bond_then_reencryption(boards):
    """gap_pair on the peripheral sends a Security Request; the central pairs (legacy Just Works, bonding) and, on a
    new link, encrypts with the bond's LTK (EDIV/Rand of the peripheral's record) instead."""
    (_p, periph), (_c, central) = boards
    both = "ble.config(io=3, mitm=False, bond=True, le_secure=False)\n"
    _fresh(periph, both + SERVICE)
    _fresh(central, both)
    for round_ in (1, 2):
        _connect(periph, central)
        periph.exec("log.clear()\nble.gap_pair(conn)\nwait(28)")
        central.exec("wait(28)")
        assert [u[1:] for u in _ev(periph, 28)] == [(1, 0, 1, 16)], round_
        assert [u[1:] for u in _ev(central, 28)][-1] == (1, 0, 1, 16), round_
        stored = [t for t, _k, _v in _ev(periph, 30) if t != 10]
        assert stored == ([1, 2] if round_ == 1 else []), round_  # the second link reuses the bond
        central.exec("log.clear()\nble.gattc_read(conn, 12)\nwait(16)")
        assert _ev(central, 15)[0][2] == b"encrypted"
        central.exec("ble.gattc_read(conn, 14)\nwait(16)")  # READ_AUTHENTICATED: Just Works keys do not suffice
        assert _ev(central, 16)[-1][1:] == (14, 0x105)
        central.exec("ble.gap_disconnect(conn)\nwait(8)")
        periph.exec("wait(2)\nble.gap_advertise(20000)")
    # the central forgets the bond (a phone's "forget this device") and pairs again: the peripheral deletes its old
    # records first (NimBLE's repeat pairing), then stores the new ones
    central.exec("secrets.clear()")
    _connect(periph, central)
    periph.exec("log.clear()\nble.gap_pair(conn)\nwait(28)")
    central.exec("wait(28)")
    assert [u[1:] for u in _ev(periph, 28)] == [(1, 0, 1, 16)]
    sets = [(t, v is None) for t, _k, v in _ev(periph, 30)]
    assert sets == [(1, True), (1, True), (2, True), (2, True), (1, False), (2, False)], sets
    central.exec("ble.gap_disconnect(conn)\nwait(8)")
    periph.exec("wait(2)\nble.active(False)")


def test_numeric_comparison_rejected_fails_the_pairing(boards):
    (_p, periph), (_c, central) = boards
    both = "ble.config(io=1, mitm=True, bond=False, le_secure=True)\n"  # DISPLAY_YESNO on both sides
    _fresh(periph, both + SERVICE)
    _fresh(central, both)
    _connect(periph, central)
    central.exec("ble.gap_pair(conn)\nwait(31)")
    periph.exec("wait(31)")
    (_c_conn, c_action, c_number) = ast.literal_eval(central.eval("pending[-1]"))
    (_p_conn, p_action, p_number) = ast.literal_eval(periph.eval("pending[-1]"))
    assert c_action == p_action == 4 and c_number == p_number and 0 <= c_number <= 999999  # the same six digits
    central.exec("ble.gap_passkey(conn, 4, 1)")  # accept
    periph.exec("ble.gap_passkey(conn, 4, 0)\nwait(28)")  # reject: the pairing fails
    central.exec("wait(28)")
    assert [u[1:] for u in _ev(central, 28)] == [(0, 0, 0, 0)]
    assert [u[1:] for u in _ev(periph, 28)] == [(0, 0, 0, 0)]
    assert _ev(central, 30) == [] or all(t == 10 for t, _k, _v in _ev(central, 30))  # nothing bonded
    # again on the same link, both accept: encrypted and MITM-authenticated, not bonded (bond=False)
    central.exec("log.clear()\nble.gap_pair(conn)\nwait(31)\nble.gap_passkey(conn, 4, 1)")
    periph.exec("log.clear()\nwait(31)\nble.gap_passkey(conn, 4, 1)\nwait(28)")
    central.exec("wait(28)")
    assert [u[1:] for u in _ev(central, 28)] == [(1, 1, 0, 16)]
    assert [u[1:] for u in _ev(periph, 28)] == [(1, 1, 0, 16)]
    central.exec("log.clear()\nble.gattc_read(conn, 14)\nwait(16)")
    assert _ev(central, 15)[0][2] == b"authenticated"
    central.exec("ble.gap_disconnect(conn)\nwait(8)")
    periph.exec("wait(2)\nble.active(False)")


@pytest.mark.asyncio
async def test_bleak_client_pairs_and_the_board_stores_the_bond(boards, monkeypatch):
    (prec, periph), _c = boards
    _fresh(periph, "ble.config(bond=True)\n" + SERVICE)
    monkeypatch.setenv("PYTOOL_BLE", prec.hci)
    pytool.ble.install()
    device = await BleakScanner.find_device_by_name("Stock", timeout=20)
    assert device is not None
    async with BleakClient(device) as client:
        await client.pair()
        await periph.aexec("wait(28)")
        assert bytes(await client.read_gatt_char("00002a37-0000-1000-8000-00805f9b34fb")) == b"encrypted"
    updates = [u[1:] for u in _ev(periph, 28)]
    assert updates == [(1, 0, 1, 16)], updates  # Just Works: no IO on the board, so not MITM-authenticated
    assert sorted(t for t, _k, _v in _ev(periph, 30) if t != 10) == [1, 2]
    periph.exec("wait(2)\nble.active(False)")
