"""`pytool test --all` on three simulated LoPy4s that all advertise 'LoPy' on one shared virtual radio (issue 17).

Real runs throughout: `python -m pytool` in a subprocess, one child `pytool` per board, each deploying the seed
example (firmware check, sync, reset, advertise) and running its over-the-air tests (pytest + bleak on pytool's
Bumble backend). The three boards are started once for the module from one flashed image; the first run deploys
them, the second reuses what is deployed (`--no-deploy`) and kills one board's tester mid-run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.flashed import flashed_image

from pytool.sim.testing import running_sim

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "gatt_server"
NAMES = ("fleeta", "fleetb", "fleetc")
RUN_TIMEOUT = 600

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Three flashed simulators in one state folder (one radio), and a copy of the example listing them as
    [[boards]]: yields (env, project)."""
    image = flashed_image(tmp_path_factory)
    base = tmp_path_factory.mktemp("fleet")
    state, data = base / "state", base / "data"
    project = base / "gatt_server"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".pytool", "__pycache__"))
    with (project / "pytool.toml").open("a") as toml:
        for role, name in zip(("one", "two", "three"), NAMES, strict=True):
            toml.write(f'\n[[boards]]\nport = "sim:{name}"\nrole = "{role}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE")}
    env |= {"PYTOOL_STATE_DIR": str(state), "PYTOOL_DATA_DIR": str(data)}
    with contextlib.ExitStack() as stack:
        for name in NAMES:
            flash = base / f"{name}.bin"
            shutil.copyfile(image, flash)
            stack.enter_context(running_sim("lopy4", name, flash, state_dir=state, data_dir=data))
        yield env, project


def pytool(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytool", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )


def junit_outcomes(path: Path) -> dict[str, str]:
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[case.get("name")] = kinds[0] if kinds else "passed"
    return outcomes


@pytest.fixture(scope="module")
def deployed(fleet):
    """`pytool --json test --all` over the [[boards]] list: deploys and tests all three at once."""
    env, project = fleet
    run = pytool(["--json", "test", "--all", str(project)], env, project)
    return run, json.loads(run.stdout) if run.stdout.strip() else None


def test_all_three_boards_pass_and_each_talks_only_to_its_own_board(fleet, deployed, monkeypatch):
    from pytool.ble.address import simulator_ble_address

    env, _project = fleet
    run, result = deployed
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert result["ok"] is True and result["exit_code"] == 0
    boards = {board["port"]: board for board in result["boards"]}
    assert sorted(boards) == [f"sim:{name}" for name in NAMES]
    monkeypatch.setenv("PYTOOL_STATE_DIR", env["PYTOOL_STATE_DIR"])
    addresses, connected = set(), {}
    for port, board in boards.items():
        own = simulator_ble_address(port)
        addresses.add(own)
        assert board["status"] == "ok" and board["exit_code"] == 0, board
        assert board["address"] == own, board
        assert [step["name"] for step in board["steps"]] == ["firmware", "check", "sync", "reset", "advertise"]
        assert f"'LoPy' seen at {own}" in board["steps"][-1]["detail"]
        assert board["tests"] == {"passed": 6, "failed": 0, "error": 0, "skipped": 0}, board
        assert board["duration"] > 0 and Path(board["log"]).is_file()
        assert set(junit_outcomes(Path(board["junit"])).values()) == {"passed"}
        # the board's per-test logs: every scan found this board and every connection went to it ...
        logs = sorted((Path(board["log"]).parent / "hil-logs").glob("*.log"))
        assert len(logs) == 6, logs
        seen, clients = set(), 0
        for log in logs:
            text = log.read_text()
            ble, _, serial = text.partition("== board serial output ==")
            seen |= set(re.findall(r"found ([0-9A-F:]{17})", ble)) | set(re.findall(r"connect ([0-9A-F:]{17})", ble))
            clients += serial.count("Client connected")
            if "connected, MTU" in ble:  # a test with the plugin's client: the board saw exactly its connections
                assert serial.count("Client connected") == ble.count("connected, MTU"), log
        assert seen == {own}, (port, seen)
        connected[port] = clients
    assert len(addresses) == 3  # three boards, one name, three addresses
    # every board saw the same number of clients (its own tests' connections; a stray tester would add one)
    assert len(set(connected.values())) == 1 and min(connected.values()) >= 5, connected


def _tester_pid(port: str) -> int | None:
    """The pytest process testing `port` (a grandchild of the run this test started)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pytest" in argv and b"--board-port" in argv and port.encode() in argv:
            return int(entry.name)
    return None


def test_a_killed_tester_fails_its_board_only(fleet, deployed, tmp_path):
    env, project = fleet
    assert deployed[0].returncode == 0, "the boards were not deployed"
    ports = [arg for name in NAMES for arg in ("-p", f"sim:{name}")]
    logs = tmp_path / "logs"
    argv = [sys.executable, "-m", "pytool", *ports, "test", "--all", str(project), "--no-deploy", "--logs", str(logs)]
    proc = subprocess.Popen(argv, env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = "sim:fleetb"
    try:
        deadline = time.monotonic() + 300
        hil_logs = logs / "sim_fleetb" / "hil-logs"
        while proc.poll() is None and time.monotonic() < deadline:  # kill it after its first test, mid-run
            if hil_logs.is_dir() and any(hil_logs.glob("*.log")):
                break
            time.sleep(0.2)
        pid = _tester_pid(victim)
        assert pid is not None and proc.poll() is None, "the run ended before its tester could be killed"
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err, err
    assert f"1 of 3 board(s) failed: two ({victim})" in err, err
    for name in ("fleeta", "fleetc"):
        outcomes = junit_outcomes(logs / f"sim_{name}" / "junit.xml")
        assert len(outcomes) == 6 and set(outcomes.values()) == {"passed"}, (name, outcomes)
    log = (logs / "sim_fleetb" / "run.log").read_text()
    assert "Error: the over-the-air test run (pytest) was killed by SIGKILL" in log, log[-2000:]


def test_deploy_all_reports_each_board_and_exits_with_the_worst(fleet, deployed):
    """One good board and one that does not exist: the good one deploys, the other fails in one line, and the
    run's exit code is the failed board's."""
    env, project = fleet
    assert deployed[0].returncode == 0, "the boards were not deployed"
    run = pytool(["-p", "sim:fleeta", "-p", "sim:ghost", "--json", "deploy", "--all", str(project)], env, project)
    assert run.returncode == 1, run.stdout + run.stderr
    result = json.loads(run.stdout)
    assert result["ok"] is False and result["exit_code"] == 1
    good, ghost = result["boards"]
    assert (good["port"], good["status"], good["exit_code"]) == ("sim:fleeta", "ok", 0), good
    assert [step["name"] for step in good["steps"]] == ["firmware", "check", "sync", "reset", "advertise"]
    assert good["steps"][2]["status"] == "ok"  # nothing changed since the first run
    assert good["role"] == "one" and good["address"] and good["tests"] is None
    assert (ghost["port"], ghost["status"], ghost["exit_code"]) == ("sim:ghost", "failed", 1), ghost
    assert "ghost" in ghost["error"] and ghost["steps"] == []
    assert "Traceback" not in Path(ghost["log"]).read_text()
