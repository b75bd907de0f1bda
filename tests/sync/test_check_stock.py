"""`pytool check` on stock MicroPython `bluetooth` code (pytool/check_stock.py): registering services while
advertising (NimBLE: EBUSY) and IRQ handlers keeping memoryviews of their data tuple."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pytool import check
from pytool.check import Target

STOCK = Target("micropython", "1.24.1")
EXAMPLE = Path(__file__).parents[2] / "examples" / "stock_gatt_server" / "main.py"


def findings(tmp_path: Path, source: str) -> list[tuple[str, int, str]]:
    path = tmp_path / "main.py"
    path.write_text(textwrap.dedent(source))
    return [(f.code, f.line, f.severity) for f in check.check_files([(path, "main.py")], STOCK).findings]


def test_register_after_advertising_is_an_error(tmp_path):
    source = """
        import bluetooth
        ble = bluetooth.BLE()
        ble.active(True)
        ble.gap_advertise(100000, b'\\x02\\x01\\x06')
        ble.gatts_register_services(())
    """
    assert findings(tmp_path, source) == [("ble-register-advertising", 6, "error")]


def test_register_after_stopping_advertising_or_before_is_fine(tmp_path):
    source = """
        import bluetooth
        ble = bluetooth.BLE()
        ble.gatts_register_services(())
        ble.gap_advertise(100000, b'')
        def again():
            ble.gap_advertise(None)
            ble.gatts_register_services(())
    """
    assert findings(tmp_path, source) == []


def test_irq_handler_keeping_a_memoryview_warns(tmp_path):
    source = """
        import bluetooth
        seen = []
        last = None
        def irq(event, data):
            global last
            if event == 1:
                conn, addr_type, addr = data
                last = addr
                handle = conn
            elif event == 5:
                addr_type, addr, adv_type, rssi, adv_data = data
                seen.append(adv_data)
                seen.append(bytes(addr))
        bluetooth.BLE().irq(irq)
    """
    assert findings(tmp_path, source) == [("ble-irq-memoryview", 9, "warning"), ("ble-irq-memoryview", 13, "warning")]


def test_methods_of_a_class_and_copies_are_fine(tmp_path):
    source = """
        import bluetooth
        class Peripheral:
            def __init__(self):
                self._ble = bluetooth.BLE()
                self._ble.irq(self._irq)
            def _irq(self, event, data):
                if event == 1:
                    conn_handle, _, addr = data
                    self._conn = conn_handle
                    self._addr = bytes(addr)
                elif event == 2:
                    conn_handle, _, addr = data
                    self._last = addr
    """
    assert findings(tmp_path, source) == [("ble-irq-memoryview", 14, "warning")]


def test_the_stock_example_is_clean(tmp_path):
    report = check.check_files([(EXAMPLE, "main.py")], STOCK)
    assert report.findings == []
