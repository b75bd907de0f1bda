"""The `pytool` console script. `pytool --version` is answered here, without loading the CLI (typer, rich and
every command module); everything else goes to `pytool.cli.main`."""

from __future__ import annotations

import sys

from pytool import __version__


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"pytool {__version__}\n")
        sys.exit(0)
    from pytool.cli import main as cli_main

    cli_main()
