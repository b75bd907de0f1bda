"""bench/sandbox.py runs (quick mode) and prints its figures; CI checks that it runs, never how fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "sandbox.py"


def test_bench_sandbox_quick_prints_its_figures():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "interpreter start, unconfined:" in proc.stdout
    assert "interpreter start, sandboxed:" in proc.stdout and "ratio" in proc.stdout
