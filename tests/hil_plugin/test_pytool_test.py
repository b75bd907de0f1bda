"""`pytool test` end to end on simulated boards: the seed example passes, broken copies fail in a useful way,
and the page's script as published behaves as Pycom's firmware versions make it behave.

Every run here is the real thing: `python -m pytool` in a subprocess, a simulator process flashed by esptool
through `pytool flash`, `pytool sync` over the raw REPL, and the example's own over-the-air tests (pytest +
bleak on pytool's Bumble backend) in a pytest subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytool.sim.testing import running_sim

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "gatt_server"
PUBLISHED = EXAMPLE / "tests" / "fixtures" / "pycom_docs_example.py"
RUN_TIMEOUT = 240

pytestmark = pytest.mark.slow


def pytool(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the pytool CLI as a user would (a separate process), capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "pytool", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=REPO,
    )


def junit_outcomes(path: Path) -> dict[str, str]:
    """test name -> "passed" | "failed" | "error" | "skipped", from a JUnit XML report."""
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[case.get("name")] = {"failure": "failed"}.get(kinds[0], kinds[0]) if kinds else "passed"
    return outcomes


def failure_text(path: Path, name: str) -> str:
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.get("name") == name:
            return "\n".join((child.get("message") or "") + "\n" + (child.text or "") for child in case)
    raise AssertionError(f"no test case {name} in {path}")


def project_copy(tmp_path: Path, main: str | None = None, firmware: str | None = None) -> Path:
    """A copy of examples/gatt_server, optionally with another main.py and firmware version."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".pytool", "__pycache__"))
    if main is not None:
        (project / "main.py").write_text(main)
    if firmware is not None:
        toml = project / "pytool.toml"
        toml.write_text(re.sub(r'(?m)^firmware = "[^"]*"', f'firmware = "{firmware}"', toml.read_text()))
    return project


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[str, str]:
    """State and data folders shared by this module's runs (the firmware cache lives in data)."""
    return {
        "PYTOOL_STATE_DIR": str(tmp_path_factory.mktemp("hil-state")),
        "PYTOOL_DATA_DIR": str(tmp_path_factory.mktemp("hil-data")),
    }


@pytest.fixture(scope="module")
def sim(dirs) -> str:
    """One simulated LoPy4 for the runs that do not test --sim itself: `sim:NAME`."""
    with running_sim(
        "lopy4", name="hil-plugin", state_dir=dirs["PYTOOL_STATE_DIR"], data_dir=dirs["PYTOOL_DATA_DIR"]
    ) as record:
        yield f"sim:{record.name}"


@pytest.fixture
def env(dirs) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE")}
    return clean | dirs


def test_seed_example_passes_on_a_throwaway_sim(tmp_path, env):
    junit = tmp_path / "results" / "junit.xml"
    run = pytool(["--json", "test", str(EXAMPLE), "--sim", "--junit", str(junit)], env)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["ok"] is True
    steps = {step["name"]: step for step in result["deploy"]["steps"]}
    assert list(steps) == ["firmware", "check", "sync", "reset", "advertise"]
    assert steps["firmware"]["detail"].startswith("flashed LoPy4-1.20.2.r4.tar.gz"), steps["firmware"]
    assert "uploaded" in steps["sync"]["detail"]
    assert "'LoPy' seen at" in steps["advertise"]["detail"]
    outcomes = junit_outcomes(junit)
    assert len(outcomes) == 6 and set(outcomes.values()) == {"passed"}, outcomes
    # per-test logs beside the report: serial output and BLE operations of each test
    log = (junit.parent / "hil-logs").glob("*test_char1_write_prints_and_stores_value.log")
    text = next(log).read_text()
    assert "Write request with value = b'hello'" in text
    assert "write 36353433-3231-3039-3837-363534336261 <- 68 65 6c 6c 6f" in text
    # the throwaway simulator is gone
    listing = pytool(["--json", "sim", "list"], env)
    assert json.loads(listing.stdout) == []


