"""Board identity on the air: the Bluetooth address ESP-IDF derives from the base MAC (pytool.ble.address)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytool.ble.address import (
    READ_BASE_MAC,
    base_mac_from_output,
    bt_address,
    bt_mac,
    normalize_address,
    read_ble_address,
    same_address,
    simulator_ble_address,
)
from pytool.errors import PytoolError
from pytool.sim import registry
from pytool.sim.bluetooth.nimble import NimbleService
from pytool.sim.bluetooth.service import BluetoothService


def test_bt_address_is_base_mac_plus_two_in_the_last_octet():
    assert bt_address(b"\x24\x0a\xc4\x12\x34\x56") == "24:0A:C4:12:34:58"
    assert bt_address("24:0a:c4:12:34:56") == "24:0A:C4:12:34:58"
    assert bt_address("240AC4123456") == "24:0A:C4:12:34:58"


def test_the_last_octet_wraps_without_carry_as_in_esp_idf():
    assert bt_address("24:0A:C4:12:34:FE") == "24:0A:C4:12:34:00"
    assert bt_address("24:0A:C4:12:34:FF") == "24:0A:C4:12:34:01"
    assert bt_address("FF:FF:FF:FF:FF:FF") == "FF:FF:FF:FF:FF:01"


@given(st.binary(min_size=6, max_size=6))
def test_only_the_last_octet_changes(mac):
    derived = bt_mac(mac)
    assert derived[:5] == mac[:5] and (derived[5] - mac[5]) % 256 == 2


def test_the_simulated_board_advertises_from_the_derived_address():
    for mac in (b"\x24\x0a\xc4\x00\x00\x00", b"\x30\xae\xa4\x01\x02\xff"):
        assert BluetoothService("tcp-client:127.0.0.1:1", mac=mac).bt_mac == bt_mac(mac)
        assert NimbleService("tcp-client:127.0.0.1:1", mac=mac).bt_mac == bt_mac(mac)  # stock boards alike


def test_normalize_and_compare_addresses():
    assert normalize_address(" aa-bb-cc-dd-ee-ff ") == "AA:BB:CC:DD:EE:FF"
    assert same_address("aa:bb:cc:dd:ee:ff", "AABBCCDDEEFF")
    assert not same_address("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:fe")
    for bad in ("", "aa:bb:cc:dd:ee", "gg:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff:00"):
        with pytest.raises(ValueError, match="not a Bluetooth address"):
            normalize_address(bad)
    with pytest.raises(ValueError, match="6 bytes"):
        bt_address(b"\x01\x02")


def test_base_mac_from_what_the_board_printed():
    assert base_mac_from_output(b"240ac4123456\r\n") == bytes.fromhex("240ac4123456")
    with pytest.raises(ValueError, match="did not print its MAC"):
        base_mac_from_output(b"Traceback (most recent call last):\r\n")


def test_read_ble_address_runs_the_device_code_and_derives_the_address():
    ran = []

    def run(code: str) -> str:
        ran.append(code)
        return "240ac4123456\n"

    assert read_ble_address(run) == "24:0A:C4:12:34:58"
    assert ran == [READ_BASE_MAC]


def test_simulator_ble_address_comes_from_the_registry():
    registry.register(
        registry.SimRecord(name="twin", board="lopy4", pid=os.getpid(), pty="", bt_address="30:AE:A4:00:00:02")
    )
    assert simulator_ble_address("sim:twin") == "30:AE:A4:00:00:02"
    assert simulator_ble_address("/dev/ttyUSB0") is None
    with pytest.raises(PytoolError, match="no simulator named 'ghost'"):
        simulator_ble_address("sim:ghost")
