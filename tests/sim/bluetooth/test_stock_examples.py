"""The stock MicroPython examples over the air, as a user runs them: `pytool test DIR --sim` on a throwaway
simulated generic ESP32 (its own radio: a private state folder)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
RUN_TIMEOUT = 600

pytestmark = [pytest.mark.slow, pytest.mark.hil, pytest.mark.timeout(RUN_TIMEOUT + 60)]


def junit_counts(path: Path) -> tuple[int, int, int]:
    """(tests, failures + errors, skipped) of a JUnit XML report."""
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    failed = int(suite.get("failures")) + int(suite.get("errors"))
    return int(suite.get("tests")), failed, int(suite.get("skipped", 0))


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE")}
    return clean | {"PYTOOL_STATE_DIR": str(tmp_path / "state"), "PYTOOL_DATA_DIR": str(tmp_path / "data")}


def pytool_test(project: Path, junit: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytool", "test", str(project), "--sim", "--junit", str(junit)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=REPO)


def test_stock_gatt_server_passes_the_seed_examples_tests(tmp_path, env):
    junit = tmp_path / "junit.xml"
    run = pytool_test(EXAMPLES / "stock_gatt_server", junit, env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert junit_counts(junit) == (6, 0, 0)


def code_of(path: Path) -> str:
    """A test file's code without its docstring and comments."""
    tree = ast.parse(path.read_text())
    body = tree.body[1:] if tree.body and isinstance(tree.body[0], ast.Expr) else tree.body
    return "\n".join(ast.dump(node) for node in body)


TWINS = ["stock_gatt_server/tests/hil/test_stock_gatt_server.py", "aioble_server/tests/hil/test_aioble_server.py"]


@pytest.mark.parametrize("twin", TWINS)
def test_the_twins_run_the_seed_examples_test_code_unchanged(twin):
    assert code_of(EXAMPLES / twin) == code_of(EXAMPLES / "gatt_server/tests/hil/test_gatt_server.py")


def test_aioble_server_with_aioble_from_a_micropython_lib_checkout(tmp_path, env):
    lib = os.environ.get("PYTOOL_MICROPYTHON_LIB")
    if not lib or not Path(lib).exists():
        pytest.skip("aioble is another project's code: set PYTOOL_MICROPYTHON_LIB to a micropython-lib checkout")
    project = tmp_path / "aioble_server"
    shutil.copytree(EXAMPLES / "aioble_server", project, ignore=shutil.ignore_patterns("lib", ".pytool"))
    fetch = [sys.executable, str(project / "tests/get_aioble.py"), lib, str(project)]
    subprocess.run(fetch, check=True, capture_output=True, timeout=120)
    junit = tmp_path / "junit.xml"
    run = pytool_test(project, junit, env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert junit_counts(junit) == (6, 0, 0)
