"""`python -m pytool.ble [--transport T] script.py [args...]`: run an unchanged bleak script on the Bumble backend.

Installs the backend hook, sets `PYTOOL_BLE` (from `--transport`, or keeps the one in the environment), then runs
the script as `__main__` with its own arguments, as `python script.py args...` would.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys

from pytool.ble.selection import ENV_VAR, configured, install


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytool.ble", description=__doc__.splitlines()[0])
    parser.add_argument("--transport", help=f"Bumble transport or sim:NAME (default: ${ENV_VAR})")
    parser.add_argument("script", help="a Python script using bleak")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    options = parser.parse_args(argv)
    if options.transport:
        os.environ[ENV_VAR] = options.transport
    if not configured():
        parser.error(f"no transport: pass --transport or set {ENV_VAR}")
    install()
    sys.argv = [options.script, *options.args]
    runpy.run_path(options.script, run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
