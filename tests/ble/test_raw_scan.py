"""pytool.ble.raw_scan: the Bumble-free scan of deploy's advertise step, against the simulators' radio hub with
plain Bumble peripherals on it (tests/support/ble_radio.py), whose names are in their scan responses only."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from pytool.ble import raw_scan
from pytool.errors import PytoolError

pytestmark = pytest.mark.timeout(60)


def test_finds_a_peripheral_by_address_and_reads_its_name(radio, peripheral, peripheral2):
    heard = raw_scan.find_advertiser(radio.transport, None, peripheral2.address.lower(), timeout=10)
    assert heard is not None
    assert heard.address == peripheral2.address.upper()
    assert heard.name in (None, "pytool-periph-2")  # the first report: the advertisement or its scan response


def test_finds_a_peripheral_by_the_name_in_its_scan_response(radio, peripheral):
    heard = raw_scan.find_advertiser(radio.transport, "pytool-periph", None, timeout=10)
    assert heard == raw_scan.Advertiser(peripheral.address.upper(), "pytool-periph")


def test_nobody_advertising_gives_none_and_the_controller_leaves_the_radio(radio):
    before = radio.hub.connections
    started = time.monotonic()
    assert raw_scan.find_advertiser(radio.transport, None, "C0:FF:EE:00:00:01", timeout=0.5) is None
    assert raw_scan.find_advertiser(radio.transport, "no such name", None, timeout=0.5) is None
    assert time.monotonic() - started < 8
    deadline = time.monotonic() + 5
    while radio.hub.connections != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert radio.hub.connections == before


def test_a_closed_port_is_one_line():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PytoolError, match=f"cannot open Bluetooth transport tcp-client:127.0.0.1:{port}"):
        raw_scan.find_advertiser(f"tcp-client:127.0.0.1:{port}", "LoPy", None, timeout=1)


def test_only_tcp_transports_are_handled():
    assert raw_scan.handles("tcp-client:127.0.0.1:1234")
    assert not raw_scan.handles("usb:0")
    assert not raw_scan.handles("serial:/dev/ttyACM0,1000000")


def test_legacy_and_extended_reports_are_read():
    name = b"\x05\x09LoPy"
    address = bytes.fromhex("665544332211")  # 11:22:33:44:55:66, little-endian on the wire
    legacy = bytes([0x02, 1, 0x00, 0x00]) + address + bytes([len(name)]) + name + b"\xc4"
    extended = bytes([0x0D, 1]) + struct.pack("<H", 0x13) + b"\x00" + address + bytes(14) + bytes([len(name)]) + name
    expected = [raw_scan.Advertiser("11:22:33:44:55:66", "LoPy")]
    assert raw_scan._reports(legacy) == expected
    assert raw_scan._reports(extended) == expected
    assert raw_scan._reports(bytes([0x01, 0x00])) == []  # another LE event (connection complete)


def test_deploy_to_a_simulator_needs_neither_bumble_nor_bleak():
    """What the advertise step of a deploy to a simulated board imports (issue 17: Bumble is ~0.35 s of CPU)."""
    import subprocess
    import sys

    code = (
        "import sys, pytool.deploy, pytool.ble, pytool.ble.address, pytool.ble.raw_scan\n"
        "pytool.ble.configured(), pytool.ble.resolve_transport('tcp-client:127.0.0.1:1')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'bumble', 'bleak'}))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
