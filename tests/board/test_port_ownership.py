"""One pytool process per port: a second pytool (a flash during a run, an exec during a run) is refused with the
holder's pid and command before anything reaches the board, or waits with --wait; the board is untouched."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytool.board import BoardSession
from pytool.cli import run

pytestmark = pytest.mark.timeout(180)

SLOW = "import time\nprint('started')\ntime.sleep({seconds})\nprint('finished')\n"


def _holder(port: str, tmp_path, seconds: float) -> subprocess.Popen:
    """`pytool run` of a script that sleeps: a second pytool process holding the port."""
    script = tmp_path / "slow.py"
    script.write_text(SLOW.format(seconds=seconds))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytool", "-p", port, "run", str(script)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "started"
    return proc


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_erase_while_another_pytool_runs_a_program_is_refused_before_any_reset(port, tmp_path, capsys):
    with BoardSession.connect(port) as board:
        board.exec("f = open('/flash/keep.txt', 'w')\nf.write('kept')\nf.close()\n")
    holder = _holder(port, tmp_path, 6)
    try:
        assert run(["-p", port, "erase"]) == 1
        line = _one_line(capsys.readouterr().err)
        assert f"in use by another pytool (pid {holder.pid}: pytool -p {port} run" in line and "--wait" in line
        assert holder.poll() is None  # the running program was not disturbed...
    finally:
        out, _ = holder.communicate(timeout=60)
    assert "finished" in out and holder.returncode == 0  # ...and ran to its end
    with BoardSession.connect(port) as board:  # the firmware still runs and the files are there
        assert board.eval("open('/flash/keep.txt').read()") == "kept"
        board.exec("import os\nos.remove('/flash/keep.txt')\n")


def test_with_wait_the_second_pytool_runs_once_the_first_lets_go(port, tmp_path, capsys):
    holder = _holder(port, tmp_path, 2)
    try:
        assert run(["-p", port, "exec", "print(6 * 7)"]) == 1  # without --wait: refused at once
        assert "in use by another pytool" in capsys.readouterr().err
        assert run(["--wait", "60", "-p", port, "exec", "print(6 * 7)"]) == 0  # waits for the holder
        assert capsys.readouterr().out.strip() == "42"
    finally:
        holder.communicate(timeout=60)
    assert holder.returncode == 0
