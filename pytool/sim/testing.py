"""Helpers for tests that need a running simulated board.

    from pytool.sim.testing import running_sim
    from pytool.sim.control import SimControl

    with running_sim("lopy4") as rec:          # a real `python -m pytool.sim.daemon` process
        SimControl(rec.control).reset(bootloader=True)
        esptool.main(["--port", rec.pty, "--before", "no-reset", ...])

The daemon inherits the environment, so tests/conftest.py's per-test PYTOOL_STATE_DIR / PYTOOL_DATA_DIR apply.
In module- or session-scoped fixtures (created before that per-test isolation) pass `state_dir` / `data_dir`
(e.g. from tmp_path_factory) so that nothing lands in the user's real folders; `--port sim:NAME` then resolves
only where PYTOOL_STATE_DIR points at the same folder.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from pytool.sim import daemon
from pytool.sim.registry import SimRecord

_counter = itertools.count(1)


@contextlib.contextmanager
def running_sim(
    board: str = "lopy4",
    name: str | None = None,
    flash: str | Path | None = None,
    args: Sequence[str] = (),
    timeout: float = 60.0,
    state_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> Iterator[SimRecord]:
    """Start a simulator process, yield its registry record once it is ready, and always stop it."""
    env = dict(os.environ)
    if state_dir is not None:
        env["PYTOOL_STATE_DIR"] = str(state_dir)
    if data_dir is not None:
        env["PYTOOL_DATA_DIR"] = str(data_dir)
    name = name or f"test{os.getpid()}-{next(_counter)}"
    with _env(env):
        config = daemon.prepare(board, name, flash)
        proc, log_path = daemon.spawn(config, env=env, extra_args=args)
        try:
            record = daemon.wait_for_record(name, proc, timeout, log_path)
        except BaseException:
            _terminate(proc)
            raise
    try:
        yield record
    finally:
        _terminate(proc)


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextlib.contextmanager
def _env(env: dict[str, str]) -> Iterator[None]:
    """Temporarily use `env` for PYTOOL_STATE_DIR / PYTOOL_DATA_DIR in this process (registry lookups)."""
    keys = ("PYTOOL_STATE_DIR", "PYTOOL_DATA_DIR")
    saved = {k: os.environ.get(k) for k in keys}
    try:
        for k in keys:
            if env.get(k) is not None:
                os.environ[k] = env[k]
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
