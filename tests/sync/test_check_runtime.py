"""`pytool check` flags runtime features added after MicroPython 1.11 for Pycom 1.20.x targets only."""

from __future__ import annotations

from pathlib import Path

from pytool import check
from pytool.check import Target

PYCOM = Target("pycom", "1.20.2.r4")
STOCK = Target("micropython", "1.24.1")
SOURCE = "import asyncio\nfrom deflate import DeflateIO\nh = b'ab'.hex()\nimport time\nt = time.time_ns()\nx = 1\n"


def report(tmp_path: Path, target: Target) -> check.CheckReport:
    src = tmp_path / "main.py"
    src.write_text(SOURCE)
    return check.check_files([(src, "main.py")], target)


def test_pycom_target_warns_with_lines(tmp_path):
    found = [(f.line, f.severity, f.code) for f in report(tmp_path, PYCOM).findings]
    assert found == [(n, "warning", "runtime-1.11") for n in (1, 2, 3, 5)]
    assert "ubinascii.hexlify" in report(tmp_path, PYCOM).findings[2].message


def test_stock_target_has_them(tmp_path):
    assert report(tmp_path, STOCK).findings == []
