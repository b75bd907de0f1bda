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

from flashed import compile_pytool, flashed_image

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "gatt_server"
BOARD, FIRMWARE = "lopy4", "1.20.2.r4"
TARGET_RATIO = 1.5


def cpu_seconds(marker: str) -> float:
    """CPU time (user + system) used so far by this run's processes: the simulators, the radio hub, the pytool
    and pytest processes (every process whose environment names this run's folder `marker`), and what they started:
    the simulated boards' interpreters, which get a clean environment (running ones by their parent, ended ones in
    their parent's children times)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    marked: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if marker.encode() in (entry / "environ").read_bytes():
                marked.add(int(entry.name))
        except OSError:
            continue
    total = 0
    for pid, fields in stats.items():
        if pid in marked:  # utime, stime, and the times of its children that ended (cutime, cstime)
            total += sum(int(field) for field in fields[11:15])
        elif int(fields[1]) in marked:  # a running child of one (ppid)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, CPU seconds of the pytool processes and everything they started, the run)."""
    before = os.times()
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytool", *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=1800
    )
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return time.monotonic() - started, cpu, run


def steps_text(steps: list[dict], total: float) -> str:
    """Seconds per deploy step, and the rest of the run (start-up and the over-the-air tests)."""
    spent = " ".join(f"{step['name']} {step['seconds']:.1f}" for step in steps)
    return f"{spent}, tests and start-up {total - sum(step['seconds'] for step in steps):.1f} s"


def cpu_text(tool: float, sims: float) -> str:
    return f"  CPU: pytool+pytest {tool:5.1f} s, simulators+radio {sims:5.1f} s"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="2 boards, one over-the-air test (smoke test)")
    args = parser.parse_args(argv)
    count = 2 if args.quick else args.boards
    pytest_args = ["--", "-k", "services"] if args.quick else []
    from pytool.sim import running_sim

    compile_pytool()

    with tempfile.TemporaryDirectory(prefix="pytool-bench-parallel-") as tmp:
        base = Path(tmp)
        state, data = base / "state", base / "data"
        os.environ["PYTOOL_STATE_DIR"] = str(state)  # this run's simulators, found by name
        os.environ["PYTOOL_DATA_DIR"] = str(data)  # the firmware cache of this run
        image = flashed_image(BOARD, FIRMWARE, base / "state", base / "data", base / "flashed.bin")
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

            sims_cpu = cpu_seconds(str(base))
            one, one_cpu, single = timed(["-p", "sim:solo", "--json", "test", str(project), *pytest_args], env, project)
            if single.returncode != 0:
                print(single.stdout[-3000:] + single.stderr[-3000:])
                print("FAILED: the single-board run failed")
                return 1
            sims_one = cpu_seconds(str(base)) - sims_cpu
            print(f"one board alone         pytool test          {one:7.1f} s", cpu_text(one_cpu, sims_one))
            print(f"  sim:solo   {steps_text(json.loads(single.stdout)['deploy']['steps'], one)}")

            ports = [arg for name in names[1:] for arg in ("-p", f"sim:{name}")]
            sims_cpu = cpu_seconds(str(base))
            many, many_cpu, fleet = timed([*ports, "--json", "test", "--all", str(project), *pytest_args], env, project)
            result = json.loads(fleet.stdout) if fleet.stdout.strip() else {"boards": []}
            for board in result["boards"]:
                print(f"  {board['port']:<10} {board['status']:<4} {steps_text(board['steps'], board['duration'])}")
            if fleet.returncode != 0:
                print(fleet.stderr[-3000:])
                print("FAILED: the parallel run failed")
                return 1
            sims_many = cpu_seconds(str(base)) - sims_cpu
            print(f"{count} boards at once      pytool test --all    {many:7.1f} s", cpu_text(many_cpu, sims_many))
            ratio = many / one
            verdict = "within" if ratio <= TARGET_RATIO else "ABOVE"
            print(f"ratio {count} boards / 1 board: {ratio:.2f}x wall time ({verdict} the {TARGET_RATIO}x target)")
            cores = len(os.sched_getaffinity(0))
            got_one, got_many = (one_cpu + sims_one) / one, (many_cpu + sims_many) / many
            print(
                f"CPU per board: {(one_cpu + sims_one):.1f} s alone, {(many_cpu + sims_many) / count:.1f} s in the "
                f"{count}-board run; cores this run got on average: {got_one:.2f} alone, {got_many:.2f} for "
                f"{count} boards (of {cores}; load average {os.getloadavg()[0]:.1f} from other work)"
            )
            if ratio > TARGET_RATIO and got_many < 0.8 * min(cores, count):
                print("the run was short of CPU: the ratio here measures the machine, not the overlap")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
