"""`pytool demo` (and `make demo`): from a fresh install to a passing over-the-air test run on a simulated LoPy4.

It runs the commands a newcomer would type, printing each one first:
  1. pytool firmware build   a Pycom firmware archive for the simulated board
  2. pytool sim start        a simulated LoPy4 (erased flash: the ROM boot loop)
  3. pytool flash            the archive onto it, through the ROM bootloader, as on a real board
  4. pytool test             examples/gatt_server: check, sync, reset, wait for advertising, then its
                             over-the-air tests (pytest + bleak) against the board's GATT server
and stops the simulator. Everything, the example project included, lives in a temporary folder, so the demo
runs the same from a source checkout and from an installed wheel (whose copy of the examples is read-only).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from pytool.console import err
from pytool.paths import firmware_dir

BOARD = "lopy4"
VERSION = "1.20.2.r4"
NAME = "demo"


def examples_dir() -> Path:
    """The `examples/` folder (beside `firmware/` in a checkout, in the package data of a wheel)."""
    return firmware_dir().parent / "examples"


def _run(why: str, args: list[str], env: dict[str, str], check: bool = True) -> int:
    err.print(f"\n[bold]{why}[/]\n[bold cyan]$ pytool {shlex.join(args)}[/]")
    code = subprocess.call([sys.executable, "-m", "pytool", *args], env=env)
    if check and code != 0:
        err.print(f"[bold red]The demo stopped:[/] `pytool {args[0]}` failed (exit code {code}).")
        raise SystemExit(code)
    return code


def _summary(junit: Path) -> str:
    """'6 passed, 0 failed, ...' from the JUnit report."""
    try:
        suite = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return "no test report was written"
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    if suite is None:
        return "empty test report"
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    seconds = float(suite.get("time", 0))
    return f"{total - failed - skipped} passed, {failed} failed, {skipped} skipped in {seconds:.1f} s"


def main() -> int:
    """Run the demo; returns the exit code of its over-the-air test run."""
    err.print(
        "[bold]pytool demo[/]: a simulated LoPy4 gets Pycom firmware, the GATT server example of Pycom's "
        "documentation, and its over-the-air tests.\nNo hardware is needed; everything runs in a temporary folder."
    )
    results = Path(tempfile.mkdtemp(prefix="pytool-demo-results-"))
    junit = results / "junit.xml"
    with tempfile.TemporaryDirectory(prefix="pytool-demo-") as tmp:
        env = dict(os.environ, PYTOOL_STATE_DIR=f"{tmp}/state", PYTOOL_DATA_DIR=f"{tmp}/data")
        env.pop("PYTOOL_PORT", None)
        env.pop("PYTOOL_BLE", None)
        project = Path(tmp) / "gatt_server"
        shutil.copytree(
            examples_dir() / "gatt_server", project, ignore=shutil.ignore_patterns(".pytool", "__pycache__")
        )
        archive = Path(tmp) / f"LoPy4-{VERSION}.tar.gz"
        build = ["firmware", "build", "--board", BOARD, "--version", VERSION, "-o", str(archive)]
        _run("1/4  Build Pycom firmware for the simulated board (a real Pycom archive layout)", build, env)
        _run(
            "2/4  Start a simulated LoPy4 (its flash is erased: it boot-loops like a blank module)",
            ["sim", "start", "--board", BOARD, "--name", NAME, "--detach"],
            env,
        )
        try:
            _run(
                "3/4  Flash the firmware through the ESP32 ROM bootloader, as on a real board",
                ["flash", str(archive), "--port", f"sim:{NAME}"],
                env,
            )
            test = ["test", str(project), "--port", f"sim:{NAME}", "--junit", str(junit)]
            code = _run(
                "4/4  Deploy examples/gatt_server and run its over-the-air tests (pytest + bleak)",
                test,
                env,
                check=False,
            )
        finally:
            _run("Clean up: stop the simulator", ["sim", "stop", NAME], env, check=False)
    verdict = "[bold green]PASSED[/]" if code == 0 else "[bold red]FAILED[/]"
    err.print(f"\nReports and per-test logs (serial output, BLE operations): {results}")
    what = "examples/gatt_server over the air on a simulated LoPy4"
    err.print(f"[bold]Demo {verdict}[/]: {what}: {_summary(junit)}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
