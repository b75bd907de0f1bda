"""bench/sync.py runs (quick mode) and prints its figures; CI checks that it runs, never how fast."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "sync.py"


@pytest.mark.timeout(240)
def test_bench_sync_quick_prints_its_figures(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for tool, phase in itertools.product(("mpremote", "pytool", "pytool/wifi"), ("first", "no-change")):
        assert re.search(rf"^{tool} +{phase} ", proc.stdout, re.M), (tool, phase)
    assert "faster than mpremote" in proc.stdout and "round trips, first sync: pytool" in proc.stdout
