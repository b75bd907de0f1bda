"""Benchmark: what the simulated board's OS sandbox costs at interpreter start (every boot and soft reset).

Starts the MicroPython interpreter the way the supervisor did before the sandbox (`python -c` + run_main) and
the way it does now (`python -I confine.py ... -- micropython`: network namespace, nobody when root,
no_new_privs, Landlock, seccomp), alternately, and prints the medians and their ratio.

  python bench/sandbox.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytool.sim.runtime import confine

PLAIN = [sys.executable, "-c", "import sys, micropython_run; sys.exit(micropython_run.run_main(sys.argv[1:]))"]


def confined_argv() -> list[str]:
    argv = [sys.executable, "-I", confine.__file__, "--ro", "/dev/urandom"]
    if os.geteuid() == 0:
        argv += ["--uid", str(confine.SANDBOX_UID), "--gid", str(confine.SANDBOX_GID)]
    return [*argv, "--"]


def start_time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([*argv, "micropython", "-c", "pass"], check=True, env={"HOME": "/nonexistent"})
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 40")
    rounds = 5 if parser.parse_args().quick else 40
    missing = confine.probe()
    print(f"kernel: Landlock ABI {confine.landlock_abi()}; missing layers: {', '.join(missing) or 'none'}")
    plain, confined = [], []
    for _ in range(rounds):
        plain.append(start_time(PLAIN))
        confined.append(start_time(confined_argv()))
    p, c = statistics.median(plain) * 1000, statistics.median(confined) * 1000
    print(f"interpreter start, unconfined: {p:.1f} ms (median of {rounds})")
    print(f"interpreter start, sandboxed:  {c:.1f} ms (median of {rounds}), {c - p:+.1f} ms, ratio {c / p:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
