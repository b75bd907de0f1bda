"""`pytool watch` against a simulated LoPy4: an edit runs on the board after one sync; an edit with a syntax error
is reported and the board keeps running the old code; the real command (watchfiles) in a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pytool.board import BoardSession
from pytool.config import load
from pytool.ports import resolve_port
from pytool.watch import Watcher

pytestmark = pytest.mark.timeout(180)

MAIN = "import time\nimport helper\nn = 0\nwhile True:\n    print(helper.VALUE, n)\n    n += 1\n    time.sleep(0.1)\n"


def project(folder: Path, value: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(MAIN)
    (folder / "helper.py").write_text(f"VALUE = {value!r}\n")
    (folder / "tests").mkdir(exist_ok=True)
    (folder / "tests" / "test_x.py").write_text("def test(): pass\n")  # never deployed: not a project file
    return folder


class Seen:
    """What a watcher printed: board output and status lines, with a wait for a text to appear."""

    def __init__(self) -> None:
        self.output = ""
        self.status: list[str] = []
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self.lock:
            self.output += data.decode("utf-8", "replace")

    def say(self, line: str) -> None:
        with self.lock:
            self.status.append(line)


def pump_until(watcher: Watcher, seen: Seen, text: str, after: int = 0, limit: float = 30.0) -> int:
    """Stream the board's output until `text` appears after position `after` of it; returns where it ends."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        watcher.pump(0.1)
        at = seen.output.find(text, after)
        if at >= 0:
            return at + len(text)
    raise AssertionError(f"{text!r} not printed; output: {seen.output[-500:]!r}; status: {seen.status}")


def test_an_edit_runs_after_one_sync_and_a_syntax_error_keeps_the_old_code(port, tmp_path):
    folder = project(tmp_path / "proj", "v1")
    seen = Seen()
    watcher = Watcher(load(folder), lambda: resolve_port(port), "main", seen.say, seen.write, replace=True)
    try:
        watcher.connect()
        mark = pump_until(watcher, seen, "v1 3")
        assert watcher.process([folder / "tests" / "test_x.py"]) is None  # not a project file: nothing happens

        (folder / "helper.py").write_text("VALUE = 'v2'\n")
        result = watcher.process([folder / "helper.py"])
        assert result is not None and result.uploaded == ["helper.py"] and result.restart == "main"
        mark = pump_until(watcher, seen, "v2 3", mark)  # the module was imported afresh by the re-run main.py

        (folder / "helper.py").write_text("VALUE = 'v3\n")  # unterminated string
        result = watcher.process([folder / "helper.py"])
        assert result is not None and result.uploaded == [] and result.restart is None
        assert any("helper.py:1" in e and "SyntaxError" in e for e in result.errors), result.errors
        assert any("nothing was uploaded" in line for line in seen.status)
        last = int(re.findall(r"v2 (\d+)", seen.output)[-1])
        pump_until(watcher, seen, f"v2 {last + 5}", mark)  # the old program runs on, uninterrupted
        assert "v3" not in seen.output

        (folder / "helper.py").write_text("VALUE = 'v4'\n")  # fixed: the project is checked again, then uploaded
        result = watcher.process([folder / "helper.py"])
        assert result is not None and result.uploaded == ["helper.py"]
        pump_until(watcher, seen, "v4 2", mark)
    finally:
        watcher.close()
    with BoardSession.connect(port) as board:
        assert board.read_file("helper.py") == b"VALUE = 'v4'\n"
        assert board.stat("tests") is None


def test_the_watch_command_uploads_each_save_and_refuses_a_syntax_error(port, tmp_path):
    folder = project(tmp_path / "cmd", "w1")
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytool", "-p", port, "watch", str(folder), "--replace"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    out, err = Seen(), Seen()

    def reader(stream, seen: Seen) -> None:
        for chunk in iter(lambda: stream.read1(4096), b""):
            seen.write(chunk)

    threads = [
        threading.Thread(target=reader, args=(s, x), daemon=True) for s, x in ((proc.stdout, out), (proc.stderr, err))
    ]
    for thread in threads:
        thread.start()

    def wait(seen: Seen, text: str, after: int = 0, limit: float = 60.0) -> int:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            at = seen.output.find(text, after)
            if at >= 0:
                return at + len(text)
            assert proc.poll() is None, f"pytool watch ended: {err.output}"
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not seen; stdout {out.output[-300:]!r}; stderr {err.output!r}")

    try:
        wait(out, "w1 2")
        (folder / "helper.py").write_text("VALUE = 'w2'\n")
        wait(out, "w2 2")
        assert err.output.count("synced:") == 2, err.output  # the start, then one sync for the edit
        assert "synced: +helper.py\n" in err.output, err.output  # only what changed
        (folder / "helper.py").write_text("VALUE = 'w3\n")
        mark = wait(err, "nothing was uploaded")
        assert "SyntaxError" in err.output[:mark]
        last = int(re.findall(r"w2 (\d+)", out.output)[-1])
        wait(out, f"w2 {last + 5}")  # still the old code, printing on
        assert err.output.count("synced:") == 2 and "w3" not in out.output
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        for thread in threads:
            thread.join(timeout=5)
    assert code == 0, err.output
    assert "stopped watching" in err.output and "Traceback" not in err.output
    with BoardSession.connect(port) as board:
        assert board.read_file("helper.py") == b"VALUE = 'w2'\n"


