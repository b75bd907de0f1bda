"""pytool_gatt's callback adapter and server logic on the real MicroPython interpreter, against a byte-level model
of Pycom's GATTS objects (mp/pycom_model.py) in both handler conventions. The simulated board's real
network.Bluetooth is exercised by test_devlib_sim.py."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

MODEL = Path(__file__).parent / "mp"

SERVER = """
import json, pytool_gatt as g, pytool_probe as probe, pycom_model
g.print_errors(PRINT)
bt = pycom_model.Bluetooth(tuple_handlers=TUPLE)
log = []
def on_write(ch, v):
    log.append(["write", ch.name, v])
    if v == 13:
        raise ValueError("unlucky")
def on_read(ch):
    log.append(["read", ch.name])
    return ch.get() + 1
def on_sub(ch, mode):
    log.append(["sub", ch.name, mode])
srv = g.Server("demo", probe=True)
svc = srv.service("6e400001-b5a3-f393-e0a9-e50e24dcca9e")
level = svc.char("6e400002-b5a3-f393-e0a9-e50e24dcca9e", "level", fmt="u16le", value=0x0102, write=True,
                 notify=True, on_write=on_write, on_read=on_read, on_subscribe=on_sub)
name = svc.char(0x2A00, "name", fmt="utf8", value="lopy")
srv.start(bt, reinit=False)
nl, nn = bt.services[0].chars
def events():
    return [[e["event"], e["char"], e["data"]] for e in json.loads(probe.dump())["events"]]
"""


def run_server(mp, body: str, tuple_handlers: bool = True, print_errors: bool = False):
    code = SERVER.replace("TUPLE", str(tuple_handlers)).replace("PRINT", str(print_errors)) + body
    out = mp(code, extra_path=MODEL)
    return out, json.loads(out.strip().splitlines()[-1])


def test_start_declares_everything_with_computed_nbr_chars(mp):
    _, got = run_server(
        mp,
        """
print(json.dumps([[s.uuid.hex() if isinstance(s.uuid, bytes) else s.uuid, s.nbr_chars, len(s.chars)]
                  for s in bt.services] + [[nl.properties, nl._value.hex(), nn.properties, nn._value.hex()],
                  [bt.adv[0], bt.adv[1].hex(), bt.advertising, nl.trigger, nn.trigger]]))
""",
    )
    services, chars, adv = got[:2], got[2], got[3]
    probe_uuid = uuid.UUID("7079746f-6f6c-7072-6f62-650000000001").bytes[::-1].hex()
    assert services == [["9ecadc240ee5a9e093f3a3b50100406e", 2, 2], [probe_uuid, 1, 1]]  # nbr_chars = declared
    assert chars == [2 | 8 | 16, "0201", 2, b"lopy".hex()]  # PROP_READ|WRITE|NOTIFY, LE initial value; read-only
    assert adv == ["demo", "9ecadc240ee5a9e093f3a3b50100406e", True, 8 | 16 | 128, 8 | 16 | 128]


@pytest.mark.parametrize("tuple_handlers", [True, False], ids=["1.20.2-tuple", "1.20.1-arg"])
def test_one_handler_signature_on_both_conventions(mp, tuple_handlers):
    _, got = run_server(
        mp,
        """
r1 = nl.client_write(b"\\x05\\x00")
r2 = nl.client_read()
r3 = nl.client_subscribe(1)
r4 = nn.client_write(b"hi")
print(json.dumps([log, r1, r2.hex(), r3, events()[1:], level.subscribed]))
""",
        tuple_handlers,
    )
    log, r1, r2, r3, evs, subscribed = got
    assert log == [["write", "level", 5], ["read", "level"], ["sub", "level", 1]]
    assert r1 is None and r3 is None
    assert r2 == "0600"  # on_read returned 6: sent as u16le bytes, not the firmware's big-endian int rule
    assert evs == [
        ["write", "level", "0500"],
        ["read", "level", "0600"],
        ["subscribe", "level", 1],
        ["write", "name", "6869"],
    ]
    assert subscribed == 1


def test_old_convention_handles_accumulated_events_once(mp):
    # handler(arg) with READ and WRITE both pending: both handled in the first call, read answered last
    _, got = run_server(
        mp,
        """
