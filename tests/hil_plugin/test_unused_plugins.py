"""`pytool test` runs the project's pytest without hypothesis' plugin, whose autoloading costs about 1 s of CPU
per board in `test --all` (issue 17); a project that needs it gets it back with a `--hypothesis-...` option or
`-- -p hypothesispytest`. (labgrid's plugin: tests/farm/test_farm_pytest_plugins.py.)"""

from __future__ import annotations

import subprocess
import sys

from pytool.deploy import anyio_plugin_args, hypothesis_plugin_args

PROBE = """
def test_plugins(request):
    print("LOADED", request.config.pluginmanager.has_plugin("hypothesispytest"))
"""


def loaded(tmp_path, pytest_args: list[str]) -> bool:
    (tmp_path / "test_probe.py").write_text(PROBE)
    command = [sys.executable, "-m", "pytest", str(tmp_path), "-q", "-s", "-p", "no:cacheprovider"]
    command += [*hypothesis_plugin_args(pytest_args), *pytest_args]  # as pytool.deploy.run_tests orders them
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    return next(line for line in run.stdout.splitlines() if "LOADED" in line).endswith("LOADED True")


def test_hypothesis_plugin_is_left_out(tmp_path):
    assert not loaded(tmp_path, [])


def test_a_project_gets_it_back(tmp_path):
    assert loaded(tmp_path, ["-p", "hypothesispytest"])
    assert loaded(tmp_path, ["--hypothesis-show-statistics"])


# anyio's plugin (anyio comes with pytool through watchfiles): left out unless the project's tests use it


def anyio_run(tmp_path, test_source: str, pytest_args: list[str]) -> subprocess.CompletedProcess[str]:
    tests = tmp_path / "tests" / "hil"
    tests.mkdir(parents=True)
    (tests / "test_probe.py").write_text(test_source)
    command = [sys.executable, "-m", "pytest", str(tests), "-q", "-s", "-p", "no:cacheprovider"]
    command += [*anyio_plugin_args(tmp_path, pytest_args), *pytest_args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)


def test_anyio_plugin_is_left_out(tmp_path):
    # (spelled apart: a test file naming the plugin keeps it)
    run = anyio_run(tmp_path, PROBE.replace('"hypothesispytest"', '"any" + "io"'), [])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "LOADED False" in run.stdout


ANYIO_TEST = """
import pytest

@pytest.mark.anyio
async def test_on_anyio(anyio_backend):
    print("BACKEND", anyio_backend)
"""


def test_a_project_using_anyio_keeps_it(tmp_path):
    run = anyio_run(tmp_path, ANYIO_TEST, ["-k", "on_anyio"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "BACKEND asyncio" in run.stdout


def test_anyio_mentioned_in_the_arguments_or_the_configuration(tmp_path):
    assert anyio_plugin_args(tmp_path, []) == ["-p", "no:anyio"]
    assert anyio_plugin_args(tmp_path, ["-p", "anyio"]) == []
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['anyio']\n")
    assert anyio_plugin_args(tmp_path, []) == []
