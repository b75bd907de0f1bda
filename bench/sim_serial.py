"""Benchmark: the simulated board's serial side with the esptool CLI (as a user runs it), in one run:
- write-flash / read-flash on the pty, unpaced (the simulator's fast path) and with --baud-pacing at 921600
  (bytes move no faster than on a real UART), compared with the bare line time a real board needs at that baud;
- chip-id over RFC2217 with esptool's default DTR/RTS reset vs the pty (full mode only: RFC2217 is slow).

  python bench/sim_serial.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytool.sim import SimControl, running_sim

BAUD = 921600


def esptool(port: str, *args: str, reset: bool = False) -> float:
    before = [] if reset else ["--before", "no-reset", "--after", "no-reset"]
    argv = [sys.executable, "-m", "esptool", "--port", port, "--baud", str(BAUD), *before, *args]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"esptool failed: {' '.join(argv)}\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return elapsed


def pty_figures(rec, image: Path, size: int) -> tuple[float, float]:
    control = SimControl(rec.control)
    control.reset(bootloader=True)
    write = esptool(rec.pty, "write-flash", "0x100000", str(image))
    control.reset(bootloader=True)
    read = esptool(rec.pty, "read-flash", "0x100000", str(size), str(image.with_suffix(".back")))
    if image.with_suffix(".back").read_bytes() != image.read_bytes():
        raise SystemExit("read-flash returned different bytes")
    return write, read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small image, no RFC2217 (CI smoke run)")
    args = parser.parse_args()
    size = 128 * 1024 if args.quick else 1024 * 1024
    line_s = size * 10 / BAUD
    with tempfile.TemporaryDirectory(prefix="pytool-bench-") as tmp:
        env = {"state_dir": Path(tmp) / "state", "data_dir": Path(tmp) / "data"}
        image = Path(tmp) / "random.bin"
        image.write_bytes(os.urandom(size))
        with running_sim("lopy4", name="bench-fast", **env) as rec:
            fast_w, fast_r = pty_figures(rec, image, size)
            pty_id = esptool(rec.pty, "chip-id")
        with running_sim("lopy4", name="bench-paced", args=["--baud-pacing"], **env) as rec:
            paced_w, paced_r = pty_figures(rec, image, size)
        print(f"image: {size // 1024} KB random (incompressible), esptool CLI at {BAUD} baud")
        print(f"line time of the image at {BAUD} baud (a real board's floor): {line_s:6.2f} s")
        print(f"{'':22}{'unpaced':>10}{'paced':>10}{'paced/line':>12}{'speedup':>10}")
        for what, fast, paced in (("write-flash", fast_w, paced_w), ("read-flash", fast_r, paced_r)):
            print(f"{what:22}{fast:9.2f}s{paced:9.2f}s{paced / line_s:11.2f}x{paced / fast:9.1f}x")
        print(f"chip-id on the pty (no reset): {pty_id:.2f} s")
        if not args.quick:
            with running_sim("lopy4", name="bench-rfc", **env) as rec:
                rfc_id = esptool(rec.rfc2217, "chip-id", reset=True)
            print(f"chip-id over RFC2217 with DTR/RTS reset: {rfc_id:.2f} s ({rfc_id / pty_id:.1f}x the pty)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
