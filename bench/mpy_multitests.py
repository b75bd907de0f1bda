"""MicroPython's own multi-board Bluetooth tests between two simulated stock ESP32 boards (issue 20).

    python bench/mpy_multitests.py --micropython DIR [--micropython-lib DIR] [-k NAME ...] [--quick]

DIR is a micropython checkout or a bare git mirror of one (its HEAD is used); nothing of it is copied into this
project. The script starts two simulated generic ESP32 boards with stock MicroPython on a radio of their own and
runs `tests/run-multitests.py -t port:<pty0> -t port:<pty1> tests/multi_bluetooth/*.py`, then, with
--micropython-lib, aioble's multitests (`micropython/bluetooth/aioble/multitests/*.py`) after copying the aioble
package to both boards' /flash/lib (as `mpremote fs cp` does for a user). It prints one line per test (pass /
FAIL / skip) and a summary; without --micropython it says how to get a checkout and exits 0.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytool.boards import get_board  # noqa: E402
from pytool.firmware.build import build_micropython_image  # noqa: E402
from pytool.paths import mpy_cross_for_micropython  # noqa: E402
from pytool.sim.testing import running_sim  # noqa: E402

HOW_TO_GET = (
    "no MicroPython checkout given: git clone https://github.com/micropython/micropython (and micropython-lib "
    "for aioble), then run bench/mpy_multitests.py --micropython DIR [--micropython-lib DIR]"
)
RESULT = re.compile(r"^\S+\.py on \S+: (pass|FAIL|skip|SKIP)$", re.IGNORECASE)


def materialise(source: Path, paths: list[str], into: Path) -> Path:
    """`paths` of a checkout (used in place) or of a bare git dir (its HEAD extracted under `into`)."""
    if all((source / p).exists() for p in paths):
        return source
    if (source / "HEAD").is_file() and (source / "objects").is_dir():
        tar = subprocess.run(
            ["git", "--git-dir", str(source), "archive", "--format=tar", "HEAD", *paths],
            check=True,
            capture_output=True,
        ).stdout
        into.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=BytesIO(tar)) as archive:
            archive.extractall(into, filter="data")
        return into
    raise SystemExit(f"{source} is neither a checkout with {paths[0]} nor a bare git repository")


def stock_flash(path: Path) -> Path:
    board = get_board("esp32")
    image = bytearray(b"\xff" * board.flash_size)
    app = build_micropython_image("1.24.1")
    image[0x1000 : 0x1000 + len(app)] = app
    path.write_bytes(image)
    return path


def compile_package(package: Path, into: Path) -> Path:
    """The package as .mpy files (the mpy-cross of MicroPython 1.24), as `mip install aioble` delivers it from
    micropython-lib's index: compiling the sources on the board would need more heap than a real ESP32 spends."""
    compiler = mpy_cross_for_micropython("1.24.1")
    if compiler is None:
        raise SystemExit("no mpy-cross for MicroPython 1.24 installed (pytool's mpy-cross-multi dependency)")
    out = into / package.name
    out.mkdir(parents=True, exist_ok=True)
    for source in sorted(package.glob("*.py")):
        target = out / (source.stem + ".mpy")
        subprocess.run([str(compiler), "-o", str(target), str(source)], check=True, capture_output=True)
    return out


def install_aioble(pty: str, package: Path) -> None:
    """Copy the compiled aioble package to the board's lib folder with mpremote, as a user would."""
    mpremote = [sys.executable, "-m", "mpremote", "connect", pty]
    subprocess.run([*mpremote, "fs", "mkdir", ":lib"], capture_output=True)
    subprocess.run([*mpremote, "fs", "cp", "-r", str(package), ":lib/"], check=True, capture_output=True)


def run_multitests(tests_dir: Path, ptys: list[str], files: list[str], timeout: float) -> list[tuple[str, str, float]]:
    """run-multitests.py, one invocation per test (so one hung test cannot take the others with it)."""
    results = []
    for name in files:
        started = time.monotonic()
        command = [sys.executable, "run-multitests.py"]
        for pty in ptys:
            command += ["-t", f"port:{pty}"]
        command.append(name)
        try:
            out = subprocess.run(command, cwd=tests_dir, capture_output=True, text=True, timeout=timeout).stdout
        except subprocess.TimeoutExpired:
            out = f"FAIL {name} (no result within {timeout:.0f} s)"
        status = "FAIL"
        for line in out.splitlines():
            match = RESULT.match(line.strip())
            if match:
                status = {"pass": "pass", "skip": "skip"}.get(match.group(1).lower(), "FAIL")
        seconds = time.monotonic() - started
        print(f"{status:4}  {name}  ({seconds:.1f} s)", flush=True)
        if status == "FAIL":
            tail = [line for line in out.splitlines() if line.strip()][-25:]
            print("      " + "\n      ".join(tail), flush=True)
        results.append((name, status, seconds))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micropython", type=Path, help="micropython checkout or bare git dir")
    parser.add_argument("--micropython-lib", type=Path, help="micropython-lib checkout or bare git dir (aioble)")
    parser.add_argument("-k", "--select", action="append", default=[], help="only tests whose name contains this")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per test (default 120)")
    parser.add_argument("--quick", action="store_true", help="one test per suite (what `make bench` runs)")
    args = parser.parse_args(argv)
    if args.quick and not args.select:
        args.select = ["ble_gap_connect", "ble_characteristic"]
    if args.micropython is None or not args.micropython.exists():
        print(HOW_TO_GET)
        return 0

    with tempfile.TemporaryDirectory(prefix="pytool-multitests-") as tmp:
        work = Path(tmp)
        mp = materialise(args.micropython, ["tests", "tools/pyboard.py"], work / "micropython")
        tests_dir = mp / "tests"
        suites = [sorted(f"multi_bluetooth/{p.name}" for p in (tests_dir / "multi_bluetooth").glob("*.py"))]
        aioble_pkg = None
        if args.micropython_lib is not None:
            lib = materialise(args.micropython_lib, ["micropython/bluetooth/aioble"], work / "micropython-lib")
            aioble = lib / "micropython/bluetooth/aioble"
            aioble_pkg = compile_package(aioble / "aioble", work / "mpy")
            suites.append(sorted(str(p) for p in (aioble / "multitests").glob("*.py")))
        state = work / "state"
        state.mkdir()
        sims = [
            running_sim(
                "esp32",
                name=f"mt{i}-{int(time.time()) % 100000}",
                flash=stock_flash(work / f"b{i}.bin"),
                state_dir=state,
            )
            for i in range(2)
        ]
        all_results = []
        with sims[0] as rec0, sims[1] as rec1:
            ptys = [rec0.pty, rec1.pty]
            for index, files in enumerate(suites):
                files = [f for f in files if not args.select or any(k in f for k in args.select)]
                if not files:
                    continue
                label = "MicroPython tests/multi_bluetooth" if index == 0 else "aioble multitests"
                print(f"== {label}: {len(files)} test(s) on {ptys[0]} and {ptys[1]}", flush=True)
                if index == 1 and aioble_pkg is not None:
                    for pty in ptys:
                        install_aioble(pty, aioble_pkg)
                all_results += run_multitests(tests_dir, ptys, files, args.timeout)
        counts = {s: sum(1 for _, status, _ in all_results if status == s) for s in ("pass", "FAIL", "skip")}
        total = sum(seconds for _, _, seconds in all_results)
        print(f"== {counts['pass']} passed, {counts['FAIL']} failed, {counts['skip']} skipped in {total:.0f} s")
        return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