def test_the_loop_rides_out_a_board_that_resets_or_disappears(port, tmp_path, monkeypatch):
    import queue

    from pytool.sim import SimControl, registry

    monkeypatch.setenv("PYTOOL_STATE_DIR", str(Path(port).parents[2]))  # the module's simulator (support/flashed.py)
    record = registry.find("testwatch")
    control = SimControl(record.control)
    folder = project(tmp_path / "ride", "r1")
    seen = Seen()
    watcher = Watcher(load(folder), lambda: resolve_port("sim:testwatch"), "main", seen.say, seen.write, replace=True)
    batches: queue.Queue = queue.Queue()
    stop = threading.Event()
    loop = threading.Thread(target=watcher.run, args=(batches, stop), daemon=True)

    def wait(text: str, after: int = 0, limit: float = 60.0) -> int:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            at = seen.output.find(text, after)
            if at >= 0:
                return at + len(text)
            assert loop.is_alive(), seen.status
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not printed; output: {seen.output[-500:]!r}; status: {seen.status}")

    loop.start()
    try:
        mark = wait("r1 3")
        control.reset()  # the reset button: main.py (the project's, from /flash) starts again, still streamed
        mark = wait("r1 0", mark)
        (folder / "helper.py").write_text("VALUE = 'r2'\n")
        batches.put({folder / "helper.py"})
        mark = wait("r2 3", mark)

        control.request({"op": "fault", "name": "cut", "params": {"after_s": 0.1, "down_s": 1.5}, "repeat": False})
        deadline = time.monotonic() + 30
        while not any("lost the board" in line for line in seen.status):
            assert time.monotonic() < deadline, seen.status
            time.sleep(0.05)
        (folder / "helper.py").write_text("VALUE = 'r3'\n")  # saved while the board is away
        wait("r3 3", mark)  # back: synced and restarted
        assert any("the board is back" in line for line in seen.status), seen.status
    finally:
        stop.set()
        loop.join(timeout=20)
        watcher.close()
    assert not loop.is_alive()


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_restart_by_reset(port, tmp_path, mode):
    folder = project(tmp_path / mode, f"{mode}1")
    seen = Seen()
    watcher = Watcher(load(folder), lambda: resolve_port(port), mode, seen.say, seen.write, replace=True)
    try:
        watcher.connect()
        mark = pump_until(watcher, seen, f"{mode}1 2")
        (folder / "helper.py").write_text(f"VALUE = '{mode}2'\n")
        result = watcher.process([folder / "helper.py"])
        assert result is not None and result.uploaded == ["helper.py"] and result.restart == mode
        pump_until(watcher, seen, f"{mode}2 2", mark)  # boot.py and main.py ran again, from /flash
    finally:
        watcher.close()


def test_a_project_with_errors_is_not_uploaded_until_they_are_fixed(port, tmp_path):
    folder = project(tmp_path / "broken", "b1")
    (folder / "main.py").write_text("while True print(1)\n")
    seen = Seen()
    watcher = Watcher(load(folder), lambda: resolve_port(port), "main", seen.say, seen.write, replace=True)
    try:
        watcher.connect()
        assert any("main.py:1" in line for line in seen.status) and watcher.blocked
        assert not any(line.startswith("synced") for line in seen.status)
        (folder / "helper.py").write_text("VALUE = 'b2'\n")  # not the broken file: the whole project is checked
        result = watcher.process([folder / "helper.py"])
        assert result is not None and result.errors and not result.uploaded
        (folder / "main.py").write_text(MAIN)
        result = watcher.process([folder / "main.py"])
        assert result is not None and not result.errors and "helper.py" in result.uploaded  # held back until now
        pump_until(watcher, seen, "b2 2")
    finally:
        watcher.close()
