"""The CLI's start-up imports only what a command needs (issue 23; figures: bench/startup.py)."""

from __future__ import annotations

import subprocess
import sys

from pytool import __version__

#: Libraries no command needs just to start: each is imported by the command that uses it.
HEAVY = ("asyncio", "esptool", "mpremote", "serial", "bleak", "bumble", "pydantic", "pytool.flash", "pytool.sim.faults")


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_version_is_answered_without_loading_the_cli():
    out = run(
        "import sys\nsys.argv = ['pytool', '--version']\nfrom pytool import launch\n"
        "try:\n    launch.main()\nexcept SystemExit as exc:\n"
        "    print(exc.code, sorted(m for m in ('typer', 'rich', 'pytool.cli') if m in sys.modules))\n"
    )
    assert out == f"pytool {__version__}\n0 []\n"


def test_importing_the_cli_leaves_the_heavy_libraries_alone():
    out = run(f"import sys, pytool.cli\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert out == "[]\n"


def test_a_command_line_is_parsed_without_pydantic():  # typer 0.29 imports it for every command's parameters
    out = run(
        "import sys\nfrom pytool import cli\ncode = cli.run(['sim', 'fault', '--help'])\n"
        "print(code, 'pydantic' in sys.modules, 'pytool.sim.faults' in sys.modules)"
    )
    assert out.endswith("0 False False\n")
