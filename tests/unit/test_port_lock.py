"""One pytool process per port: the second one waits or is refused with the holder's pid and command; programs
that are not pytool but have the port open are named too; a dead holder never leaves a port locked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pytool.port_lock import PortBusy, hold, refuse_if_open_elsewhere

PORT = "rfc2217://127.0.0.1:1"  # the lock is about the name; nothing is opened

HOLDER = """
import sys, time
from pytool.port_lock import hold
with hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(seconds: float, port: str = PORT) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, port, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_with_the_holders_pid_and_command():
    proc = _holder(30)
    try:
        with pytest.raises(PortBusy) as refused, hold(PORT):
            pass
        message = str(refused.value)
        assert f"pid {proc.pid}" in message and "another pytool" in message and "import sys, time" in message
        assert "--wait" in refused.value.hint
    finally:
        proc.kill()
        proc.wait()


def test_with_wait_the_second_process_gets_the_port_when_the_first_lets_go():
    proc = _holder(1.5)
    try:
        with pytest.raises(PortBusy), hold(PORT):
            pass  # busy now...
        with hold(PORT, wait=30):
            pass  # ...and ours once the holder lets go
    finally:
        proc.wait()
    assert proc.returncode == 0


def test_a_killed_holder_leaves_the_port_free():
    proc = _holder(30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with hold(PORT):
        pass


def test_the_lock_is_reentrant_and_passed_to_children():
    with hold(PORT), hold(PORT):  # deploy holds the port, the sync inside it takes it again
        child = subprocess.run(
            [sys.executable, "-c", HOLDER, PORT, "0"], capture_output=True, text=True, timeout=30
        )  # `pytool test` runs pytest, whose plugin opens the port the parent holds
        assert child.stdout.strip() == "held", child.stderr
    started = time.monotonic()
    proc = _holder(0)  # released: a fresh process gets it at once
    proc.wait()
    assert proc.returncode == 0 and time.monotonic() - started < 60


def test_another_program_with_the_device_open_is_named():
    master, slave = os.openpty()
    device = os.ttyname(slave)
    os.close(slave)
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time; f = open({device!r}, 'rb', buffering=0); print(1, flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "1"
        with pytest.raises(PortBusy, match=f"another program \\(pid {other.pid}: -c import time"):
            refuse_if_open_elsewhere(device)
    finally:
        other.kill()
        other.wait()
        os.close(master)
    refuse_if_open_elsewhere(device)  # nobody has it open any more


def test_holds_may_end_in_any_order_and_the_last_one_releases():
    outer, inner = hold(PORT), hold(PORT)
    outer.__enter__()
    inner.__enter__()  # a session opened inside a deploy...
    outer.__exit__(None, None, None)  # ...may be closed after the deploy's own hold ended
    stranger = {k: v for k, v in os.environ.items() if k != "PYTOOL_HELD_PORTS"}  # not our child
    other = subprocess.run(
        [sys.executable, "-c", HOLDER, PORT, "0"], capture_output=True, text=True, timeout=30, env=stranger
    )
    assert "PortBusy" in other.stderr  # still held
    inner.__exit__(None, None, None)
    proc = _holder(0)
    proc.wait()
    assert proc.returncode == 0
