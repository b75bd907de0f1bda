"""`pytool check`: MicroPython 1.11 syntax through the real mpy-cross 1.11, and Pycom API misuse (reference 4.3-4.7)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytool import check
from pytool.check import Target

PYCOM = Target("pycom", "1.20.2.r4")
OLD_PYCOM = Target("pycom", "1.20.1.r2")
DOC_EXAMPLE = Path(__file__).parents[2] / "examples" / "gatt_server" / "tests" / "fixtures" / "pycom_docs_example.py"


def run(tmp_path: Path, source: str, target: Target = PYCOM, name: str = "main.py") -> check.CheckReport:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return check.check_files([(path, name)], target)


def codes(report: check.CheckReport) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in report.findings]


def test_f_string_is_an_error_with_its_line(tmp_path):
    report = run(tmp_path, 'x = 1\n\nprint(f"value {x}")\n')
    assert codes(report) == [("syntax", 3)]
    finding = report.errors[0]
    assert finding.path == "main.py" and "f-string" in finding.message and "1.11" in finding.message
    assert str(finding).startswith("main.py:3: error:")


def test_walrus_is_reported(tmp_path):
    report = run(tmp_path, "data = [1]\nif (n := len(data)) > 0:\n    pass\n")
    assert codes(report) == [("syntax", 2)] and ":=" in report.errors[0].message


def test_f_string_is_fine_on_current_micropython(tmp_path):
    report = run(tmp_path, 'x = 1\nprint(f"value {x}")\n', Target("micropython", "1.24.1"))
    assert report.findings == [] and report.compiled["main.py"].startswith(b"M")


def test_valid_code_compiles_to_mpy_v4(tmp_path):
    report = run(tmp_path, "def f(a, b=2):\n    return a + b\n")
    assert report.findings == []
    assert report.compiled["main.py"][:2] == b"M\x04"  # mpy version 4 = MicroPython 1.11


HANDLERS = """
from network import Bluetooth
bt = Bluetooth()
srv = bt.service(uuid=0x181A, nbr_chars=3)
c1 = srv.characteristic(uuid=0x2A6E)
c2 = srv.characteristic(uuid=0x2A6F)
c3 = srv.characteristic(uuid=0x2A70)

def old_style(chr):
    pass

def portable(chr, data=None):
    pass

def needs_two(chr, data):
    pass

class Server:
    def on_write(self, chr):
        pass

    def start(self):
        c3.callback(trigger=Bluetooth.CHAR_WRITE_EVENT, handler=self.on_write)

c1.callback(trigger=Bluetooth.CHAR_READ_EVENT | Bluetooth.CHAR_WRITE_EVENT, handler=old_style)
c2.callback(Bluetooth.CHAR_WRITE_EVENT, portable)
c2.callback(Bluetooth.CHAR_SUBSCRIBE_EVENT, needs_two)
c3.callback(trigger=Bluetooth.CHAR_READ_EVENT, handler=lambda c: 1)
bt.callback(trigger=Bluetooth.CLIENT_CONNECTED, handler=old_style)
"""


def test_one_argument_handlers_are_errors_on_new_firmware(tmp_path):
    report = run(tmp_path, HANDLERS)
    flagged = sorted(f.line for f in report.findings if f.code == "ble-handler")
    # self.on_write (bound, 1 arg), old_style on c1, the lambda; NOT portable, needs_two, nor bt.callback
    assert flagged == [23, 25, 28]
    assert all(f.severity == "error" for f in report.findings if f.code == "ble-handler")


def test_two_argument_handlers_are_errors_on_old_firmware(tmp_path):
    report = run(tmp_path, HANDLERS, OLD_PYCOM)
    assert [f.line for f in report.findings if f.code == "ble-handler"] == [27]  # needs_two


def test_sixteen_character_uuid_warns_with_what_the_client_sees(tmp_path):
    report = run(tmp_path, "srv = bt.service(uuid=b'1234567890123456')\nsrv2 = bt.service('abcdefghijklmnop')\n")
    assert codes(report) == [("ble-uuid", 1), ("ble-uuid", 2)]
    assert "36353433-3231-3039-3837-363534333231" in report.findings[0].message  # reference 4.3
    assert report.errors == []


def test_more_characteristics_than_nbr_chars(tmp_path):
    source = """
    srv = bt.service(uuid=1, nbr_chars=2)
    a = srv.characteristic(uuid=2)
    b = srv.characteristic(uuid=3)
    c = srv.characteristic(uuid=4)
    default = bt.service(uuid=5)
    default.characteristic(uuid=6)
    enough = bt.service(uuid=7, nbr_chars=2)
    enough.characteristic(uuid=8)
    enough.characteristic(uuid=9)
    """
    report = run(tmp_path, source)
    assert codes(report) == [("ble-nbr-chars", 2)]
    assert "nbr_chars=2" in report.findings[0].message and "3 characteristics" in report.findings[0].message


def test_default_nbr_chars_is_one_and_loops_are_not_guessed(tmp_path):
    source = """
    def setup(bt):
        s = bt.service(uuid=1)
        s.characteristic(uuid=2)
        s.characteristic(uuid=3)
        t = bt.service(uuid=4, nbr_chars=1)
        for u in (5, 6, 7):
            t.characteristic(uuid=u)
    """
    report = run(tmp_path, source)
    assert codes(report) == [("ble-nbr-chars", 3)]


def test_documentation_example_is_flagged(tmp_path):
    """The GATTSCharacteristic page's own example: 1-arg handlers and ASCII UUIDs (reference 4.4, 4.3)."""
    if not DOC_EXAMPLE.is_file():
        pytest.skip("examples/gatt_server fixture not present")
    report = run(tmp_path, DOC_EXAMPLE.read_text())
    kinds = [f.code for f in report.findings]
    assert kinds.count("ble-handler") == 2 and kinds.count("ble-uuid") == 3


def test_stock_micropython_skips_pycom_checks(tmp_path):
    report = run(tmp_path, HANDLERS, Target("micropython", "1.24.1"))
    assert report.findings == []


@pytest.mark.parametrize(
    ("older", "newer"),
    [("1.20.2.rc2", "1.20.2"), ("1.20.2", "1.20.2.r1"), ("1.20.1.r2", "1.20.2.rc2"), ("1.18.2.r7", "1.20.0.rc13")],
)
def test_pycom_version_order(older, newer):
    assert check.parse_pycom_version(older) < check.parse_pycom_version(newer)


def test_bad_version_is_a_clear_error():
    with pytest.raises(check.PytoolError, match="firmware version"):
        check.target_from("pycom", "banana")
