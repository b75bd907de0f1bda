"""The CLI skeleton: version, help, global options anywhere, one-line errors with the right exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytool import __version__, cli
from pytool.console import options
from pytool.ports import choose_port


@pytest.fixture(autouse=True)
def _reset_options():
    yield
    options.json, options.debug = False, False


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytool", *args], capture_output=True, text=True, env=env, timeout=60)


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pytool {__version__}"


def test_help_lists_every_command_group():
    result = run_cli("--help")
    assert result.returncode == 0
    for group in ("devices", "flash", "erase", "firmware", "sync", "check", "deploy", "test", "sim", "repl"):
        assert group in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "/dev/ttyX", "--json", "sync", "."],
        ["sync", ".", "--port", "/dev/ttyX", "--json"],
        ["-p", "/dev/ttyX", "sync", "--json", "."],
        ["sync", "--port=/dev/ttyX", ".", "--json"],
        ["-p/dev/ttyX", "sync", ".", "--json"],
    ],
)
def test_global_options_before_or_after_the_command(argv):
    line, rest = cli.split_global_options(argv)
    assert rest == ["sync", "."]
    assert line.port == "/dev/ttyX"
    assert line.json is True
    assert line.debug is False


def test_global_options_stop_at_double_dash():
    line, rest = cli.split_global_options(["test", "--json", "--", "-p", "no:cacheprovider", "--debug"])
    assert rest == ["test", "--", "-p", "no:cacheprovider", "--debug"]
    assert line.json and not line.debug and line.port is None


def test_port_from_environment(monkeypatch):
    monkeypatch.setenv("PYTOOL_PORT", "sim:envboard")
    line, _ = cli.split_global_options(["devices"])
    assert choose_port(line.port) == ("sim:envboard", "PYTOOL_PORT")


def test_explicit_port_beats_environment(monkeypatch):
    monkeypatch.setenv("PYTOOL_PORT", "sim:envboard")
    line, _ = cli.split_global_options(["devices", "-p", "/dev/ttyUSB3"])
    assert choose_port(line.port) == ("/dev/ttyUSB3", "command line")


def test_usage_error_is_one_line_exit_2():
    result = run_cli("devices", "--no-such-option")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "--no-such-option" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_command_is_one_line_exit_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "frobnicate" in result.stderr


def test_missing_port_value_is_a_usage_error():
    result = run_cli("devices", "--port")
    assert result.returncode == 2 and "--port needs a value" in result.stderr


def test_failure_is_one_line_with_json_error_object():
    result = run_cli("--json", "firmware", "info", "/nonexistent/LoPy4-1.20.2.r4.tar.gz")
    assert result.returncode in (1, 2)
    assert result.stderr.strip().startswith("Error:") and result.stderr.strip().count("\n") == 0
    assert json.loads(result.stdout)["ok"] is False


def test_unexpected_exception_is_one_line_without_debug_and_traceback_with_it(monkeypatch, capsys):
    def boom() -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli.typer.main, "get_command", lambda app: boom())
    assert cli.run(["devices"]) == 1
    captured = capsys.readouterr()
    assert "kaboom" in captured.err and "Traceback" not in captured.err
    assert cli.run(["--debug", "devices"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_pytool_error_exit_code_and_json(monkeypatch, capsys):
    from pytool.errors import PytoolError, UsageError

    for exc, code in (
        (PytoolError("board did not answer", "press reset"), 1),
        (UsageError("bad archive"), 2),
    ):
        monkeypatch.setattr(cli.typer.main, "get_command", lambda app, exc=exc: (_ for _ in ()).throw(exc))
        assert cli.run(["--json", "devices"]) == code
        captured = capsys.readouterr()
        payload = json.loads(captured.out)
        assert payload == {"ok": False, "error": str(exc), "exit_code": code}
        assert captured.err.count("Error:") == 1
        assert str(exc) in captured.err  # rich markup characters in messages are shown, not interpreted
