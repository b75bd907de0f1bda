"""`pytool sim fs`: the host reads /flash straight from the image (littlefs-python) while the board runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pytool.cli import run
from pytool.console import options
from pytool.sim import registry


@pytest.fixture(autouse=True)
def _reset_cli_options():
    yield
    options.port, options.json, options.debug = None, False, False


def test_ls_and_cat_of_a_running_board(lopy4, capfdbinary):
    data = bytes(range(256)) * 3
    code = "import os\ntry:\n os.mkdir('lib/pkg')\nexcept OSError:\n pass\n"
    code += f"with open('lib/pkg/d.bin','wb') as f: f.write({data!r})"
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", lopy4.port, "exec", code], capture_output=True)
    assert r.returncode == 0, r.stderr
    registry.register(registry.SimRecord("fsdemo", "lopy4", os.getpid(), lopy4.port, flash=str(lopy4.image)))
    capfdbinary.readouterr()
    assert run(["sim", "fs", "ls", "fsdemo", "/flash/lib/pkg"]) == 0
    assert b"768  d.bin" in capfdbinary.readouterr().out
    assert run(["sim", "fs", "cat", "fsdemo", "lib/pkg/d.bin"]) == 0
    assert capfdbinary.readouterr().out == data
    assert run(["--json", "sim", "fs", "ls", "--image", str(lopy4.image), "--board", "lopy4"]) == 0
    listing = capfdbinary.readouterr().out
    assert b'"name": "main.py"' in listing and b'"name": "lib"' in listing


def test_errors_are_one_line(lopy4, tmp_path, capfd):
    assert run(["sim", "fs", "ls", "nosuchsim"]) == 1
    assert "no simulator named 'nosuchsim'" in capfd.readouterr().err
    assert run(["sim", "fs", "cat", "--image", str(lopy4.image), "--board", "lopy4", "/flash/missing.py"]) == 1
    assert "cannot read /flash/missing.py" in capfd.readouterr().err
    blank = tmp_path / "blank.bin"
    blank.write_bytes(b"\xff" * lopy4.board.flash_size)
    assert run(["sim", "fs", "ls", "--image", str(blank), "--board", "lopy4"]) == 1
    assert "boot the firmware once" in capfd.readouterr().err
    assert run(["sim", "fs", "ls", "--image", str(blank), "--board", "lopy"]) == 1
    assert "is not a LoPy flash image" in capfd.readouterr().err
