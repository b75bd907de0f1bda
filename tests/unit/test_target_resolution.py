"""One target resolution (pytool.ports.resolve_target): `pytool -p X`, `PYTOOL_PORT=X` and `port = "X"` in
pytool.toml choose the same board for flash, sync, deploy, test and the pytest plugin, with one precedence
(command line > PYTOOL_PORT > pytool.toml > the single attached board).

The boards are simulator records in the registry (`sim:NAME`, resolved by the real code); each command runs
through the real CLI (option parsing, typer context, resolution) up to the point where it would open the port,
where the test records the Target it was handed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytool import cli, ports
from pytool.errors import PytoolError
from pytool.sim import registry

WAYS = ("command line", "environment", "pytool.toml")
COMMANDS = ("flash", "erase", "sync", "ls", "deploy", "test")


class Reached(PytoolError):
    """Raised where the command would open the board: the target has been recorded."""


@pytest.fixture
def boards(monkeypatch) -> dict[str, ports.Target]:
    """Three simulated boards in the registry (alive: they carry this process's pid); no port is set anywhere."""
    monkeypatch.delenv("PYTOOL_PORT", raising=False)
    found = {}
    for name, board, pts in (
        ("chosen", "lopy4", "/dev/pts/71"),
        ("env", "fipy", "/dev/pts/72"),
        ("toml", "gpy", "/dev/pts/73"),
    ):
        registry.register(registry.SimRecord(name=name, board=board, pid=os.getpid(), pty=pts))
        found[name] = ports.resolve_port(f"sim:{name}")
    return found


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder (the current folder too) with over-the-air tests; pytool.toml names no port yet."""
    (tmp_path / "tests" / "hil").mkdir(parents=True)
    (tmp_path / "pytool.toml").write_text('ble = { name = "x" }\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def set_port(way: str, port: str, project: Path, monkeypatch) -> list[str]:
    """Set `port` the given way; returns the global options to put on the command line."""
    if way == "environment":
        monkeypatch.setenv("PYTOOL_PORT", port)
    elif way == "pytool.toml":
        (project / "pytool.toml").write_text(f'port = "{port}"\n[ble]\nname = "x"\n')
    else:
        return ["-p", port]
    return []


def run_command(command: str, project: Path, options: list[str], monkeypatch) -> ports.Target:
    """Run `pytool COMMAND` through the CLI; the Target it would open the board with."""
    import pytool.board
    import pytool.deploy
    import pytool.firmware
    import pytool.flash

    seen: list[ports.Target] = []

    def record(target, *_args, **_kwargs):
        seen.append(target)
        raise Reached("reached the board")

    def connect(_cls, target, *_args, **_kwargs):
        return record(target)

    def fake_firmware(_path):
        return type("Firmware", (), {"identity": None, "source": "fw.bin"})()

    monkeypatch.setattr(pytool.firmware, "load_firmware", fake_firmware)
    monkeypatch.setattr(pytool.flash, "flash", lambda _fw, target, *a, **k: record(target))
    monkeypatch.setattr(pytool.flash, "erase", lambda target, *a, **k: record(target))
    monkeypatch.setattr(pytool.board.BoardSession, "connect", classmethod(connect))
    monkeypatch.setattr(pytool.deploy, "deploy", lambda _project, target, **_kw: record(target))
    monkeypatch.setattr(pytool.deploy, "run_tests", lambda _root, target, *a, **k: record(target))
    argv = {
        "flash": ["flash", "fw.bin"],
        "erase": ["erase"],
        "ls": ["ls"],
        "sync": ["sync", str(project), "--no-check"],
        "deploy": ["deploy", str(project)],
        "test": ["test", str(project), "--no-deploy"],
    }[command]
    assert cli.run([*options, *argv]) == 1  # Reached: one line, exit code 1
    assert len(seen) == 1, f"{command} resolved the board {len(seen)} times"
    return seen[0]


def same_board(a: ports.Target, b: ports.Target) -> bool:
    return (a.spec, a.url, a.reset, a.sim, a.board, a.ble) == (b.spec, b.url, b.reset, b.sim, b.board, b.ble)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("command", COMMANDS)
def test_each_way_of_naming_the_port_chooses_the_same_board(command, way, boards, project, monkeypatch):
    options = set_port(way, "sim:chosen", project, monkeypatch)
    target = run_command(command, project, options, monkeypatch)
    assert same_board(target, boards["chosen"])
    assert target.source == {"command line": "command line", "environment": "PYTOOL_PORT"}.get(way, "pytool.toml")
    assert (target.url, target.reset, target.board, target.ble) == ("/dev/pts/71", "sim", "lopy4", "sim:chosen")


@pytest.mark.parametrize("command", COMMANDS)
def test_command_line_beats_environment_beats_pytool_toml(command, boards, project, monkeypatch):
    set_port("pytool.toml", "sim:toml", project, monkeypatch)
    assert same_board(run_command(command, project, [], monkeypatch), boards["toml"])
    set_port("environment", "sim:env", project, monkeypatch)
    assert same_board(run_command(command, project, [], monkeypatch), boards["env"])
    options = set_port("command line", "sim:chosen", project, monkeypatch)
    assert same_board(run_command(command, project, options, monkeypatch), boards["chosen"])


def test_deploy_as_a_library_resolves_like_the_cli(boards, project, monkeypatch):
    """`pytool.deploy.deploy(project)` (what the plugin's --deploy calls) applies the same precedence itself."""
    from pytool import deploy

    seen = []

    def running_firmware(target, *_args):
        seen.append(target)
        raise Reached("reached the board")

    monkeypatch.setattr(deploy, "running_firmware", running_firmware)
    for way, name in (("pytool.toml", "toml"), ("environment", "env")):
        set_port(way, f"sim:{name}", project, monkeypatch)
        with pytest.raises(Reached):
            deploy.deploy(project)
        assert same_board(seen[-1], boards[name])
    with pytest.raises(Reached):
        deploy.deploy(project, "sim:chosen")
    assert same_board(seen[-1], boards["chosen"])


PLUGIN_TEST = """
def test_target(hil_settings):
    t = hil_settings.target
    print("TARGET", t.spec, t.url, t.reset, t.board, t.ble, t.source, "BLE", hil_settings.ble, "END")
"""


def plugin_target(project: Path, *args: str) -> str:
    (project / "tests" / "hil" / "test_target.py").write_text(PLUGIN_TEST)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "tests/hil", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTOOL_BLE": ""},
    )
    assert run.returncode == 0, run.stdout[-2000:]
    return next(line[line.index("TARGET") :] for line in run.stdout.splitlines() if "TARGET " in line)


@pytest.mark.parametrize("way", WAYS)
def test_the_plugin_chooses_the_same_board(way, boards, project, monkeypatch):
    options = set_port(way, "sim:chosen", project, monkeypatch)
    line = plugin_target(project, *(["--board-port", options[1]] if options else []))
    source = {"command line": "command line", "environment": "PYTOOL_PORT"}.get(way, "pytool.toml")
    assert line == f"TARGET sim:chosen /dev/pts/71 sim lopy4 sim:chosen {source} BLE sim:chosen END"


def test_the_plugin_precedence_is_the_cli_precedence(boards, project, monkeypatch):
    set_port("pytool.toml", "sim:toml", project, monkeypatch)
    set_port("environment", "sim:env", project, monkeypatch)
    assert plugin_target(project).startswith("TARGET sim:env ")  # PYTOOL_PORT beats pytool.toml, as in the CLI
    assert plugin_target(project, "--board-port", "sim:chosen").startswith("TARGET sim:chosen ")


def test_bluetooth_follows_the_target():
    sim = ports.Target("sim:a", "/dev/pts/1", "sim", "pytool simulator", "a", "lopy4", "sim:a", "sim")
    usb = ports.Target("/dev/ttyUSB0", "/dev/ttyUSB0", "dtr-rts", "CP210x")
    assert ports.ble_transport(sim, environ={}) == "sim:a"
    assert ports.ble_transport(sim, "usb:1", environ={}) == "usb:1"  # --ble wins
    assert ports.ble_transport(sim, environ={"PYTOOL_BLE": "usb:0"}) == "sim:a"  # no dongle reaches a simulator
    assert ports.ble_transport(usb, environ={"PYTOOL_BLE": "usb:0"}) == "usb:0"
    assert ports.ble_transport(usb, environ={}) is None  # bleak's OS stack


def test_the_ble_variable_has_one_name():
    from pytool.ble import transport

    assert ports.BLE_ENV == transport.ENV_VAR


def test_a_new_port_kind_plugs_in_at_one_place(monkeypatch):
    """Round 2's telnet:// and labgrid: are one registered resolver each."""
    monkeypatch.setitem(
        ports.PORT_KINDS, "labgrid:", lambda spec: ports.Target(spec, "rfc2217://127.0.0.1:1", "dtr-rts", "labgrid")
    )
    target = ports.resolve_target("labgrid:bench-3", environ={})
    assert (target.url, target.reset, target.source) == ("rfc2217://127.0.0.1:1", "dtr-rts", "command line")
    assert ports.resolve_target("socket://127.0.0.1:9", environ={}).reset == "none"  # unregistered URL: pyserial's


def test_the_board_identity_says_where_it_came_from(boards, tmp_path):
    from pytool.config import ProjectConfig

    project = ProjectConfig(root=tmp_path, port="/dev/ttyUSB9", board="fipy", source="pytool.toml")
    usb = ports.resolve_target(None, project, environ={}, comports=lambda: [])
    assert (usb.spec, usb.source, usb.board, usb.board_source) == ("/dev/ttyUSB9", "pytool.toml", "fipy", "pytool.toml")
    sim = ports.resolve_target("sim:chosen", project, environ={})
    assert (sim.board, sim.board_source) == ("lopy4", "simulator")  # the simulator knows better than the file


def test_no_port_anywhere_means_the_single_attached_board(monkeypatch):
    from types import SimpleNamespace

    one = [SimpleNamespace(device="/dev/ttyUSB7", vid=0x10C4, pid=0xEA60, description="", serial_number=None)]
    target = ports.resolve_target(None, environ={}, comports=lambda: one)
    assert (target.spec, target.reset, target.source) == ("/dev/ttyUSB7", "dtr-rts", "the single attached board")
