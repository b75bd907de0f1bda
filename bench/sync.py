"""Benchmark: `pytool sync` versus `mpremote fs cp -r` (what a user would otherwise type), on one simulated LoPy4
(Pycom 1.20.2.r4: no raw-paste) with line-rate pacing at 115200 baud, in the same run.

Reference project: about 40 .py files (200 KB of real Python source, taken from installed packages) in the root,
drivers/ and lib/ (pytool's device_lib, which pytool installs anyway), plus a 100 KB incompressible binary asset.
Each tool starts from an emptied /flash: first sync, then a no-change sync (three times: the median counts). Both
run as subprocesses (the commands a user types); bytes on the wire and exec round trips are counted at the serial
port of each process.
pytool runs twice: with its bridge-rate switch off (PYTOOL_FAST_BAUD=0: everything at 115200) and on (the
simulator models a CP210x-class bridge: the board's UART0 and the host's port move to 921600 for the upload).
Targets (issue 23): first sync >= 6x faster than mpremote with the switch on, >= 3x with it off; no-change sync
>= 20x faster; wire bytes <= 0.7x of the payload.

The same board is then synced over WiFi (`--port telnet://...`: telnet REPL + FTP for file bodies, the Pycom
workflow) and compared with pytool over serial.

    python bench/sync.py [--quick]      # --quick: a small project, no pacing (smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flashed import compile_pytool, flashed_image, wipe_flash

BOARD, FIRMWARE = "lopy4", "1.20.2.r4"

# mpremote, counting what crosses its serial port and how many code blocks it sends (exec round trips)
MPREMOTE = r"""
import atexit, json, sys
import mpremote.transport_serial as ts
stats = {"tx": 0, "rx": 0, "round_trips": 0}
init = ts.SerialTransport.__init__
def counting_init(self, *args, **kwargs):
    init(self, *args, **kwargs)
    port = self.serial
    class Counting:
        def __getattr__(self, name):
            return getattr(port, name)
        def write(self, data):
            stats["tx"] += len(data)
            return port.write(data)
        def read(self, size=1):
            data = port.read(size)
            stats["rx"] += len(data)
            return data
    self.serial = Counting()
ts.SerialTransport.__init__ = counting_init
run = ts.SerialTransport.exec_raw_no_follow
def counting_run(self, command):
    stats["round_trips"] += 1
    return run(self, command)
