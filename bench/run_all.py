"""Run every benchmark in bench/ in its quick mode (what `make bench` and the test suite's smoke check use).

Each benchmark is a script `bench/<name>.py` that accepts `--quick` and prints its figures and ratios.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name != "run_all.py" and not p.name.startswith("_"))


def main(argv: list[str]) -> int:
    extra = argv or ["--quick"]
    found = scripts()
    if not found:
        print("No benchmarks yet.")
        return 0
    failed = []
    for script in found:
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script), *extra]).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
