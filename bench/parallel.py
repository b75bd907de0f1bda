"""Benchmark: `pytool test --all` on 4 simulated LoPy4s at once versus `pytool test` on one board alone (issue 17).

Every board starts from the same freshly flashed image (Pycom 1.20.2.r4, nothing deployed) and all of them share
one virtual radio, where all advertise 'LoPy'. Both runs are what a user types, as subprocesses: deploy
(firmware check, compile check, sync, reset, advertise) and the seed example's 6 over-the-air tests.
Target: 4 boards at once take at most 1.5x the time of one (printed as the ratio).

    python bench/parallel.py [--boards N] [--quick]     # --quick: 2 boards, one over-the-air test (smoke test)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "gatt_server"
BOARD, FIRMWARE = "lopy4", "1.20.2.r4"
TARGET_RATIO = 1.5


def flashed_image(base: Path) -> Path:
    """A flash image with the example's firmware, written by `pytool flash` into a running simulator."""
    from pytool.deploy import simulator_firmware
    from pytool.firmware import load_firmware
    from pytool.flash import FlashOptions, flash
    from pytool.ports import resolve_port
    from pytool.sim import running_sim

    archive = simulator_firmware(BOARD, FIRMWARE)
    with running_sim(BOARD, name="benchflash", state_dir=base / "flash-state", data_dir=base / "data") as rec:
        flash(load_firmware(archive), resolve_port(f"sim:{rec.name}"), FlashOptions())
        image = base / "flashed.bin"
        shutil.copyfile(rec.flash, image)
    return image


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytool", *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=1800
    )
    return time.monotonic() - started, run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="2 boards, one over-the-air test (smoke test)")
    args = parser.parse_args(argv)
    count = 2 if args.quick else args.boards
    pytest_args = ["--", "-k", "services"] if args.quick else []
    from pytool.sim import running_sim

    with tempfile.TemporaryDirectory(prefix="pytool-bench-parallel-") as tmp:
        base = Path(tmp)
        state, data = base / "state", base / "data"
        os.environ["PYTOOL_DATA_DIR"] = str(data)  # the firmware cache of this run
        image = flashed_image(base)
        project = base / "gatt_server"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".pytool", "__pycache__"))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE")}
        env |= {"PYTOOL_STATE_DIR": str(state), "PYTOOL_DATA_DIR": str(data)}
        names = ["solo", *(f"par{i}" for i in range(count))]
        with contextlib.ExitStack() as stack:
            for name in names:
                flash = base / f"{name}.bin"
                shutil.copyfile(image, flash)
                stack.enter_context(running_sim(BOARD, name, flash, state_dir=state, data_dir=data))
            print(f"{len(names)} simulated {BOARD}s running ({FIRMWARE}, one shared radio, all advertise 'LoPy')")

            one, single = timed(["-p", "sim:solo", "test", str(project), *pytest_args], env, project)
            if single.returncode != 0:
                print(single.stdout[-3000:] + single.stderr[-3000:])
                print("FAILED: the single-board run failed")
                return 1
            print(f"one board alone         pytool test          {one:7.1f} s")

            ports = [arg for name in names[1:] for arg in ("-p", f"sim:{name}")]
            many, fleet = timed([*ports, "--json", "test", "--all", str(project), *pytest_args], env, project)
            result = json.loads(fleet.stdout) if fleet.stdout.strip() else {"boards": []}
            for board in result["boards"]:
                print(f"  {board['port']:<10} {board['status']:<8} {board['duration']:6.1f} s  tests {board['tests']}")
            if fleet.returncode != 0:
                print(fleet.stderr[-3000:])
                print("FAILED: the parallel run failed")
                return 1
            print(f"{count} boards at once      pytool test --all    {many:7.1f} s")
            ratio = many / one
            verdict = "within" if ratio <= TARGET_RATIO else "ABOVE"
            print(f"ratio {count} boards / 1 board: {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
            print(f"(cores on this machine: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
