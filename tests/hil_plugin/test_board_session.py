"""The over-the-air tests' board session against a real MicroPython interpreter on a pty (no simulator needed).

The interpreter is the MicroPython unix port (the same one the simulator runs); the test talks to it through a
second pty, as to a USB serial port. Its raw REPL is the classic protocol Pycom firmware speaks.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytool.capture import SerialCapture
from pytool.monitor import BoardMonitor, MonitorError

MICROPYTHON = Path(sys.prefix) / "bin" / "micropython"


def _relay(source: int, target: int) -> None:
    while True:
        try:
            data = os.read(source, 4096)
        except OSError:
            return
        if not data:
            return
        os.write(target, data)


@pytest.fixture
def port() -> Iterator[str]:
    """A serial-port path with a MicroPython interpreter on the other end."""
    board_master, board_slave = pty.openpty()  # the interpreter's terminal
    host_master, host_slave = pty.openpty()  # the "USB serial port" the session opens
    tty.setraw(board_slave)
    tty.setraw(host_slave)
    proc = subprocess.Popen(
        [str(MICROPYTHON)], stdin=board_slave, stdout=board_slave, stderr=board_slave, start_new_session=True
    )
    for a, b in ((board_master, host_master), (host_master, board_master)):
        threading.Thread(target=_relay, args=(a, b), daemon=True).start()
    try:
        yield os.ttyname(host_slave)
    finally:
        proc.kill()
        proc.wait(5)
        for fd in (board_master, board_slave, host_master, host_slave):
            os.close(fd)


def test_exec_eval_and_errors(port):
    with BoardMonitor(port) as board:
        assert board.exec("print(6 * 7)") == "42\n"
        assert board.eval("[1, 'two', b'3']") == [1, "two", b"3"]
        with pytest.raises(MonitorError, match="ValueError: boom"):
            board.exec("raise ValueError('boom')")
        with pytest.raises(ValueError, match="control byte"):
            board.exec("print('\x06')")  # Ctrl-F would reset a Pycom board into safe boot
        assert board.exec("print('still alive')") == "still alive\n"


def test_expect_sees_output_printed_on_its_own(port):
    """Output a board prints by itself (a callback on another thread) is captured between commands."""
    with BoardMonitor(port) as board:
        board.begin_test()
        board.exec(
            "import _thread, time\n"
            "def later():\n"
            "    for i in range(3):\n"
            "        time.sleep(0.2)\n"
            "        print('tick', i)\n"
            "_thread.start_new_thread(later, ())\n"
        )
        assert board.expect(r"tick (\d)", timeout=10).group(1) == "0"
        assert board.expect(r"tick (\d)", timeout=10).group(1) == "1"  # the next one, not the same line again
        assert board.expect(r"tick (\d)", timeout=10).group(1) == "2"
        assert board.count(r"tick \d") == 3
        with pytest.raises(AssertionError, match=r"did not print /tock/ within 0.5 s; its last lines:\n(.|\n)*tick 2"):
            board.expect("tock", timeout=0.5)
        board.begin_test()
        assert board.count(r"tick \d") == 0  # a new test starts with a clean slate


def test_capture_positions_and_text():
    capture = SerialCapture()
    capture.feed(b"boot\r\nhello \xe2\x9c\x93\r\n")
    found = capture.search(r"hello (\S+)", 0, timeout=0)
    assert found is not None and found[0].group(1) == "✓"
    end = found[1]
    assert capture.text(end) == "\n"  # the byte position right after the match, multi-byte text included
    assert capture.search("boot", end, timeout=0) is None

    def late() -> None:
        time.sleep(0.2)
        capture.feed(b"OK\x04err\x04>")

    threading.Thread(target=late).start()
    reply = capture.search_bytes(rb"OK(.*?)\x04(.*?)\x04>", end, timeout=10)
    assert reply is not None and reply.group(2) == b"err"
    assert "\x04" not in capture.text()
    assert capture.tail(2) == "hello ✓\nOKerr>"
