"""Benchmark: how quickly the `pytool` command starts (issue 23).

Prints, best of N runs each (the machine is shared: the minimum is the figure that means something):
- `pytool --version` wall time, and the same for `python -c pass` (the interpreter's own floor);
- `import pytool.cli` as `python -X importtime` reports it, with the heaviest modules it pulls in;
- whether the heavy libraries (esptool, mpremote, bleak, bumble, serial, asyncio, rich.progress) are imported.

    python bench/startup.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HEAVY = (
    "esptool",
    "mpremote",
    "bleak",
    "bumble",
    "serial",
    "asyncio",
    "rich.progress",
    "rich.table",
    "pytool.sim.faults",
)


def wall(argv: list[str], runs: int) -> float:
    """Best wall time of `argv` over `runs` runs, in seconds."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def import_times(module: str, runs: int) -> tuple[float, dict[str, int]]:
    """Best cumulative import time of `module` (seconds) and the self times (us) of that run's modules."""
    best, table = float("inf"), {}
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"], check=True, capture_output=True, text=True
        )
        rows = {}
        for line in proc.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
            if m:
                rows[m.group(4)] = (int(m.group(1)), int(m.group(2)))
        total = rows.get(module, (0, 0))[1] / 1e6
        if total < best:
            best, table = total, {name: self_us for name, (self_us, _) in rows.items()}
    return best, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 runs each (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.runs = 3
    pytool = Path(sys.executable).with_name("pytool")
    env_argv = [str(pytool)] if pytool.exists() else [sys.executable, "-m", "pytool"]
    floor = wall([sys.executable, "-c", "pass"], args.runs)
    version = wall([*env_argv, "--version"], args.runs)
    help_time = wall([*env_argv, "--help"], args.runs)
    total, table = import_times("pytool.cli", args.runs)
    print(f"python -c pass:      {floor * 1000:7.1f} ms  (the interpreter alone)")
    print(f"pytool --version:    {version * 1000:7.1f} ms")
    print(f"pytool --help:       {help_time * 1000:7.1f} ms  (builds every command)")
    print(f"import pytool.cli:   {total * 1000:7.1f} ms  ({len(table)} modules)")
    heaviest = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:12]
    print("heaviest modules (self time): " + ", ".join(f"{n} {us / 1000:.1f} ms" for n, us in heaviest))
    loaded = [m for m in HEAVY if m in table]
    print(f"heavy libraries imported by `import pytool.cli`: {', '.join(loaded) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
