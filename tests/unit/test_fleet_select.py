"""Which boards `deploy --all` / `test --all` run on, and the one-line refusals around it (no board is touched)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytool import config, fleet
from pytool.cli import run, split_global_options
from pytool.errors import PytoolError, UsageError

BOARDS_TOML = '[ble]\nname = "LoPy"\n\n[[boards]]\nport = "sim:a"\nrole = "central"\n\n[[boards]]\nport = "sim:b"\n'


def project(tmp_path: Path, toml: str = BOARDS_TOML) -> Path:
    (tmp_path / "pytool.toml").write_text(toml)
    (tmp_path / "tests" / "hil").mkdir(parents=True)
    return tmp_path


def one_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_repeated_port_is_kept_in_order_once_each():
    line, rest = split_global_options(["-p", "sim:a", "test", "--port", "sim:b", "--port=sim:a", "-psim:c", "."])
    assert line.ports == ("sim:a", "sim:b", "sim:c") and line.port == "sim:c"
    assert rest == ["test", "."]


def test_boards_list_with_roles_and_the_order_of_choices(tmp_path):
    cfg = config.load(project(tmp_path))
    assert [(b.port, b.role) for b in cfg.boards] == [("sim:a", "central"), ("sim:b", None)]
    assert fleet.select_boards((), cfg) == [fleet.FleetBoard("sim:a", "central"), fleet.FleetBoard("sim:b")]
    # --port values win over [[boards]], keeping the roles [[boards]] gives them
    assert fleet.select_boards(("sim:b", "sim:c"), cfg) == [fleet.FleetBoard("sim:b"), fleet.FleetBoard("sim:c")]
    assert fleet.select_boards(("sim:a",), cfg)[0].label == "central (sim:a)"
    with pytest.raises(UsageError, match="--port and --places"):
        fleet.select_boards(("sim:a",), cfg, "bench-*")


def test_an_entry_with_its_own_project_runs_that_project(tmp_path):
    toml = '[[boards]]\nport = "sim:s"\nrole = "server"\nproject = "server"\n[[boards]]\nport = "sim:c"\n'
    cfg = config.load(project(tmp_path, toml))
    server, other = fleet.select_boards((), cfg)
    assert server == fleet.FleetBoard("sim:s", "server", tmp_path.resolve() / "server")
    command = fleet.child_command("deploy", server, tmp_path, ["--no-check"], tmp_path / "logs")
    assert command[command.index("deploy") + 1 :] == [str(tmp_path.resolve() / "server"), "--no-check"]
    assert fleet.child_command("test", other, tmp_path, [], tmp_path / "logs")[-3:] == [
        str(tmp_path),
        "--junit",
        str(tmp_path / "logs" / "junit.xml"),
    ]


def test_no_board_at_all_is_one_clear_error(tmp_path):
    with pytest.raises(PytoolError, match="no board found for --all"):
        fleet.select_boards((), config.load(project(tmp_path, "")), comports=lambda: [])


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[boards]]\nrole = "x"\n', "[[boards]] entry x in"),
        ("[[boards]]\nport = 5\n", "boards.port must be a string, not int 5"),
        ('[[boards]]\nport = "sim:a"\nrool = "x"\n', "unknown setting 'boards.rool'"),
        ('[[boards]]\nport = "sim:a"\n[[boards]]\nport = "sim:a"\n', "port sim:a is in [[boards]] twice"),
        ('boards = "sim:a"\n', "boards must be a list of tables"),
    ],
)
def test_a_bad_boards_list_is_one_line(tmp_path, capsys, toml, message):
    code = run(["test", "--all", str(project(tmp_path, toml))])
    assert code == 2
    assert message in one_line(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "sim:a", "-p", "sim:b", "test", "{p}"], "--port was given 2 times (sim:a, sim:b) for one board"),
        (["test", "{p}", "--places", "bench-*"], "--places goes with --all"),
        (["deploy", "{p}", "--logs", "/tmp/x"], "--logs goes with --all"),
        (["test", "{p}", "--all", "--sim"], "--sim does not go with --all"),
        (["test", "{p}", "--all", "--junit", "j.xml"], "--junit does not go with --all"),
    ],
)
def test_options_that_do_not_fit_are_one_line(tmp_path, capsys, args, message):
    folder = str(project(tmp_path))
    code = run([arg.replace("{p}", folder) for arg in args])
    assert code == 2
    assert message in one_line(capsys)


def test_worst_exit_code_and_a_killed_child(tmp_path):
    """A child killed by a signal counts as 128 + N and is reported as killed, with no traceback."""
    runs = []
    for code in (0, 1):
        board = fleet.BoardRun(fleet.FleetBoard(f"sim:{code}"), tmp_path / str(code), [])
        board.exit_code = code
        runs.append(board)
    victim = fleet.BoardRun(fleet.FleetBoard("sim:k"), tmp_path / "k", [])
    victim.folder.mkdir()
    victim.proc = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    victim.proc.wait(30)
    victim.poll()
    assert victim.status == "killed (SIGKILL)" and victim.exit_code == 137
    assert victim.error() == "the board's run was killed (SIGKILL)"
    assert fleet.worst_exit_code([*runs, victim]) == 137
    assert fleet.worst_exit_code(runs) == 1
