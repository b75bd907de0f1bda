"""`pytool test` runs the project's pytest without hypothesis' plugin, whose autoloading costs about 1 s of CPU
per board in `test --all` (issue 17); a project that needs it gets it back with a `--hypothesis-...` option or
`-- -p hypothesispytest`. (labgrid's plugin: tests/farm/test_farm_pytest_plugins.py.)"""

from __future__ import annotations

import subprocess
import sys

from pytool.deploy import hypothesis_plugin_args

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
