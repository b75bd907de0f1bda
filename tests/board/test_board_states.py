"""A board that gives no raw REPL prompt gets a line naming its state, told from what it prints (issue 19): a port
another program reads, a missing port, a main.py that swallows Ctrl-C (and `reset --safe` getting it back), ROM
download mode, a half-flashed firmware, erased firmware, a blank module. One simulated LoPy4 for the module; the
tests run in file order, each leaving the board in a worse state than it found it (the last one blanks it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from support.flashed import flashed_image
from support.sim import esptool_pty, module_sim

from pytool.board import BoardSession
from pytool.cli import run
from pytool.sim import SimControl, SimRecord

pytestmark = pytest.mark.timeout(240)

#: A terminal program left reading the board's port: it takes what the board sends.
READER = """import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
print('open', flush=True)
while True:
    os.read(fd, 4096)
"""
SWALLOWS_CTRL_C = """import time
while True:
    try:
        print('tick')
        time.sleep(0.2)
    except KeyboardInterrupt:
        print('not stopping')
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimRecord, str]]:
    with module_sim(tmp_path_factory, "lopy4", "states", flashed_image(tmp_path_factory)) as (rec, state, _data):
        yield rec, str(state)


@pytest.fixture
def sim(running: tuple[SimRecord, str], monkeypatch: pytest.MonkeyPatch) -> SimRecord:
    """The module's simulator, reachable as sim:NAME (its registry is in its own state folder)."""
    monkeypatch.setenv("PYTOOL_STATE_DIR", running[1])
    return running[0]


def _error_line(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Exit code and the one line on stderr of `pytool ARGV` (asserts there is exactly one, and no traceback)."""
    capsys.readouterr()
    code = run(list(argv))
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    return code, lines[0]


def _boot_into(rec: SimRecord, mode: str) -> None:
    """Reset the simulator and wait until it is in `mode` (app, download, boot-loop)."""
    control = SimControl(rec.control)
    control.reset(bootloader=mode == "download")
    deadline = time.monotonic() + 20
    while control.status()["mode"] != mode:
        assert time.monotonic() < deadline, control.status()
        time.sleep(0.05)


def test_a_port_another_program_reads_is_named_and_a_missing_port_differs(sim, capsys):
    reader = subprocess.Popen([sys.executable, "-c", READER, sim.pty], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        code, line = _error_line(capsys, "-p", f"sim:{sim.name}", "ls")
        assert code == 1
        assert f"in use by another program (pid {reader.pid}" in line and "close that program" in line
    finally:
        reader.kill()
        reader.wait()
    _boot_into(sim, "app")  # what the reader left half-read does not reach the next test
    code, line = _error_line(capsys, "-p", "/dev/ttyNoSuchBoard", "ls")
    assert code == 1
    assert (
        line == "Error: there is no port /dev/ttyNoSuchBoard - plug the board in, or pick a port from `pytool devices`"
    )


def test_a_main_py_that_swallows_ctrl_c_is_named_and_reset_safe_gets_the_board_back(sim, capsys):
    with BoardSession.connect(f"sim:{sim.name}") as board:
        board.exec(f"f = open('/flash/main.py', 'w')\nf.write({SWALLOWS_CTRL_C!r})\nf.close()\n")
    _boot_into(sim, "app")  # the reset button (not machine.reset(): the test is not about that)
    time.sleep(1)
    code, line = _error_line(capsys, "-p", f"sim:{sim.name}", "ls")
    assert code == 1
    assert "boots, but its program does not stop on Ctrl-C" in line and "`pytool reset --safe`" in line
    capsys.readouterr()
    assert run(["-p", f"sim:{sim.name}", "reset", "--safe"]) == 0
    assert "safe boot done" in capsys.readouterr().err
    with BoardSession.connect(f"sim:{sim.name}") as board:  # main.py did not run: the raw REPL answers
        board.exec("f = open('/flash/main.py', 'w')\nf.close()\n")


def test_reset_safe_uses_the_reset_line_when_main_py_disables_ctrl_c_and_ctrl_f(sim, capsys):
    deaf = "import micropython, time\nmicropython.kbd_intr(-1)\nwhile True:\n    time.sleep(0.2)\n"
    with BoardSession.connect(f"sim:{sim.name}") as board:
        board.exec(f"f = open('/flash/main.py', 'w')\nf.write({deaf!r})\nf.close()\n")
    _boot_into(sim, "app")
    time.sleep(1)
    capsys.readouterr()
    assert run(["-p", f"sim:{sim.name}", "reset", "--safe"]) == 0, capsys.readouterr().err
    with BoardSession.connect(f"sim:{sim.name}") as board:  # main.py did not run this boot
        board.exec("f = open('/flash/main.py', 'w')\nf.close()\n")


def test_pymakr_safe_boot_on_upload_syncs_past_such_a_main_py(sim, capsys, tmp_path):
    with BoardSession.connect(f"sim:{sim.name}") as board:
        board.exec(f"f = open('/flash/main.py', 'w')\nf.write({SWALLOWS_CTRL_C!r})\nf.close()\n")
    _boot_into(sim, "app")  # the reset button (not machine.reset(): the test is not about that)
    (tmp_path / "main.py").write_text("print('new main')\n")
    conf = {"address": f"sim:{sim.name}", "sync_file_types": "py", "safe_boot_on_upload": True}
    (tmp_path / "pymakr.conf").write_text(json.dumps(conf))
    capsys.readouterr()
    assert run(["sync", str(tmp_path)]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "pymakr.conf safe_boot_on_upload: honoured" in err and "+ main.py" in err
    with BoardSession.connect(f"sim:{sim.name}") as board:
        assert board.read_file("/flash/main.py") == b"print('new main')\n"
        board.exec("f = open('/flash/main.py', 'w')\nf.close()\n")


def test_rom_download_mode(sim, capsys):
    _boot_into(sim, "download")
    code, line = _error_line(capsys, "-p", f"sim:{sim.name}", "ls")
    assert code == 1
    assert "is in its ROM download mode (waiting for download)" in line
    assert f"`pytool sim reset {sim.name}`" in line


def test_half_flashed_firmware(sim, capsys):
    esptool_pty(sim, "write-flash", "0x12000", _junk(sim))  # part of the app overwritten, as by a cut-off flash
    _boot_into(sim, "boot-loop")
    code, line = _error_line(capsys, "-p", f"sim:{sim.name}", "ls")
    assert code == 1
    assert "does not boot: its firmware is damaged or half-flashed (E (" in line and "esp_image" in line
    assert "pytool flash FIRMWARE" in line


def test_erased_firmware(sim, capsys):
    assert run(["-p", f"sim:{sim.name}", "erase"]) == 0
    _boot_into(sim, "boot-loop")
    code, line = _error_line(capsys, "-p", f"sim:{sim.name}", "ls")
    assert code == 1
    assert "is erased (the ROM says 'invalid header: 0xffffffff'); its files (/flash) and settings (NVS)" in line
    assert "pytool flash FIRMWARE" in line


def test_blank_module(sim, capsys):
    esptool_pty(sim, "erase-flash")
    _boot_into(sim, "boot-loop")
    code, line = _error_line(capsys, "-p", f"sim:{sim.name}", "ls")
    assert code == 1
    assert "is blank: no bootloader, no firmware, no files (the ROM says 'invalid header: 0xffffffff')" in line


def _junk(sim: SimRecord) -> str:
    path = sim.flash + ".junk"
    with open(path, "wb") as f:
        f.write(bytes(range(256)) * 16)
    return path
