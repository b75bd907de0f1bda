"""Port discovery and classification, against fake port listings (no hardware here)."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from pytool import ports
from pytool.errors import PytoolError, UsageError
from pytool.sim import registry


def port(device, vid=None, pid=None, description="", serial_number=None):
    return SimpleNamespace(device=device, vid=vid, pid=pid, description=description, serial_number=serial_number)


LISTING = [
    port("/dev/ttyACM0", 0x04D8, 0xF013, "Pytrack", "Py343434"),
    port("/dev/ttyACM1", 0x04D8, 0xEF98, "Expansion3", "Pye090a1"),
    port("/dev/ttyUSB0", 0x0403, 0x6015, "FT230X Basic UART"),
    port("/dev/ttyUSB1", 0x10C4, 0xEA60, "CP2102 USB to UART"),
    port("/dev/ttyUSB2", 0x1A86, 0x55D4, "USB Single Serial"),
    port("/dev/ttyACM2", 0x04D8, 0xEF99, "Expansion3 DFU"),
    port("/dev/ttyS0"),  # a motherboard UART: no USB ids
    port("/dev/ttyACM3", 0x2341, 0x0043, "Arduino Uno"),
]


def listing():
    return LISTING


@pytest.mark.parametrize(
    ("vid", "pid", "family", "reset"),
    [
        (0x04D8, 0xF013, "Pytrack", "pic"),
        (0x04D8, 0xF012, "Pysense", "pic"),
        (0x04D8, 0xEF98, "Expansion Board 3", "pic"),
        (0x04D8, 0xEF38, "Pyscan", "pic"),
        (0x04D8, 0xED14, "Pygate", "pic"),
        (0x04D8, 0xF014, "Pytrack (DFU)", "none"),
        (0x0403, 0x6015, "Expansion Board 2.0 / FTDI FT-X", "manual"),
        (0x10C4, 0xEA60, "Silicon Labs CP210x", "dtr-rts"),
        (0x1A86, 0x7523, "WCH CH340", "dtr-rts"),
        (0x1A86, 0x55D4, "WCH CH9102", "dtr-rts"),
        (0x0403, 0x6001, "FTDI FT232R", "dtr-rts"),
    ],
)
def test_classify_known_bridges(vid, pid, family, reset):
    found = ports.classify(vid, pid)
    assert found is not None and found.name == family and found.reset == reset


def test_classify_unknown_and_missing_ids():
    assert ports.classify(0x2341, 0x0043) is None
    assert ports.classify(None, None) is None


def test_list_devices_keeps_boards_only_by_default():
    found = ports.list_devices(comports=listing)
    assert [d.port for d in found] == [
        "/dev/ttyACM0",
        "/dev/ttyACM1",
        "/dev/ttyUSB0",
        "/dev/ttyUSB1",
        "/dev/ttyUSB2",
        "/dev/ttyACM2",
    ]
    assert found[0].usb_id == "04D8:F013" and found[0].pycom and found[0].reset == "pic"


def test_list_devices_all_includes_unknown_usb_but_not_plain_uarts():
    found = ports.list_devices(include_unknown=True, comports=listing)
    arduino = [d for d in found if d.port == "/dev/ttyACM3"]
    assert arduino and arduino[0].family == "unknown USB serial"
    assert "/dev/ttyS0" not in [d.port for d in found]


def test_list_devices_includes_registered_simulators():
    registry.register(registry.SimRecord(name="bench1", board="lopy4", pid=os.getpid(), pty="/dev/pts/77"))
    found = ports.list_devices(comports=lambda: [])
    assert [(d.port, d.reset) for d in found] == [("sim:bench1", "sim")]


def test_stale_simulator_records_are_dropped():
    registry.register(registry.SimRecord(name="ghost", board="lopy", pid=2**22 + 12345, pty="/dev/pts/99"))
    assert registry.running() == []
    with pytest.raises(PytoolError, match="no simulator named 'ghost'"):
        registry.find("ghost")


def test_resolve_sim_port():
    registry.register(registry.SimRecord(name="b2", board="lopy4", pid=os.getpid(), pty="/dev/pts/5"))
    resolved = ports.resolve_port("sim:b2", comports=lambda: [])
    assert (resolved.url, resolved.reset, resolved.sim) == ("/dev/pts/5", "sim", "b2")


def test_resolve_autodetects_the_single_board():
    one = [port("/dev/ttyUSB7", 0x10C4, 0xEA60)]
    resolved = ports.resolve_port(None, comports=lambda: one)
    assert (resolved.url, resolved.reset) == ("/dev/ttyUSB7", "dtr-rts")


def test_resolve_refuses_to_guess_between_several_boards():
    with pytest.raises(UsageError, match="several boards"):
        ports.resolve_port(None, comports=listing)


def test_resolve_without_any_board():
    with pytest.raises(PytoolError, match="no board found"):
        ports.resolve_port(None, comports=lambda: [port("/dev/ttyACM2", 0x04D8, 0xEF99)])  # DFU-only


def test_resolve_urls_and_paths():
    assert ports.resolve_port("rfc2217://127.0.0.1:4000", comports=listing).reset == "dtr-rts"
    assert ports.resolve_port("socket://127.0.0.1:4000", comports=listing).reset == "none"
    assert ports.resolve_port("/dev/ttyACM1", comports=listing).reset == "pic"
    assert ports.resolve_port("/dev/ttyUSB0", comports=listing).reset == "manual"


def test_devices_command_json(monkeypatch, capsys):
    from pytool import cli

    monkeypatch.setattr(ports, "_system_ports", listing)
    monkeypatch.setattr(ports.list_devices, "__defaults__", (False, True, listing))
    try:
        assert cli.run(["devices", "--json"]) == 0
    finally:
        cli.options.json = False
    payload = json.loads(capsys.readouterr().out)
    assert {d["port"]: d["reset"] for d in payload} == {
        "/dev/ttyACM0": "pic",
        "/dev/ttyACM1": "pic",
        "/dev/ttyUSB0": "manual",
        "/dev/ttyUSB1": "dtr-rts",
        "/dev/ttyUSB2": "dtr-rts",
        "/dev/ttyACM2": "none",
    }
    assert payload[0]["usb_id"] == "04D8:F013"


def test_the_single_running_simulator_is_the_default_board(capsys):
    registry.register(registry.SimRecord(name="only", board="lopy4", pid=os.getpid(), pty="/dev/pts/6"))
    resolved = ports.resolve_port(None, comports=lambda: [])
    assert (resolved.spec, resolved.url, resolved.source) == ("sim:only", "/dev/pts/6", ports.FROM_SINGLE_SIM)
    said = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert said == ["No board attached: using the running simulator sim:only (pass --port to choose another)."]


def test_a_real_board_wins_over_a_running_simulator():
    registry.register(registry.SimRecord(name="only", board="lopy4", pid=os.getpid(), pty="/dev/pts/6"))
    one = [port("/dev/ttyUSB7", 0x10C4, 0xEA60)]
    assert ports.resolve_port(None, comports=lambda: one).url == "/dev/ttyUSB7"


def test_several_running_simulators_are_listed_in_one_line():
    for name in ("one", "two"):
        registry.register(registry.SimRecord(name=name, board="lopy4", pid=os.getpid(), pty=f"/dev/pts/{len(name)}"))
    with pytest.raises(UsageError) as caught:
        ports.resolve_port(None, comports=lambda: [])
    assert str(caught.value) == (
        "no board is attached and 2 simulators are running (sim:one, sim:two) - choose one with --port sim:NAME"
    )
    assert "\n" not in str(caught.value)
