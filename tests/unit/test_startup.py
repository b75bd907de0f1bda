"""The CLI's start-up imports only what a command needs (issue 23; figures: bench/startup.py)."""

from __future__ import annotations

import subprocess
import sys

from pytool import __version__

#: Libraries no command needs just to start: each is imported by the command that uses it.
HEAVY = (
    *("asyncio", "esptool", "mpremote", "serial", "bleak", "bumble", "pydantic", "pytool.flash", "pytool.sim.faults"),
    *("rich", "pytool.boards", "tomllib", "importlib.metadata", "importlib.resources", "pytool.check"),
)


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


def test_mpremote_transport_loads_without_the_version_lookup_which_is_still_answered():
    out = run(
        "import sys\nfrom pytool.mpremote_import import defer_version\ndefer_version()\n"
        "from mpremote.transport_serial import SerialTransport\n"
        "print('importlib.metadata' in sys.modules)\n"
        "from mpremote import __version__\nfrom importlib.metadata import version\n"
        "print(__version__ == version('mpremote'))\n"
        "import mpremote\ntry:\n    mpremote.nothing\nexcept AttributeError:\n    print('AttributeError')\n"
    )
    assert out == "False\nTrue\nAttributeError\n"


def test_a_sync_that_uploads_nothing_loads_no_progress_bar_nor_ftp():
    out = run(
        "import sys\nfrom pytool.commands.sync import _SyncBar\nimport pytool.sync\n"
        "with _SyncBar():\n    pass\n"
        "print(sorted(m for m in ('rich.progress', 'ftplib', 'importlib.resources') if m in sys.modules))\n"
        "from pytool.console import options\nwith _SyncBar() as bar:\n    bar.update(10, 100)\n"
        "print('rich.progress' in sys.modules)\n"
    )
    assert out == "[]\nTrue\n"


def test_a_command_line_builds_only_the_command_it_names():
    from pytool import cli

    assert [c.callback.__name__ for c in cli._app_for(["sync", "."]).registered_commands] == ["sync"]
    assert cli._app_for(["sim", "list"]) is cli.app  # a group: the whole app
    assert cli._app_for(["synk"]) is cli.app  # a typo: click's "did you mean" needs every name
    assert cli._app_for([]) is cli.app
    assert len(cli.app.registered_commands) > 10  # the app itself is left whole


def test_the_console_loads_rich_on_first_output_and_escapes_markup():
    out = run(
        "import sys\nfrom pytool.console import err, escape\nprint('rich' in sys.modules)\n"
        "print(escape('[bold]x[/]'), 'rich' in sys.modules)\nerr.print('[bold]shown[/]')\n"
        "print(type(err.console).__module__)\n"
    )
    assert out == "False\n\\[bold]x\\[/] True\nrich.console\n"