ts.SerialTransport.exec_raw_no_follow = counting_run
atexit.register(lambda: sys.stderr.write("@@stats " + json.dumps(stats) + "\n"))
sys.argv = ["mpremote"] + sys.argv[1:]
from mpremote.main import main
main()
"""


def make_project(root: Path, quick: bool) -> tuple[int, int]:
    """Write the reference project; returns (python bytes, binary bytes)."""
    from pytool.paths import device_lib_dir

    budget, count = (12_000, 6) if quick else (200_000, 40)
    sources = []
    for package in ("serial", "mpremote", "typer", "rich", "click"):
        try:
            module = __import__(package)
        except ImportError:
            continue
        sources += sorted(p for p in Path(module.__file__).parent.rglob("*.py") if 2_000 < p.stat().st_size < 12_000)
    lib = sorted(device_lib_dir().glob("*.py"))
    py_bytes = 0
    (root / "lib").mkdir(parents=True)
    for path in lib:  # pytool installs device_lib into lib/ anyway: mpremote gets the same files
        shutil.copyfile(path, root / "lib" / path.name)
        py_bytes += path.stat().st_size
    written = len(lib)
    for i, src in enumerate(sources):
        if written >= count or py_bytes >= budget:
            break
        folder = root / ("drivers" if i % 4 == 3 else "")
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / f"m{i:02d}_{src.name}"
        shutil.copyfile(src, dest)
        py_bytes += dest.stat().st_size
        written += 1
    (root / "main.py").write_text("import lib\n")
    asset = random.Random(7).randbytes(5_000 if quick else 100_000)
    (root / "assets").mkdir()
    (root / "assets" / "asset.bin").write_bytes(asset)
    return py_bytes + len("import lib\n"), len(asset)


def run_mpremote(port: str, project: Path, env: dict) -> dict:
    entries = sorted(p.name for p in project.iterdir())
    argv = [sys.executable, "-c", MPREMOTE, "connect", port, "fs", "cp", "-r", *entries, ":"]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"mpremote failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    line = next(x for x in proc.stderr.splitlines() if x.startswith("@@stats "))
    return json.loads(line[len("@@stats ") :]) | {"seconds": seconds}


def run_pytool(port: str, project: Path, env: dict, fast: int | None = None) -> dict:
    """`pytool sync` as a user runs it (the console script); `fast`: PYTOOL_FAST_BAUD (0 = no rate switch)."""
    script = Path(sys.executable).with_name("pytool")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "pytool"]
    argv = [*command, "--json", "-p", port, "sync", "--no-check", str(project)]
    if fast is not None:
        env = dict(env, PYTOOL_FAST_BAUD=str(fast))
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"pytool sync failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    return {
        "tx": summary["wire_tx"],
        "rx": summary["wire_rx"],
        "round_trips": summary["round_trips"],
        "seconds": seconds,
        "payload": summary["payload_bytes"],
        "files": len(summary["uploaded"]),
        "rate_switch": summary.get("rate_switch"),
    }


def report(tool: str, phase: str, r: dict) -> None:
    switch = f"  rate switch: {r['rate_switch']}" if r.get("rate_switch") else ""
    print(
        f"{tool:14} {phase:10} {r['seconds']:8.2f} s  {r['tx']:8d} B sent  {r['rx']:7d} B received  "
        f"{r['round_trips']:5d} exec round trips{switch}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small project, no line-rate pacing (smoke test)")
    args = parser.parse_args()
    from pytool.sim import running_sim

    compile_pytool()
    with tempfile.TemporaryDirectory(prefix="pytool-bench-sync-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ, PYTOOL_STATE_DIR=str(tmp / "state"), PYTOOL_DATA_DIR=str(tmp / "data"))
        os.environ.update(PYTOOL_STATE_DIR=env["PYTOOL_STATE_DIR"], PYTOOL_DATA_DIR=env["PYTOOL_DATA_DIR"])
        project = tmp / "project"
        py_bytes, bin_bytes = make_project(project, args.quick)
        files = sum(1 for p in project.rglob("*") if p.is_file())
        image = flashed_image(BOARD, FIRMWARE, env["PYTOOL_STATE_DIR"], env["PYTOOL_DATA_DIR"], tmp / "flashed.bin")
        pacing = [] if args.quick else ["--baud-pacing"]
        print(
            f"project: {files} files, {py_bytes} bytes of Python, {bin_bytes} bytes binary; board: simulated "
            f"{BOARD} {FIRMWARE}, {'no pacing' if args.quick else 'paced at 115200 baud'}",
            flush=True,
        )
        results = {}
        dirs = {"state_dir": tmp / "s", "data_dir": tmp / "d"}
        with running_sim(BOARD, name="benchsync", flash=image, args=pacing, **dirs) as rec:
            runs = (
                ("mpremote", run_mpremote, {}),
                ("pytool", run_pytool, {"fast": 0}),  # the bridge-rate switch off: 115200 throughout
                ("pytool/fast", run_pytool, {"fast": 921600}),  # on: a CP210x-class bridge
            )
            for tool, runner, extra in runs:
                wipe_flash(rec.pty)
                results[tool, "first"] = runner(rec.pty, project, env, **extra)
                # a no-change sync lasts well under a second for pytool: one run measures the machine's load as
                # much as the tool, so each tool's no-change sync runs three times and the median counts
                runs_same = sorted(
                    (runner(rec.pty, project, env, **extra) for _ in range(3)), key=lambda r: r["seconds"]
                )
                results[tool, "no-change"] = runs_same[1]
                for phase in ("first", "no-change"):
                    report(tool, phase, results[tool, phase])
            # the same board over WiFi (Pycom's telnet REPL + FTP for the file bodies; TCP on 127.0.0.1, unpaced)
            wifi = rec.wifi or {}
            telnet = f"{wifi['telnet']}?ftp={wifi['ftp'].rsplit(':', 1)[1]}"
            wipe_flash(rec.pty)
            results["wifi", "first"] = run_pytool(telnet, project, env)
            results["wifi", "no-change"] = run_pytool(telnet, project, env)
            for phase in ("first", "no-change"):
                report("pytool/wifi", phase, results["wifi", phase])
            source_only = tmp / "source-only"
            shutil.copytree(project, source_only, ignore=shutil.ignore_patterns("assets"))
            wipe_flash(rec.pty)
            results["pytool", "source"] = run_pytool(rec.pty, source_only, env)
            report("pytool", "source", results["pytool", "source"])
        mp_first, pt_first = results["mpremote", "first"], results["pytool", "first"]
        mp_same, pt_same = results["mpremote", "no-change"], results["pytool", "no-change"]
        fast_first, fast_same = results["pytool/fast", "first"], results["pytool/fast", "no-change"]
        payload = py_bytes + bin_bytes
        print(
            f"first sync:      pytool {mp_first['seconds'] / fast_first['seconds']:.2f}x faster than mpremote with the "
            f"bridge-rate switch (target >= 6x), {mp_first['seconds'] / pt_first['seconds']:.2f}x without "
            "(target >= 3x)"
        )
        print(
            f"no-change sync:  pytool {mp_same['seconds'] / pt_same['seconds']:.2f}x faster than mpremote "
            f"({mp_same['seconds'] / fast_same['seconds']:.2f}x in the run with the switch on; target >= 20x)"
        )
        print(
            f"wire bytes sent, first sync: pytool {pt_first['tx'] / payload:.2f}x of the payload (target <= 0.7x), "
            f"mpremote {mp_first['tx'] / payload:.2f}x"
        )
        source = results["pytool", "source"]
        print(
            f"wire bytes sent for the Python source alone (inflating board): pytool {source['tx'] / py_bytes:.2f}x "
            f"of {py_bytes} bytes"
        )
        print(f"round trips, first sync: pytool {pt_first['round_trips']}, mpremote {mp_first['round_trips']}")
        wifi_first, wifi_same = results["wifi", "first"], results["wifi", "no-change"]
        print(
            f"telnet+FTP vs serial{'' if args.quick else ' (115200 baud)'}: first sync "
            f"{pt_first['seconds'] / wifi_first['seconds']:.2f}x faster ({wifi_first['seconds']:.2f} s vs "
            f"{pt_first['seconds']:.2f} s), no-change sync {pt_same['seconds'] / wifi_same['seconds']:.2f}x; "
            "REPL bytes "
            f"sent over telnet {wifi_first['tx']} (the {wifi_first['payload']} payload bytes went over FTP)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
