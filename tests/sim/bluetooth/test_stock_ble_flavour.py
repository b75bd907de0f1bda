"""`bluetooth` belongs to the stock flavour only: a simulated Pycom board cannot import it (Pycom's API is
network.Bluetooth), a stock board imports it under both names."""

from __future__ import annotations

import ast

import pytest
from stock_sim import Serial, stock_board
from support.firmware import pycom_flash_image

from pytool.sim.testing import running_sim

pytestmark = pytest.mark.timeout(180)


def test_pycom_board_has_no_bluetooth_module(tmp_path):
    flash = pycom_flash_image(tmp_path / "lopy4.bin", "1.20.2.r4")
    state = tmp_path / "state"
    state.mkdir()
    with running_sim("lopy4", name="stockbt-pycom", flash=flash, state_dir=state) as rec:
        serial = Serial(rec.pty)
        try:
            out = serial.exec("try:\n import bluetooth\nexcept ImportError as e:\n print('ImportError', e)")
            assert out.strip() == b"ImportError no module named 'bluetooth'"
            assert serial.eval("'Bluetooth' in dir(__import__('network'))") == "True"
        finally:
            serial.close()


def test_stock_board_imports_bluetooth_and_ubluetooth(tmp_path):
    with stock_board(tmp_path, "stockbt-flavour") as (_rec, serial):
        assert serial.exec("import bluetooth, ubluetooth\nprint(ubluetooth is bluetooth)").strip() == b"True"
        assert serial.eval("bluetooth.BLE() is bluetooth.BLE()") == "True"
        assert serial.eval("[hasattr(bluetooth.BLE, m) for m in ('l2cap_listen', 'gap_pair')]") == "[False, True]"
        assert serial.eval("(bluetooth.FLAG_READ, bluetooth.FLAG_WRITE, bluetooth.FLAG_NOTIFY)") == "(2, 8, 16)"


def test_config_keys_as_the_esp32_port(tmp_path):
    with stock_board(tmp_path, "stockbt-config") as (_rec, serial):
        serial.exec("import bluetooth\nble = bluetooth.BLE()")
        assert serial.eval("ble.config('gap_name')") == "b'MPY ESP32'"  # works while inactive
        out = serial.exec("try:\n ble.config('mac')\nexcept OSError as e:\n print(e.errno)")
        assert out.strip() == b"19"  # ENODEV: not active
        serial.exec("ble.active(True)")
        addr_type, addr = ast.literal_eval(serial.eval("ble.config('mac')"))
        assert addr_type == 0 and len(addr) == 6  # public: base MAC + 2
        assert serial.eval("ble.config('mtu')") == "256"
        serial.exec("ble.config(mtu=300, gap_name='board')")
        assert serial.eval("(ble.config('mtu'), ble.config('gap_name'))") == "(300, b'board')"
        serial.exec("ble.config(addr_mode=1)")
        addr_type, addr = ast.literal_eval(serial.eval("ble.config('mac')"))
        assert addr_type == 1 and addr[0] & 0xC0 == 0xC0  # a random static address
        out = serial.exec("try:\n ble.config(rxbuf=512)\nexcept ValueError as e:\n print(e)")
        assert out.strip() == b"unknown config param"  # sync events on the ESP32 port: no ring buffer
        out = serial.exec("try:\n ble.config(mtu=10)\nexcept OSError as e:\n print(e.errno)")
        assert out.strip() == b"22"