nl._value = b"\\x09\\x00"
nl._events |= 16
r = nl.fire(8)
again = nl.handler(nl)
print(json.dumps([log, r.hex(), again, events()[1:]]))
""",
        tuple_handlers=False,
    )
    log, answer, again, evs = got
    assert log == [["write", "level", 9], ["read", "level"]]
    assert answer == "0a00" and again is None
    assert [e[0] for e in evs] == ["write", "read"]


def test_exceptions_in_handlers_are_contained_and_reported(mp):
    out, got = run_server(
        mp,
        """
r1 = nl.client_write(b"\\x0d\\x00")    # on_write raises ValueError
r2 = nl.client_write(b"\\x01")         # wrong length for u16le: reported, handler not called
level.on_read = lambda ch: 1 // 0
r3 = nl.client_read()                  # on_read raises: the stored value answers, no 30 s client timeout
level.on_read = lambda ch: 70000
r4 = nl.client_read()                  # does not fit u16le: reported, stored value answers
r5 = nl.client_write(b"\\x07\\x00")    # later callbacks still run
print(json.dumps([log, r1, r2, r3.hex(), r4.hex(), r5, [e for e in events() if e[0] == "error"]]))
""",
        print_errors=True,
    )
    log, r1, r2, r3, r4, r5, errors = got
    assert log == [["write", "level", 13], ["write", "level", 7]]
    assert (r1, r2, r5) == (None, None, None)
    assert r3 == r4 == "01"  # the stored value at the time of the read (the last write)
    assert [e[1] for e in errors] == ["level"] * 4
    assert "ValueError('unlucky'" in errors[0][2]
    assert "u16le needs 2 bytes, got 1" in errors[1][2]
    assert "ZeroDivisionError" in errors[2][2]
    assert "70000 does not fit in u16le" in errors[3][2]
    assert out.count("pytool_gatt: handler of level failed:") == 4
    assert "Traceback" in out


def test_notify_is_a_no_op_without_a_subscribed_client(mp):
    _, got = run_server(
        mp,
        """
a = level.notify(1)               # nobody connected: stored (value() raises OSError: swallowed)
stored_a = nl._value.hex()
bt.client_connects()
b = level.notify(2)               # connected, not subscribed: nothing on the air, kept back for reads
read_b = nl.client_read().hex()
sent_b = len(nl.sent)
nl.client_subscribe(1)            # the new subscriber gets the newest value
c = level.notify(3)               # subscribed: sent
bt.client_disconnects()
d = level.notify(4)               # client gone: subscription forgotten even though config() still says 1
bt.client_connects()
e = level.notify(5)               # new client, not subscribed (stale config() ignored)
level.set(0x0506)                 # set() never notifies either
got_value = level.get()
bt.client_disconnects()           # kept-back value handed to the firmware, nobody to send it to
print(json.dumps([[a, b, c, d, e], stored_a, read_b, sent_b, [s.hex() for s in nl.sent], got_value,
                  nl._value.hex(), [x for x in events() if x[0].startswith("notify")]]))
""",
    )
    flags, stored_a, read_b, sent_b, sent, value, stored, notified = got
    assert flags == [False, False, True, False, False]
    assert stored_a == "0100" and sent_b == 0
    assert read_b == "0300"  # this server's on_read answers get() + 1, and get() sees the kept-back 2
    assert sent == ["0200", "0300"]  # only to the subscribed client, in order
    assert value == 0x0506 and stored == "0605"
    assert notified == [["notify", "level", "0200"], ["notify", "level", "0300"]]


def test_set_while_connected_serves_reads_without_pushing(mp):
    _, got = run_server(
        mp,
        """
bt.client_connects()
name.set("sim")
read = nn.client_read()
bt.client_disconnects()
print(json.dumps([read.decode(), nn.sent, nn._value.decode(), events()[-2]]))
""",
    )
    assert got == ["sim", [], "sim", ["read", "name", b"sim".hex()]]


def test_disconnect_restarts_advertising_and_probe_tracks_connections(mp):
    _, got = run_server(
        mp,
        """
