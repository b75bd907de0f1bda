"""Benchmark: mpremote (the tool a user runs against a board) against the simulated board's running firmware:
exec (mpremote soft-resets the board first: a new interpreter, /flash mount, Pycom modules), eval, and fs cp
of a file host->board and board->host, on a LoPy4 simulator flashed with built Pycom firmware by esptool.
Each figure is compared with the time the same file needs on a real board's UART at 115200 baud (the bytes
alone, 10 bits each: a lower bound for a real LoPy4, which mpremote also needs round trips for).
Uploads are slow on purpose: Pycom 1.20 has no raw-paste, so mpremote falls back to 256 bytes per 10 ms of
repr()-encoded data, exactly as against the real firmware.

  python bench/sim_runtime.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import esptool

from pytool.firmware.build import build_pycom_archive
from pytool.sim import SimControl, running_sim

MPREMOTE = [sys.executable, "-m", "mpremote"]


def mpremote(port: str, *args: str) -> float:
    argv = [*MPREMOTE, "connect", port, *args]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, timeout=300)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"mpremote failed: {' '.join(argv)}\n{proc.stdout[-800:]!r}{proc.stderr[-800:]!r}")
    return elapsed


def figures(port: str, blob: Path, tmp: Path, target: str, rounds: int) -> dict[str, float]:
    out = {}
    out["exec"] = min(mpremote(port, "exec", "x = 1") for _ in range(rounds))
    out["eval"] = min(mpremote(port, "eval", "1 + 1") for _ in range(rounds))
    out["cp up"] = mpremote(port, "fs", "cp", str(blob), ":" + target)
    back = tmp / "back.bin"
    out["cp down"] = mpremote(port, "fs", "cp", ":" + target, str(back))
    if back.read_bytes() != blob.read_bytes():
        raise SystemExit("fs cp returned different bytes")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small file, one round (CI smoke run)")
    args = parser.parse_args()
    size = 16 * 1024 if args.quick else 200 * 1024
    rounds = 1 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="pytool-bench-") as tmp_name:
        tmp = Path(tmp_name)
        blob = tmp / "blob.bin"
        blob.write_bytes(os.urandom(size))
        files = {f.name: f.data for f in build_pycom_archive("lopy4", "1.20.2.r4", app_size=0x8000)}
        flash_args = []
        for name, offset in (("bootloader.bin", "0x1000"), ("partitions_8MB.bin", "0x8000"), ("lopy4.bin", "0x10000")):
            (tmp / name).write_bytes(files[name])
            flash_args += [offset, str(tmp / name)]
        env = {"state_dir": tmp / "state", "data_dir": tmp / "data"}
        with running_sim("lopy4", name="bench-runtime", **env) as rec:
            SimControl(rec.control).reset(bootloader=True)
            quiet = ["--port", rec.pty, "--before", "no-reset", "--after", "no-reset"]
            with contextlib.redirect_stdout(io.StringIO()):
                esptool.main([*quiet, "write-flash", *flash_args])
            SimControl(rec.control).reset()
            sim = figures(rec.pty, blob, tmp, "blob.bin", rounds)
    line = size * 10 / 115200
    print(f"mpremote against the simulated LoPy4 ({size // 1024} KB file; UART line time at 115200: {line:.2f} s)")
    for key, seconds in sim.items():
        ratio = f"  ({seconds / line:.2f}x the UART line time)" if key.startswith("cp") else ""
        print(f"  {key:<8}{seconds:8.3f} s{ratio}")
    print(f"  cp up throughput {size / sim['cp up'] / 1024:.0f} KB/s (a UART at 115200 carries 11 KB/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
