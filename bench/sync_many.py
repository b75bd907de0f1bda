"""Benchmark: `pytool sync` of a project of many small files (issue 16: 5000) on one simulated LoPy4 (Pycom
1.20.2.r4) paced at 115200 baud, against `mpremote fs cp -r` (which hashes each board file to skip unchanged ones)
on the same board in the same run.

pytool: first sync, no-change sync, and a sync after one file changed. mpremote: the same on the first
--mpremote-files files of the project (copying 5000 files one exec at a time takes a long while), with its
per-file figures extrapolated to the whole project and marked as such; `--mpremote-files 0` copies them all.

    python bench/sync_many.py [--files 5000] [--mpremote-files 300] [--no-pacing]
    python bench/sync_many.py --quick      # 120 files, mpremote 30, no pacing (smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flashed import flashed_image, wipe_flash

BOARD, FIRMWARE = "lopy4", "1.20.2.r4"
PER_FOLDER = 100


def make_project(root: Path, files: int) -> int:
    """`files` small modules in folders of PER_FOLDER, plus main.py; returns their bytes."""
    total = 0
    for i in range(files):
        path = root / f"pkg{i // PER_FOLDER:02d}" / f"mod{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = f"# module {i}\nVALUE = {i}\n\n\ndef value():\n    return VALUE * {i % 7 + 1}\n"
        path.write_text(text)
        total += len(text)
    (root / "main.py").write_text("import pkg00.mod0000\n")
    return total


def subset(project: Path, dest: Path, files: int) -> int:
    """A copy of the project's first `files` modules (and main.py); returns how many files it holds."""
    copied = 0
    for folder in sorted(p for p in project.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if copied >= files:
                break
            (dest / folder.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / folder.name / path.name)
            copied += 1
    shutil.copyfile(project / "main.py", dest / "main.py")
    return copied + 1


def run_pytool(port: str, project: Path, env: dict) -> dict:
    argv = [sys.executable, "-m", "pytool", "--json", "-p", port, "sync", "--no-check", str(project)]
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=7200)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"pytool sync failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    return {
        "seconds": seconds,
        "files": len(summary["uploaded"]),
        "tx": summary["wire_tx"],
        "rx": summary["wire_rx"],
        "round_trips": summary["round_trips"],
    }


def run_mpremote(port: str, project: Path, env: dict) -> dict:
    entries = sorted(p.name for p in project.iterdir())
    argv = [sys.executable, "-m", "mpremote", "connect", port, "fs", "cp", "-r", *entries, ":"]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=7200)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"mpremote failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return {"seconds": seconds}


def report(tool: str, phase: str, files: int, r: dict, note: str = "") -> None:
    extra = f"  {r['tx']:8d} B sent  {r['rx']:7d} B received  {r['round_trips']:4d} execs" if "tx" in r else ""
    print(
        f"{tool:9} {phase:11} {files:5d} files {r['seconds']:9.2f} s  {1000 * r['seconds'] / files:7.2f} ms/file"
        f"{extra}{note}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--mpremote-files", type=int, default=300, help="0: mpremote copies the whole project")
    parser.add_argument("--no-pacing", action="store_true", help="move bytes as fast as the pty goes")
    parser.add_argument("--quick", action="store_true", help="120 files, mpremote 30, no pacing (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.files, args.mpremote_files, args.no_pacing = 120, 30, True
    from pytool.sim import running_sim

    with tempfile.TemporaryDirectory(prefix="pytool-bench-many-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ, PYTOOL_STATE_DIR=str(tmp / "state"), PYTOOL_DATA_DIR=str(tmp / "data"))
        os.environ.update(PYTOOL_STATE_DIR=env["PYTOOL_STATE_DIR"], PYTOOL_DATA_DIR=env["PYTOOL_DATA_DIR"])
        project = tmp / "project"
        size = make_project(project, args.files)
        image = flashed_image(BOARD, FIRMWARE, env["PYTOOL_STATE_DIR"], env["PYTOOL_DATA_DIR"], tmp / "flashed.bin")
        pacing = [] if args.no_pacing else ["--baud-pacing"]
        mp_project = project
        mp_files = args.files + 1
        if args.mpremote_files and args.mpremote_files < args.files:
            mp_project = tmp / "mpremote-subset"
            mp_files = subset(project, mp_project, args.mpremote_files)
        print(
            f"project: {args.files + 1} files ({size} bytes) in {-(-args.files // PER_FOLDER)} folders; board: "
            f"simulated {BOARD} {FIRMWARE}, {'no pacing' if args.no_pacing else 'paced at 115200 baud'}",
            flush=True,
        )
        with running_sim(
            BOARD, name="benchmany", flash=image, args=pacing, state_dir=tmp / "s", data_dir=tmp / "d"
        ) as rec:
            first = run_pytool(rec.pty, project, env)
            report("pytool", "first", first["files"], first)
            same = run_pytool(rec.pty, project, env)
            report("pytool", "no-change", first["files"], same)
            (project / "pkg00" / "mod0001.py").write_text("VALUE = 'changed'\n")
            one = run_pytool(rec.pty, project, env)
            report("pytool", "one-change", first["files"], one)
            wipe_flash(rec.pty, timeout=1200)
            note = "" if mp_project is project else f"  (the first {mp_files} files)"
            mp_first = run_mpremote(rec.pty, mp_project, env)
            report("mpremote", "first", mp_files, mp_first, note)
            mp_same = run_mpremote(rec.pty, mp_project, env)
            report("mpremote", "no-change", mp_files, mp_same, note)
        per_file = {k: v["seconds"] / n for k, v, n in (("mf", mp_first, mp_files), ("ms", mp_same, mp_files))}
        whole = args.files + 1
        label = "" if mp_project is project else f" (mpremote extrapolated from {mp_files} files)"
        print(
            f"first sync:     pytool {first['seconds']:.1f} s, mpremote {per_file['mf'] * whole:.1f} s{label}: "
            f"pytool {per_file['mf'] * whole / first['seconds']:.2f}x faster"
        )
        print(
            f"no-change sync: pytool {same['seconds']:.1f} s, mpremote {per_file['ms'] * whole:.1f} s{label}: "
            f"pytool {per_file['ms'] * whole / same['seconds']:.2f}x faster"
        )
        print(f"one file changed: pytool {one['seconds']:.1f} s ({one['files']} file sent, {one['tx']} B)")
        print(f"(pytool also installs its device_lib: {first['files'] - whole} files more than mpremote copies)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
