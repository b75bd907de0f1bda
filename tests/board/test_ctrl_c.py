"""Ctrl-C (SIGINT) during `pytool sync` and `pytool flash`: one line saying what was interrupted and what state it
left (sync: every file on the board old or new; flash: how far the writing got), exit code 130, no traceback.
Against a simulated LoPy4 moving bytes at the line rate, so that there is time to interrupt; the signal comes
while the command runs (when exactly does not matter: every outcome has its line)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.flashed import flashed_image
from support.sim import module_sim

from pytool import port_lock
from pytool.board import BoardSession
from pytool.ports import resolve_port

pytestmark = pytest.mark.timeout(300)

_rng = random.Random(19)
OLD = {f"data{i}.bin": _rng.randbytes(6_000) for i in range(8)}
NEW = {name: _rng.randbytes(6_000) for name in OLD}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    image = flashed_image(tmp_path_factory)
    with module_sim(tmp_path_factory, "lopy4", "ctrlc", image, ["--baud-pacing"]) as (rec, state, _data):
        yield f"sim:{rec.name}", str(state)


@pytest.fixture
def paced(running: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The paced simulator as sim:NAME (its registry is in its own state folder, for this process and pytool's)."""
    monkeypatch.setenv("PYTOOL_STATE_DIR", running[1])
    return running[0]


def _write(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(exist_ok=True)
    (root / "pytool.toml").write_text('board = "lopy4"\nreset_after_sync = false\n')
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


def _interrupt(argv: list[str], port: str, settle: float) -> tuple[int, list[str]]:
    """Run `pytool ARGV`, send SIGINT `settle` seconds after it has taken the board's port (its lock file names it),
    wait: (exit code, stderr lines)."""
    lock = port_lock._lock_file(port_lock.port_key(resolve_port(port).url))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytool", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ | {"COLUMNS": "200"},
    )
    deadline = time.monotonic() + 60
    while f'"pid": {proc.pid},' not in (lock.read_text() if lock.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    time.sleep(settle)  # into the transfer (any moment has its line; this one exercises the middle)
    proc.send_signal(signal.SIGINT)
    text = proc.stderr.read().decode(errors="replace")
    code = proc.wait(timeout=120)
    assert "Traceback" not in text, text
    return code, [line for line in text.splitlines() if line.strip()]


def test_ctrl_c_during_sync_says_every_file_is_old_or_new(paced, tmp_path):
    project = _write(tmp_path / "project", OLD)
    with BoardSession.connect(paced) as board:
        from pytool import config, sync

        sync.sync(board, sync.collect(config.load(project), include_device_lib=False))
    _write(project, NEW)
    code, lines = _interrupt(["-p", paced, "sync", str(project), "--no-check"], paced, 1.5)
    assert code == 130, lines
    line = next(line for line in lines if line.startswith("Interrupted:"))
    assert f"sync of {project} to {paced} stopped: every file on the board is old or new" in line
    assert "run `pytool sync` again" in line
    with BoardSession.connect(paced) as board:
        for name in OLD:
            assert board.read_file(f"/flash/{name}") in (OLD[name], NEW[name]), name


def test_ctrl_c_during_flash_says_how_far_it_got(paced, tmp_path):
    from pytool.deploy import simulator_firmware

    archive = simulator_firmware("lopy4", "1.20.2.r4")
    code, lines = _interrupt(["-p", paced, "flash", str(archive), "--no-skip"], paced, 1.0)
    assert code == 130, lines
    line = next(line for line in lines if line.startswith("Interrupted:"))
    assert line.startswith(f"Interrupted: flash to {paced} stopped "), line
    assert (
        "the firmware on the board is half-written and will not boot; run the same `pytool flash` again" in line
        or "before anything was written: the board's flash is as it was" in line
        or "after writing every region" in line
    ), line
