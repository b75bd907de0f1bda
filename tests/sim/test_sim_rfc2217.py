"""esptool over RFC2217 with its default DTR/RTS reset into download mode and `--after hard-reset` into the app
(the classic auto-reset circuit of a USB-UART bridge, modelled by the simulator)."""

from __future__ import annotations

import esptool
import pytest
from support.sim import read_flash_file

from pytool.firmware.build import build_pycom_archive
from pytool.sim.control import SimControl
from pytool.sim.testing import running_sim

pytestmark = pytest.mark.timeout(240)


def test_write_flash_over_rfc2217_resets_into_download_mode_and_boots_the_app(tmp_path):
    files = {f.name: f.data for f in build_pycom_archive("lopy4", "1.20.2.r4", app_size=0x8000)}
    layout = {0x1000: "bootloader.bin", 0x8000: "partitions_8MB.bin", 0x10000: "lopy4.bin"}
    args = []
    for offset, name in layout.items():
        (tmp_path / name).write_bytes(files[name])
        args += [hex(offset), str(tmp_path / name)]
    with running_sim("lopy4") as rec:
        control = SimControl(rec.control)
        before = control.status()
        assert before["mode"] == "boot-loop"  # erased flash
        esptool.main(["--port", rec.rfc2217, "write-flash", *args])  # default: --before default-reset
        for offset, name in layout.items():
            assert read_flash_file(rec, offset, len(files[name])) == files[name]
        after = control.status()
        assert after["boots"] >= before["boots"] + 2  # into download mode, then the hard reset
        assert after["boot_reason"] == "0x1 (POWERON_RESET)"
        assert after["mode"] in ("app", "app-without-runtime")
        assert after["firmware"].startswith("Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c]")
