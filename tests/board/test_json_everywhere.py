"""`--json` on every command (issue 19): stdout is one JSON document, for success and for failure alike, whatever
the command prints for people (that goes to stderr). `pytool watch` runs until stopped and writes JSON Lines
instead (tested with watch). One flashed simulated LoPy4 for the module; the cases run
in list order (the erase near the end is followed by a flash)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.flashed import flashed_image
from support.sim import module_sim

from pytool.cli import run

pytestmark = pytest.mark.timeout(300)

NAME = "jsonall"
S = f"sim:{NAME}"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with module_sim(tmp_path_factory, "lopy4", NAME, flashed_image(tmp_path_factory)) as (_rec, state, _data):
        yield str(state), tmp_path_factory.mktemp("jsonproject")


@pytest.fixture
def project(running: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small project folder (the current folder), with the module's simulator reachable as sim:NAME."""
    monkeypatch.setenv("PYTOOL_STATE_DIR", running[0])
    root = running[1]
    (root / "pytool.toml").write_text(f'board = "lopy4"\nport = "{S}"\n')
    (root / "main.py").write_text("print('up')\n")
    (root / "script.py").write_text("print('ran on the board')\n")
    (root / "tests" / "hil").mkdir(parents=True, exist_ok=True)
    (root / "tests" / "hil" / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    monkeypatch.chdir(root)
    return root


def _archive() -> str:
    from pytool.deploy import simulator_firmware

    return str(simulator_firmware("lopy4", "1.20.2.r4"))


# (command line, expected exit code); a callable is called for arguments that need work (a firmware archive).
CASES: list[tuple[list[str | Callable[[], str]], int]] = [
    (["devices"], 0),
    (["check"], 0),
    (["init", "--force", "--board", "lopy4"], 0),
    (["sync", "--replace"], 0),
    (["ls"], 0),
    (["cat", "/flash/main.py"], 0),
    (["put", "script.py", "/flash/script.py"], 0),
    (["get", "/flash/script.py", "fetched.py"], 0),
    (["mkdir", "/flash/jdir"], 0),
    (["rm", "-r", "/flash/jdir"], 0),
    (["df"], 0),
    (["exec", "print(6 * 7)"], 0),
    (["run", "script.py"], 0),
    (["info"], 0),
    (["tree"], 0),
    (["sha256sum", "/flash/main.py"], 0),
    (["eval", "6 * 7"], 0),
    (["touch", "/flash/touched.txt"], 0),
    (["cp", "script.py", ":/flash/copied.py"], 0),
    (["mkdir", "/flash/emptydir"], 0),
    (["rmdir", "/flash/emptydir"], 0),
    (["ls", "+", "df"], 0),  # a chain: one list of the results
    (["df", "+", "ls", "/nonexist"], 1),  # ... ending with the failure
    (["repl"], 2),
    (["reset", "--soft"], 0),
    (["deploy", "--no-flash"], 0),
    (["test", "--no-deploy"], 0),
    (["firmware", "info", _archive], 0),
    (["firmware", "build", "--output", "built.tar.gz"], 0),
    (["sim", "start", "--name", "jsonextra", "--detach"], 0),
    (["sim", "stop", "jsonextra"], 0),
    (["sim", "list"], 0),
    (["bootloader"], 0),
    (["sim", "reset", NAME], 0),
    (["sim", "fault", "--sim", NAME], 0),
    (["sim", "fault", "--sim", NAME, "--clear"], 0),
    (["sim", "fs", "ls", NAME], 0),
    (["sim", "fs", "cat", NAME, "/flash/main.py"], 0),
    (["sim", "export"], 0),
    (["restore"], 1),
    (["erase"], 0),
    (["flash", _archive], 0),
    (["ls", "/nonexist"], 1),
]


@pytest.mark.parametrize(("argv", "code"), CASES, ids=[" ".join(a for a in c[0] if isinstance(a, str)) for c in CASES])
def test_stdout_is_json(project, capfd, argv, code):
    args = [a() if callable(a) else a for a in argv]
    capfd.readouterr()
    assert run(["--json", *args]) == code, capfd.readouterr().err
    out, err = capfd.readouterr()
    doc = json.loads(out)  # the whole of stdout is one JSON document
    assert "Traceback" not in err
    if "+" in args:
        assert isinstance(doc, list) and len(doc) == 2
        doc = doc[-1]
    if code:
        assert doc["ok"] is False and doc["exit_code"] == code and doc["error"]


def test_demo_keeps_its_steps_off_stdout(monkeypatch, capfd):
    """The demo's steps are pytool processes printing for people: with --json their stdout goes to stderr."""
    import pytool.demo

    def steps() -> int:
        os.write(1, b"a step's human output\n")
        return 0

    monkeypatch.setattr(pytool.demo, "main", steps)
    capfd.readouterr()
    assert run(["--json", "demo"]) == 0
    out, err = capfd.readouterr()
    assert json.loads(out) == {"ok": True, "exit_code": 0} and "a step's human output" in err
