"""Which boards a run has: `--board-port ROLE=PORT` repeated, plain ports, and pytool.toml's `[[boards]]` list."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytool import config
from pytool.cli import run
from pytool.errors import UsageError
from pytool.hil.boards import BoardSpec, board_port_options, board_specs, parse_board_port

TWO_ROLES = '[[boards]]\nrole = "server"\nproject = "srv"\n[[boards]]\nrole = "client"\nport = "sim:c"\n'


def test_role_and_port_are_split_only_where_a_role_name_precedes_the_equals_sign():
    assert parse_board_port("server=sim:one") == ("server", "sim:one")
    assert parse_board_port("sim:one") == (None, "sim:one")
    assert parse_board_port("telnet://192.168.4.1?user=micro") == (None, "telnet://192.168.4.1?user=micro")
    assert parse_board_port("/dev/ttyACM0") == (None, "/dev/ttyACM0")


def test_single_board_runs_keep_the_documented_precedence(tmp_path):
    (tmp_path / "pytool.toml").write_text('port = "sim:toml"\n')
    cfg = config.load(tmp_path)
    assert board_specs(None, cfg, environ={}) == [BoardSpec("board0", "sim:toml")]
    assert board_specs(None, cfg, environ={"PYTOOL_PORT": "sim:env"}) == [BoardSpec("board0", "sim:env")]
    assert board_specs(["sim:cli"], cfg, environ={"PYTOOL_PORT": "sim:env"}) == [
        BoardSpec("board0", "sim:cli", given=True)
    ]
    assert board_specs(None, None, environ={}) == [BoardSpec("board0", None)]


def test_boards_without_a_role_are_named_by_position(tmp_path):
    (tmp_path / "pytool.toml").write_text('[[boards]]\nport = "sim:a"\n[[boards]]\nport = "sim:b"\nrole = "b"\n')
    specs = board_specs(None, config.load(tmp_path), environ={})
    assert [(s.role, s.port) for s in specs] == [("board0", "sim:a"), ("b", "sim:b")]


def test_plain_ports_become_board0_board1_and_named_ones_keep_their_role():
    specs = board_specs(["sim:a", "sim:b"], None, environ={})
    assert [(s.role, s.port) for s in specs] == [("board0", "sim:a"), ("board1", "sim:b")]
    specs = board_specs(["central=sim:a", "peripheral=sim:b"], None, environ={})
    assert [(s.role, s.port) for s in specs] == [("central", "sim:a"), ("peripheral", "sim:b")]


def test_boards_list_gives_roles_projects_and_ports_the_command_line_overrides(tmp_path):
    (tmp_path / "pytool.toml").write_text(TWO_ROLES)
    cfg = config.load(tmp_path)
    assert [(b.role, b.port, b.project) for b in cfg.boards] == [
        ("server", None, tmp_path.resolve() / "srv"),
        ("client", "sim:c", None),
    ]
    specs = board_specs(["server=sim:s"], cfg, environ={"PYTOOL_PORT": "sim:ignored"})
    assert [(s.role, s.port) for s in specs] == [("server", "sim:s"), ("client", "sim:c")]
    assert specs[0].project == tmp_path.resolve() / "srv"
    # plain ports fill the roles in order
    specs = board_specs(["sim:1", "sim:2"], cfg, environ={})
    assert [(s.role, s.port) for s in specs] == [("server", "sim:1"), ("client", "sim:2")]
    specs = board_specs(["client=sim:2", "sim:1"], cfg, environ={})
    assert [(s.role, s.port) for s in specs] == [("server", "sim:1"), ("client", "sim:2")]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["nosuch=sim:x"], "no board has the role 'nosuch' in [[boards]]"),
        (["server=sim:x", "server=sim:y"], "names the role 'server' twice"),
        (["sim:1", "sim:2", "sim:3"], "every role of [[boards]] already has a port"),
    ],
)
def test_board_port_mistakes_are_one_clear_error(tmp_path, values, message):
    (tmp_path / "pytool.toml").write_text(TWO_ROLES)
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        board_specs(values, config.load(tmp_path), environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[boards]]\nrole = "a b"\n', "[[boards]] entry 1: role 'a b' is not a name"),
        ('[[boards]]\nport = "sim:x"\n[[boards]]\nport = "sim:x"\n', "port sim:x is in [[boards]] twice"),
        ('[[boards]]\nrole = "a"\n[[boards]]\nrole = "a"\n', "two [[boards]] entries have the role 'a'"),
        ('[[boards]]\nrole = "a"\nprot = "x"\n', "unknown setting 'boards.prot'"),
        ('[[boards]]\nrole = "a"\nport = 3\n', "boards.port must be a string, not int 3"),
        ('boards = ["a"]\n', "boards must be a list of tables ([[boards]]), not str 'a'"),
    ],
)
def test_a_bad_boards_list_is_one_line_naming_the_file(tmp_path, capsys, text, message):
    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "pytool.toml").write_text(text)
    assert run(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(tmp_path / "pytool.toml") in err and "Traceback" not in err, err


def test_a_runner_hands_boards_to_the_plugin_as_role_port_options(tmp_path):
    (tmp_path / "pytool.toml").write_text(TWO_ROLES)
    options = board_port_options([("server", "sim:s"), ("client", "telnet://10.0.0.2?user=micro")])
    assert options == ["--board-port", "server=sim:s", "--board-port", "client=telnet://10.0.0.2?user=micro"]
    specs = board_specs(options[1::2], config.load(tmp_path), environ={})
    assert [(s.role, s.port) for s in specs] == [("server", "sim:s"), ("client", "telnet://10.0.0.2?user=micro")]
    with pytest.raises(UsageError, match="not a board role"):
        board_port_options([("a=b", "sim:x")])


def test_a_role_without_a_port_fails_the_test_with_one_line(tmp_path):
    (tmp_path / "pytool.toml").write_text(TWO_ROLES)
    tests = tmp_path / "tests" / "hil"
    tests.mkdir(parents=True)
    (tests / "test_both.py").write_text("def test_both(boards):\n    pass\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/hil"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "the board 'server' has no port" in run.stdout and "--board-port server=PORT" in run.stdout, run.stdout
    assert "Traceback" not in run.stdout and "During handling" not in run.stdout
    assert "serial output" not in run.stdout  # no board was opened
