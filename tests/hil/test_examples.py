"""The project's over-the-air suite: every example's own tests/hil, run against simulated boards.

Two ways in, both as a user would type them: `pytool test DIR --sim`, and plain pytest with the pytool.hil
plugin's options (`--board-port sim:NAME --deploy`), which deploys the project itself before its tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytool.sim.testing import running_sim

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
RUN_TIMEOUT = 240

pytestmark = [pytest.mark.slow, pytest.mark.hil]


def junit_counts(path: Path) -> tuple[int, int]:
    """(tests, failures + errors) of a JUnit XML report."""
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    return int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE")}
    return clean | {"PYTOOL_STATE_DIR": str(tmp_path / "state"), "PYTOOL_DATA_DIR": str(tmp_path / "data")}


def test_ble_sensor_example_on_a_throwaway_sim(tmp_path, env):
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytool", "test", str(EXAMPLES / "ble_sensor"), "--sim", "--junit", str(junit)]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert junit_counts(junit) == (4, 0)


def test_gatt_server_example_tests_hold_on_a_board_whose_callbacks_return_late(tmp_path, env):
    """The example's callbacks, each held 300 ms between its print and its return (a board busy with garbage
    collection, a loaded simulator): Pycom answers a read with whichever callback of the characteristic returns
    next, so a test that reads as soon as it sees a write's print gets that write's answer. The example's tests wait
    for the write's callback to return (`callbacks_done`) and must pass all the same."""
    project = tmp_path / "gatt_server"
    shutil.copytree(EXAMPLES / "gatt_server", project, ignore=shutil.ignore_patterns(".pytool"))
    main = (project / "main.py").read_text()
    slowed = main.replace("from network import Bluetooth\n", "from network import Bluetooth\nimport time\n", 1)
    for line in (
        '        print("Write request with value = {}".format(chr.value()))\n',
        "            print('Read request on char 1')\n",
    ):
        assert line in slowed
        indent = line[: len(line) - len(line.lstrip())]
        slowed = slowed.replace(line, f"{line}{indent}time.sleep_ms(300)\n")
    (project / "main.py").write_text(slowed)
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytool", "test", str(project), "--sim", "--junit", str(junit)]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert junit_counts(junit) == (6, 0)


@pytest.fixture(scope="module")
def sim_env(tmp_path_factory) -> dict[str, str]:
    """One simulated LoPy4 for the plain-pytest runs; the environment that finds it (PYTOOL_PORT unused)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE")}
    dirs = {
        "PYTOOL_STATE_DIR": str(tmp_path_factory.mktemp("examples-state")),
        "PYTOOL_DATA_DIR": str(tmp_path_factory.mktemp("examples-data")),
    }
    state, data = dirs["PYTOOL_STATE_DIR"], dirs["PYTOOL_DATA_DIR"]
    with running_sim("lopy4", name="hil-examples", state_dir=state, data_dir=data):
        yield clean | dirs


def run_plain_pytest(example: str, tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, Path]:
    """pytest + the plugin alone: --deploy flashes (if needed), checks, syncs and resets before the tests."""
    junit = tmp_path / "report.xml"
    command = [
        *(sys.executable, "-m", "pytest", str(EXAMPLES / example / "tests" / "hil")),
        *("--board-port", "sim:hil-examples", "--deploy", f"--junitxml={junit}", "-p", "no:cacheprovider"),
    ]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp_path)
    return run, junit


def test_gatt_server_example_with_plain_pytest_and_plugin_deploy(tmp_path, sim_env):
    run, junit = run_plain_pytest("gatt_server", tmp_path, sim_env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "pytool deploy: sync" in run.stdout
    assert junit_counts(junit) == (6, 0)
    logs = sorted(p.name for p in (tmp_path / "hil-logs").iterdir())
    assert len(logs) == 6, logs
    read_log = next((tmp_path / "hil-logs").glob("*test_char1_read_sequence.log")).read_text()
    assert read_log.count("Read request on char 1") == 2
    assert "read 36353433-3231-3039-3837-363534336261 -> 41 42 43 20 44 45 46  b'ABC DEF'" in read_log


def test_probe_server_example_checked_through_the_probe(tmp_path, sim_env):
    run, junit = run_plain_pytest("probe_server", tmp_path, sim_env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "pytool deploy: advertise  ok       'PyThermo' seen at" in run.stdout
    assert junit_counts(junit) == (3, 0)


def test_real_board_path_needs_only_a_port_and_a_bluetooth_transport(tmp_path, env):
    """What pytool does with a board it does not know as a simulator: the simulator is reached only through
    its RFC2217 URL (a network serial port, DTR/RTS resets) and its radio as a plain Bumble transport in
    PYTOOL_BLE (as a USB dongle would be); nothing in the examples' tests or in deploy knows it is simulated."""
    from pytool.deploy import simulator_firmware

    state, data = env["PYTOOL_STATE_DIR"], env["PYTOOL_DATA_DIR"]
    with running_sim("lopy4", name="hil-real", state_dir=state, data_dir=data) as record:
        blank = subprocess.run(
            [sys.executable, "-m", "pytool", "deploy", str(EXAMPLES / "gatt_server"), "--port", record.rfc2217],
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        # a blank real board: pytool cannot build firmware for it and says what to do
        assert blank.returncode == 1
        assert "the project wants 1.20.2.r4 - pass --firmware ARCHIVE" in blank.stderr
        unnamed = tmp_path / "unnamed"
        shutil.copytree(EXAMPLES / "gatt_server", unnamed, ignore=shutil.ignore_patterns(".pytool"))
        toml = unnamed / "pytool.toml"
        toml.write_text("\n".join(line for line in toml.read_text().splitlines() if not line.startswith("firmware")))
        nothing = subprocess.run(
            [sys.executable, "-m", "pytool", "deploy", str(unnamed), "--port", record.rfc2217],
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        assert nothing.returncode == 1
        assert "no firmware answers on rfc2217://" in nothing.stderr
        flash = [sys.executable, "-m", "pytool", "flash", str(simulator_firmware("lopy4", "1.20.2.r4"))]
        flashed = subprocess.run(
            [*flash, "--port", f"sim:{record.name}"], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        assert flashed.returncode == 0, flashed.stderr[-2000:]
        junit = tmp_path / "junit.xml"
        command = [sys.executable, "-m", "pytool", "--json", "test", str(EXAMPLES / "gatt_server")]
        command += ["--port", record.rfc2217, "--junit", str(junit)]
        run = subprocess.run(
            command, env=env | {"PYTOOL_BLE": record.hci}, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
    assert run.returncode == 0, run.stderr[-3000:]
    steps = {step["name"]: step for step in json.loads(run.stdout)["deploy"]["steps"]}
    assert steps["firmware"]["detail"] == "LoPy4 1.20.2.r4 (as the project wants)"
    assert junit_counts(junit) == (6, 0)
