"""`pytool test` runs the project's pytest without the plugins it never uses (labgrid's, hypothesis'), which cost
most of a board's CPU in `test --all` (issue 17); a project that needs one asks with `-- -p NAME`."""

from __future__ import annotations

import subprocess
import sys

from pytool.deploy import UNUSED_PLUGINS, plugin_blocks

PROBE = """
def test_plugins(request):
    manager = request.config.pluginmanager
    print("LOADED", sorted(n for n in {names!r} if manager.has_plugin(n)))
"""


def loaded(tmp_path, pytest_args: list[str]) -> str:
    (tmp_path / "test_probe.py").write_text(PROBE.format(names=UNUSED_PLUGINS))
    command = [sys.executable, "-m", "pytest", str(tmp_path), "-q", "-s", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*command, *plugin_blocks(pytest_args), *pytest_args], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return next(line for line in run.stdout.splitlines() if "LOADED" in line)


def test_the_unused_plugins_are_left_out(tmp_path):
    assert loaded(tmp_path, []).endswith("LOADED []")


def test_a_project_asks_for_one_back(tmp_path):
    assert loaded(tmp_path, ["-p", "hypothesispytest"]).endswith("LOADED ['hypothesispytest']")


def test_only_the_unused_plugins_are_blocked():
    assert plugin_blocks(["-k", "read"]) == ["-p", "no:labgrid", "-p", "no:hypothesispytest"]
    assert plugin_blocks(["-plabgrid"]) == ["-p", "no:hypothesispytest"]
