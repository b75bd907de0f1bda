"""Reliability figures: run tests/reliability with many fault points and count what happened.

    python bench/reliability.py            # deep mode: pytest --deep, hundreds of fault points per category
    python bench/reliability.py --quick    # a handful (what CI smoke-runs)
    python bench/reliability.py --examples 50 -k sync   # a chosen count, a subset of the suite

Prints, per category (sync cut / reset, flash cut / power loss, byte flip / drop, BLE drop): the test examples
run, faults injected, recoveries (the next sync / flash / connection restored everything), files checked,
corrupt files found (must be 0) and tracebacks shown to the user (must be 0); then the malformed-input corpus
result. There is no other tool to compare with: neither esptool nor mpremote promises anything after a fault.
Exit code: non-zero when any test failed or any corrupt file or traceback was seen.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("injected", "recovered", "files_checked", "corrupt", "tracebacks")


def run_suite(examples: int | None, deep: bool, select: str | None, stats: Path) -> tuple[int, str]:
    """Run pytest on tests/reliability; returns (exit code, its last summary line)."""
    env = dict(os.environ, PYTOOL_RELIABILITY_STATS=str(stats))
    if examples is not None:
        env["PYTOOL_RELIABILITY_EXAMPLES"] = str(examples)
    args = [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider", "-o", "timeout=0"]
    if deep:
        args.append("--deep")
    if select:
        args += ["-k", select]
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    failures = [line for line in lines if line.startswith("FAILED")]
    for line in failures:
        print(line)
    if failures:
        log = Path(tempfile.gettempdir()) / f"pytool-reliability-pytest-{os.getpid()}.log"
        log.write_text(proc.stdout + proc.stderr)
        print(f"pytest's report: {log}")
    return proc.returncode, lines[-1] if lines else proc.stderr.strip()[-300:]


def summarise(stats: Path) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("examples", *FIELDS), 0))
    if stats.exists():
        for line in stats.read_text().splitlines():
            row = json.loads(line)
            total = totals[row["category"]]
            total["examples"] += 1
            for field in FIELDS:
                total[field] += int(row.get(field, 0))
    return dict(totals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one example per fault category")
    parser.add_argument("--examples", type=int, help="hypothesis examples per test (default: deep = 200)")
    parser.add_argument("-k", dest="select", help="pytest -k expression (e.g. sync, flash, noise, ble)")
    args = parser.parse_args(argv)
    examples = 1 if args.quick else args.examples
    select = args.select or ("sync_faults and cut or ble_faults and dropped" if args.quick else None)
    with tempfile.TemporaryDirectory(prefix="pytool-reliability-") as tmp:
        stats = Path(tmp) / "stats.jsonl"
        started = time.monotonic()
        code, summary = run_suite(examples, not args.quick and args.examples is None, select, stats)
        seconds = time.monotonic() - started
        totals = summarise(stats)
    columns = ("examples", *FIELDS)
    widths = (9, 10, 10, 14, 9, 11)
    header = f"{'category':<18}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    for category, t in sorted(totals.items()):
        print(f"{category:<18}" + "".join(f"{t[c]:>{w}}" for c, w in zip(columns, widths, strict=True)))
    corrupt = sum(t["corrupt"] for t in totals.values())
    tracebacks = sum(t["tracebacks"] for t in totals.values())
    injected = sum(t["injected"] for t in totals.values())
    print(f"total: {injected} faults injected, {corrupt} corrupt files, {tracebacks} tracebacks in {seconds:.0f} s")
    print(f"pytest: {summary}")
    return 1 if code != 0 or corrupt or tracebacks else 0


if __name__ == "__main__":
    raise SystemExit(main())
