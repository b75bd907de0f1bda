"""The runtime on the real path: build a Pycom firmware archive, flash it into a running simulator with
esptool, reset into it and drive it with unmodified mpremote through the simulator's pty."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import esptool
import pytest

from pytool.boards import get_board
from pytool.firmware.build import build_pycom_archive
from pytool.sim.control import SimControl
from pytool.sim.testing import running_sim

BANNER = "Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32"


def esptool_pty(rec, *args: str) -> None:
    SimControl(rec.control).reset(bootloader=True)
    esptool.main(["--port", rec.pty, "--baud", "115200", "--before", "no-reset", "--after", "no-reset", *args])


def mpremote(rec, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", rec.pty, *args], capture_output=True, timeout=60)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()
    return r.stdout.decode()


@pytest.fixture(scope="module")
def flashed(tmp_path_factory):
    """A LoPy4 simulator with built Pycom firmware flashed by esptool; yields (record, sim folders, image)."""
    tmp = tmp_path_factory.mktemp("rtsim")
    files = {f.name: f.data for f in build_pycom_archive("lopy4", "1.20.2.r4", app_size=0x8000)}
    args = []
    for name, offset in (("bootloader.bin", "0x1000"), ("partitions_8MB.bin", "0x8000"), ("lopy4.bin", "0x10000")):
        (tmp / name).write_bytes(files[name])
        args += [offset, str(tmp / name)]
    dirs = {"state_dir": tmp / "state", "data_dir": tmp / "data"}
    image = tmp / "lopy4.img"
    with running_sim("lopy4", name="rtsim", flash=image, **dirs) as rec:
        esptool_pty(rec, "write-flash", *args)
        status = SimControl(rec.control).reset()
        assert status["firmware"] == BANNER
        yield rec, dirs, image


def test_flashed_firmware_runs_the_pycom_repl(flashed):
    rec, _, _ = flashed
    out = mpremote(rec, "exec", "import os, sys; print(os.uname().release, sys.path, os.listdir('/'))")
    assert out == "1.20.2.r4 ['', '/flash', '/flash/lib'] ['flash']\r\n"
    assert mpremote(rec, "eval", "__import__('machine').unique_id()").strip() != ""


def test_files_survive_hard_reset_and_an_erase_removes_them(flashed):
    rec, _dirs, _image = flashed
    mpremote(rec, "exec", "with open('lib/keep.py', 'w') as f: f.write('V = 7')")
    SimControl(rec.control).reset()  # the reset button
    assert mpremote(rec, "exec", "import keep; print(keep.V)") == "7\r\n"
    fs = get_board("lopy4").layout.fs
    # erase the filesystem region with esptool, as `pytool flash --erase-fs` or a user would
    esptool_pty(rec, "erase-region", hex(fs.offset), hex(fs.size))
    SimControl(rec.control).reset()
    assert mpremote(rec, "exec", "import os; print(os.listdir('lib'), sorted(os.listdir()))") == (
        "[] ['boot.py', 'cert', 'lib', 'main.py', 'sys']\r\n"
    )
    mpremote(rec, "exec", "with open('lib/again.py', 'w') as f: f.write('W = 8')")


def test_files_survive_a_simulator_restart(flashed, tmp_path):
    _rec, dirs, image = flashed
    # a second simulator on a copy of the image: what `pytool sim stop` + `pytool sim start` would see
    copy = tmp_path / "copy.img"
    copy.write_bytes(Path(image).read_bytes())
    with running_sim("lopy4", name="rtsim2", flash=copy, **dirs) as rec2:
        status = SimControl(rec2.control).status()
        assert status["firmware"] == BANNER
        assert mpremote(rec2, "exec", "import again; print(again.W)") == "8\r\n"
