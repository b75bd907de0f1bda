"""labgrid's own pytest plugin in `pytool test` runs (issue 21).

labgrid (installed with pytool[labgrid]) registers a pytest plugin that claims the fixture names `env`, `target`
and `strategy`; without a labgrid environment it skips every test that asks for one. `pytool test` runs the
project's tests with `-p no:labgrid` unless the user's pytest arguments use that plugin (`--lg-...`), so a test
asking for a `target` its project does not define fails as pytest says, instead of passing as "skipped".

The board is never reached: the tests ask for no pytool.hil fixture, and `--no-deploy` skips the deploy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("labgrid.pytestplugin", reason="labgrid is not installed (pip install 'pytool[labgrid]')")

from pytool.deploy import labgrid_plugin_args

PORT = "socket://127.0.0.1:9"  # never opened: no test here uses the board

pytestmark = pytest.mark.slow


def _project(tmp_path: Path, test: str, conftest: str | None = None) -> Path:
    hil = tmp_path / "project" / "tests" / "hil"
    hil.mkdir(parents=True)
    (hil.parents[1] / "pytool.toml").write_text('board = "lopy4"\n')
    (hil / "test_target.py").write_text(test)
    if conftest is not None:
        (hil / "conftest.py").write_text(conftest)
    return hil.parents[1]


def _pytool_test(project: Path, *pytest_args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE", "LG_ENV", "PYTEST_ADDOPTS")}
    argv = [sys.executable, "-m", "pytool", "-p", PORT, "test", "--no-deploy", str(project)]
    if pytest_args:
        argv += ["--", *pytest_args]
    return subprocess.run(argv, env=env, cwd=project, capture_output=True, text=True, timeout=120)


def test_a_target_the_project_does_not_define_fails_instead_of_being_skipped(tmp_path):
    project = _project(tmp_path, "def test_uses_target(target):\n    assert target\n")
    run = _pytool_test(project)
    assert run.returncode != 0, run.stdout
    assert "fixture 'target' not found" in run.stdout
    assert "skipped" not in run.stdout and "missing environment config" not in run.stdout


def test_the_projects_own_target_fixture_is_used(tmp_path):
    conftest = 'import pytest\n\n@pytest.fixture\ndef target():\n    return "mine"\n'
    project = _project(tmp_path, 'def test_uses_target(target):\n    assert target == "mine"\n', conftest)
    run = _pytool_test(project)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_labgrid_options_after_the_double_dash_keep_labgrids_plugin(tmp_path):
    project = _project(tmp_path, 'def test_uses_target(target):\n    assert target.name == "main"\n')
    (project / "env.yaml").write_text("targets:\n  main:\n    resources: {}\n")
    run = _pytool_test(project, "--lg-env", "env.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_plugin_arguments():
    assert labgrid_plugin_args([]) == ["-p", "no:labgrid"]
    assert labgrid_plugin_args(["-k", "read", "-x"]) == ["-p", "no:labgrid"]
    assert labgrid_plugin_args(["--lg-env", "env.yaml"]) == []
    assert labgrid_plugin_args(["--lg-coordinator=127.0.0.1:1"]) == []
