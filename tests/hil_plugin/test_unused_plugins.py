"""`pytool test` runs the project's pytest without hypothesis' plugin, whose autoloading costs about 1 s of CPU
per board in `test --all` (issue 17); a project that needs it gets it back with a `--hypothesis-...` option or
`-- -p hypothesispytest`. (labgrid's plugin: tests/farm/test_farm_pytest_plugins.py.)"""

from __future__ import annotations

import subprocess
import sys

from pytool.deploy import dependency_plugin_args, hypothesis_plugin_args

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


# the plugins of pytool's own dependencies (anyio through watchfiles, platformdirs through bumble and mpremote):
# left out unless the project's tests use them


def project_run(tmp_path, test_source: str, pytest_args: list[str]) -> subprocess.CompletedProcess[str]:
    tests = tmp_path / "tests" / "hil"
    tests.mkdir(parents=True)
    (tests / "test_probe.py").write_text(test_source)
    command = [sys.executable, "-m", "pytest", str(tests), "-q", "-s", "-p", "no:cacheprovider"]
    command += [*dependency_plugin_args(tmp_path, pytest_args), *pytest_args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)


DEPENDENCY_PROBE = """
def test_plugins(request):
    has = request.config.pluginmanager.has_plugin
    print("LOADED", has("any" + "io"), has("platform" + "dirs"))  # (spelled apart: a test naming one keeps it)
"""


def test_dependency_plugins_are_left_out(tmp_path):
    run = project_run(tmp_path, DEPENDENCY_PROBE, [])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "LOADED False False" in run.stdout


ANYIO_TEST = """
import pytest

@pytest.mark.anyio
async def test_on_anyio(anyio_backend):
    print("BACKEND", anyio_backend)
"""


def test_a_project_using_anyio_keeps_it(tmp_path):
    run = project_run(tmp_path, ANYIO_TEST, ["-k", "on_anyio"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "BACKEND asyncio" in run.stdout


def test_plugins_mentioned_in_the_arguments_or_the_configuration_stay(tmp_path):
    both = ["-p", "no:anyio", "-p", "no:platformdirs"]
    assert dependency_plugin_args(tmp_path, []) == both
    assert dependency_plugin_args(tmp_path, ["-p", "anyio"]) == ["-p", "no:platformdirs"]
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['anyio']\n")
    assert dependency_plugin_args(tmp_path, []) == ["-p", "no:platformdirs"]
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_dirs.py").write_text("def test_dirs(platformdirs_isolated): pass\n")
    assert dependency_plugin_args(tmp_path, []) == []