def test_broken_copy_fails_naming_the_behaviour_and_showing_serial_output(tmp_path, env, sim):
    main = (EXAMPLE / "main.py").read_text()
    broken = main.replace("return 'ABC DEF'", "return 'ABC DEX'").replace(
        'print("Write request with value = {}".format(chr.value()))', "raise ValueError('broken write handler')"
    )
    assert broken.count("ABC DEX") == 1 and "broken write handler" in broken
    project = project_copy(tmp_path, main=broken)
    junit = tmp_path / "junit.xml"
    run = pytool(["test", str(project), "--port", sim, "--junit", str(junit)], env)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    outcomes = junit_outcomes(junit)
    failed = {name for name, outcome in outcomes.items() if outcome != "passed"}
    assert failed == {"test_char1_read_sequence", "test_char1_write_prints_and_stores_value"}, outcomes
    # the report names what went wrong ...
    assert "b'ABC DEX'" in failure_text(junit, "test_char1_read_sequence")
    write_failure = failure_text(junit, "test_char1_write_prints_and_stores_value")
    assert "did not print /Write request with value = b'hello'/" in write_failure
    # ... and shows what the board printed: the exception that killed the callback
    assert "Unhandled exception in callback handler" in write_failure
    assert "ValueError: broken write handler" in write_failure
    assert "board serial output (last 40 lines)" in run.stdout
    assert "BLE operations" in run.stdout


def test_published_script_passes_on_1_20_1(tmp_path, env, sim):
    """The page's one-argument handlers are right for firmware before 1.20.2.rc2."""
    project = project_copy(tmp_path, main=PUBLISHED.read_text(), firmware="1.20.1")
    junit = tmp_path / "junit.xml"
    run = pytool(["--json", "test", str(project), "--port", sim, "--junit", str(junit)], env)
    assert run.returncode == 0, run.stderr[-3000:]
    steps = {step["name"]: step for step in json.loads(run.stdout)["deploy"]["steps"]}
    assert "1.20.1" in steps["firmware"]["detail"], steps["firmware"]
    assert steps["check"]["status"] == "warning"  # the byte-reversed UUIDs, nothing fatal on 1.20.1
    assert not any("ble-handler" in note for note in steps["check"]["notes"])
    outcomes = junit_outcomes(junit)
    assert len(outcomes) == 6 and set(outcomes.values()) == {"passed"}, outcomes


def test_published_script_on_1_20_2_is_flagged_and_fails_over_the_air(tmp_path, env, sim):
    project = project_copy(tmp_path, main=PUBLISHED.read_text(), firmware="1.20.2.r4")
    check = pytool(["--json", "check", str(project)], env)
    assert check.returncode == 1
    handlers = [f for f in json.loads(check.stdout)["findings"] if f["code"] == "ble-handler"]
    assert {(f["path"], f["severity"]) for f in handlers} == {("main.py", "error")}
    assert len(handlers) == 2  # char1_cb_handler and char2_cb_handler
    # deploy refuses it ...
    refused = pytool(["deploy", str(project), "--port", sim], env)
    assert refused.returncode == 1
    assert "ble-handler" in refused.stderr
    # ... and deployed anyway, it fails over the air: the first callback raises TypeError and kills the others
    junit = tmp_path / "junit.xml"
    args = ["--json", "test", str(project), "--port", sim, "--no-check", "--junit", str(junit), "--", "-k", "read_seq"]
    run = pytool(args, env)
    assert run.returncode == 1, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert "deploy" in result, f"deploy failed: {result} {run.stderr[-3000:]}"
    steps = {step["name"]: step for step in result["deploy"]["steps"]}
    # the refused deploy had already flashed 1.20.2.r4: this time the firmware step has nothing to do
    assert steps["firmware"]["status"] == "ok", steps["firmware"]
    assert steps["check"]["status"] == "skipped"
    assert junit_outcomes(junit) == {"test_char1_read_sequence": "failed"}
    assert "Unhandled exception in callback handler" in run.stderr
    assert "TypeError" in run.stderr
