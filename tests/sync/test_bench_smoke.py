"""bench/sync.py and bench/sync_many.py run (quick mode) and print their figures; CI checks that they run, never how
fast."""

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


@pytest.mark.timeout(240)
def test_bench_sync_many_quick_prints_its_figures():
    bench = BENCH.with_name("sync_many.py")
    proc = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for tool, phase in (("pytool", "first"), ("pytool", "no-change"), ("pytool", "one-change"), ("mpremote", "first")):
        assert re.search(rf"^{tool} +{phase} +\d+ files", proc.stdout, re.M), (tool, phase)
    assert re.search(r"^pytool +no-change .* 1 +execs", proc.stdout, re.M), proc.stdout  # one exec, whatever the size
    assert "no-change sync: pytool" in proc.stdout
