"""Benchmark: `pytool flash` versus the equivalent esptool CLI `write-flash`, on the simulated board with
line-rate pacing at 921600 baud (the simulator then moves bytes no faster than a real UART).

Both are run as the commands a user types (subprocesses), on the same simulator, in the same run:
  esptool: --before no-reset --after no-reset --baud 921600 write-flash -z <the same regions pytool writes>
  pytool:  pytool --port sim:NAME flash ARCHIVE --no-check
Full flash = erased chip before each run; re-flash = the same archive again (pytool skips unchanged regions).
Targets (issue #7): full flash <= 1.05x esptool; unchanged re-flash <= 0.15x of a full flash.

    python bench/flash.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytool.boards import get_board
from pytool.firmware import load_firmware, plan_archive
from pytool.firmware.build import build_pycom_archive, write_archive


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small firmware, one run (smoke test)")
    parser.add_argument("--runs", type=int, default=None, help="repetitions (median is reported)")
    parser.add_argument("--board", default="lopy4")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    app_size = 0x40000 if args.quick else 0x160000

    from pytool.sim import SimControl, running_sim

    with tempfile.TemporaryDirectory(prefix="pytool-bench-flash-") as tmp:
        tmpdir = Path(tmp)
        board = get_board(args.board)
        archive = tmpdir / f"{board.name}-1.20.2.r4.tar.gz"
        write_archive(build_pycom_archive(board.key, "1.20.2.r4", app_size=app_size), archive)
        plan = plan_archive(load_firmware(archive), board.flash_size)
        regions = []
        for i, w in enumerate(plan.writes):
            path = tmpdir / f"region{i}.bin"
            path.write_bytes(w.data)
            regions += [hex(w.offset), str(path)]
        total = sum(len(w.data) for w in plan.writes)

        state, data = tmpdir / "state", tmpdir / "data"
        env = dict(os.environ, PYTOOL_STATE_DIR=str(state), PYTOOL_DATA_DIR=str(data))
        py = sys.executable
        with running_sim(board.key, state_dir=state, data_dir=data, args=["--baud-pacing"]) as rec:
            control = SimControl(rec.control)
            esptool_base = [py, "-m", "esptool", "--port", rec.pty, "--baud", "921600"]
            esptool_base += ["--before", "no-reset", "--after", "no-reset"]
            pytool_flash = [py, "-m", "pytool", "--port", f"sim:{rec.name}", "flash", str(archive), "--no-check"]

            def erase_chip() -> None:
                control.reset(bootloader=True)
                timed([*esptool_base, "erase-flash"], env)

            esptool_full, pytool_full, pytool_again = [], [], []
            for _ in range(runs):
                erase_chip()
                control.reset(bootloader=True)
                esptool_full.append(timed([*esptool_base, "write-flash", "-z", *regions], env))
                erase_chip()
                pytool_full.append(timed(pytool_flash, env))
                pytool_again.append(timed(pytool_flash, env))

    e, p, r = (statistics.median(x) for x in (esptool_full, pytool_full, pytool_again))
    size = f"{total / 1024:.0f} KiB in {len(plan.writes)} regions"
    print(f"board {board.title}, {size}, 921600 baud paced, {runs} run(s)")
    print(f"  esptool write-flash (full)  {e:7.2f} s")
    print(f"  pytool flash (full)         {p:7.2f} s   ratio {p / e:.3f}x esptool   (target <= 1.05x)")
    print(f"  pytool flash (unchanged)    {r:7.2f} s   ratio {r / p:.3f}x full flash (target <= 0.15x)")
    if args.quick:
        print("  (--quick: 256 KiB app, so fixed costs dominate; run without --quick for representative ratios)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
