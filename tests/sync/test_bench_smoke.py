"""bench/sync.py runs (quick mode) and prints its figures; CI checks that it runs, never how fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "sync.py"


@pytest.mark.timeout(240)
def test_bench_sync_quick_prints_its_figures(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for label in ("mpremote  first", "mpremote  no-change", "pytool    first", "pytool    no-change"):
        assert label in proc.stdout
    assert "faster than mpremote" in proc.stdout and "round trips, first sync: pytool" in proc.stdout
