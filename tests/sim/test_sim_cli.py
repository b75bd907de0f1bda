"""`pytool sim start/list/reset/stop` through the real CLI, and one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.cli import run_json as pytool

from pytool.console import options
from pytool.ports import resolve_port
from pytool.sim import registry

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _reset_options():
    options.port, options.json, options.debug = None, False, False
    yield
    options.port, options.json, options.debug = None, False, False


def test_start_list_reset_stop_cycle(capsys):
    code, record, _ = pytool(capsys, "sim", "start", "--board", "gpy", "--name", "cyc", "--detach")
    try:
        assert code == 0
        assert record["name"] == "cyc" and record["board"] == "gpy"
        assert os.path.realpath(record["pty"]).startswith("/dev/pts/")  # a stable link to the pty
        assert record["rfc2217"].startswith("rfc2217://127.0.0.1:")
        assert os.path.exists(record["control"])
        assert os.path.getsize(record["flash"]) == 8 * 1024 * 1024  # GPy: 8 MB
        code, listed, _ = pytool(capsys, "sim", "list")
        assert code == 0 and [r["name"] for r in listed] == ["cyc"]
        assert resolve_port("sim:cyc").url == record["pty"]
        code, state, _ = pytool(capsys, "sim", "reset", "cyc", "--bootloader")
        assert code == 0 and state["mode"] == "download" and state["board"] == "gpy"
        code, _, err = pytool(capsys, "sim", "start", "--board", "gpy", "--name", "cyc", "--detach")
        assert code == 1 and "already running" in err
    finally:
        code, stopped, _ = pytool(capsys, "sim", "stop", "cyc")
    assert code == 0 and stopped == {"stopped": ["cyc"]}
    assert registry.running() == []
    with pytest.raises(ProcessLookupError):
        os.kill(record["pid"], 0)


def _one_line_error(err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error:") and needle in lines[0]


def test_unknown_board_is_one_line_and_exit_2(capsys):
    code, _, err = pytool(capsys, "sim", "start", "--board", "nosuchboard", "--detach")
    assert code == 2
    _one_line_error(err, "unknown board 'nosuchboard'")


@pytest.mark.parametrize(
    ("kind", "needle"),
    [("directory", "is a directory"), ("missing-folder", "does not exist"), ("wrong-size", "4096 bytes")],
)
def test_bad_flash_image_is_one_line_and_exit_2(capsys, tmp_path, kind, needle):
    path = tmp_path / "img"
    if kind == "directory":
        path.mkdir()
    elif kind == "missing-folder":
        path = path / "missing" / "flash.bin"
    else:
        path.write_bytes(b"\xff" * 4096)
    code, _, err = pytool(capsys, "sim", "start", "--board", "lopy4", "--flash", str(path), "--detach")
    assert code == 2
    _one_line_error(err, needle)
    assert registry.running() == []


def test_stop_unknown_simulator_says_how_to_start_one(capsys):
    code, _, err = pytool(capsys, "sim", "stop", "ghost")
    assert code == 1
    _one_line_error(err, "no simulator named 'ghost'")


def test_cli_subprocess_bad_board_has_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "pytool", "sim", "start", "--board", "lopy9"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "unknown board 'lopy9'" in result.stderr