bt.client_connects()
adv_while_connected = bt.advertising
bt.client_disconnects()
print(json.dumps([adv_while_connected, bt.advertising, bt.calls, [e[0] for e in events()]]))
""",
    )
    adv_connected, adv_after, calls, evs = got
    assert adv_connected is False and adv_after is True
    assert calls == ["advertise True", "advertise True"]
    assert evs == ["start", "connect", "disconnect"]


def test_probe_characteristic_over_the_air(mp):
    _, got = run_server(
        mp,
        """
probe_char = bt.services[1].chars[0]
bt.client_connects()
probe_char.client_subscribe(1)          # not recorded: the probe's own traffic stays out of the buffer
nl.client_write(b"\\x02\\x00")
summary = probe_char.client_read()
probe_char.client_write(b"clear")
after = json.loads(probe.dump())
print(json.dumps([[s.decode() for s in probe_char.sent], summary.decode(), after["events"], after["seq"]]))
""",
    )
    sent, summary, after, seq = got
    assert [json.loads(s) for s in sent] == [[3, "write", "level", "0200"]]  # seq 2 = connect, before subscribing
    assert json.loads(summary) == {"seq": 3, "size": 32}
    assert after == [] and seq == 3


def test_reinit_on_new_firmware_avoids_the_soft_reset_hang(mp):
    out = mp(
        """
import pytool_gatt as g, pycom_model
bt = pycom_model.Bluetooth()
srv = g.Server("x")
srv.service(0x180F).char(0x2A19, "battery", fmt="u8", value=100)
srv.start(bt, reinit=True)
print(bt.calls[:2], bt.adv[1] is not None)
""",
        extra_path=MODEL,
    )
    assert out.strip() == "['deinit', 'init'] True"


def test_stock_micropython_gets_a_clear_error(mp):
    out = mp(
        """
import pytool_gatt as g
srv = g.Server("x")
srv.service(0x180F).char(0x2A19, "battery", fmt="u8", value=100)
try:
    srv.start()
except g.UnsupportedFirmware as e:
    print("unsupported:", e)
"""
    )
    assert out.strip() == "unsupported: pytool_gatt: this firmware has no Bluetooth (no network.Bluetooth)"


def test_stock_micropython_bluetooth_module_selects_the_nimble_adapter(mp, tmp_path):
    # stock ESP32 MicroPython: a `network` module without Bluetooth, and the `bluetooth` module (its BLE only
    # constructed and activated here; test_devlib_stock.py runs the adapter on a simulated stock board)
    stock = tmp_path / "stock"
    stock.mkdir()
    (stock / "network.py").write_text("class WLAN:\n    pass\n")
    (stock / "bluetooth.py").write_text(
        "class BLE:\n    def active(self, *a):\n        return True\n    def irq(self, handler):\n        pass\n"
    )
    out = mp(
        """
import pytool_gatt as g, pytool_nimble
print(g.bluetooth().__class__ is pytool_nimble.Bluetooth)
""",
        extra_path=stock,
    )
    assert out.strip() == "True"


def test_connect_and_disconnect_flags_together_keep_the_state_right(mp):
    # handler(arg) runs late: both events accumulated in bt.events(); the order follows from the known state
    _, got = run_server(
        mp,
        """
states = []
bt._events = 2 | 4           # was disconnected: a client came and went
bt.handler(bt)
states.append(srv.connected)
bt.client_connects()
bt._events = 2 | 4           # was connected: it left and a new one came
bt.handler(bt)
states.append(srv.connected)
print(json.dumps([states, [e[0] for e in events()]]))
""",
    )
    assert got == [[False, True], ["start", "connect", "disconnect", "connect", "disconnect", "connect"]]


def test_stop_drops_the_client_and_stays_silent(mp):
    _, got = run_server(
        mp,
        """
bt.client_connects()
srv.stop()
print(json.dumps([bt.client, bt.advertising, srv.connected, srv.advertising, [e[0] for e in events()]]))
""",
    )
    assert got == [False, False, False, False, ["start", "connect", "disconnect"]]


def test_start_refuses_an_empty_service_before_touching_the_radio(mp):
    out = mp(
        """
import pytool_gatt as g, pycom_model
bt = pycom_model.Bluetooth()
srv = g.Server("x")
srv.service(0x180F)
try:
    srv.start(bt)
except g.GattError as e:
    print(e, len(bt.services), bt.calls)
""",
        extra_path=MODEL,
    )
    assert out.strip() == "service 0x180f has no characteristics: declare them before start() 0 []"
