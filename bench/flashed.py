"""A flash image with Pycom firmware written by `pytool flash` into a running simulator, shared by the bench
scripts that start their boards from it (sync.py, sync_many.py, parallel.py)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path


def flashed_image(board: str, firmware: str, state_dir: Path | str, data_dir: Path | str, dest: Path) -> Path:
    """Flash `firmware` for `board` into a fresh, unpaced simulator and copy its flash image to `dest`."""
    from pytool.deploy import simulator_firmware
    from pytool.firmware import load_firmware
    from pytool.flash import FlashError, FlashOptions, flash
    from pytool.ports import resolve_port
    from pytool.sim import running_sim

    archive = simulator_firmware(board, firmware)
    with running_sim(board, name="benchflash", state_dir=state_dir, data_dir=data_dir) as rec:
        for attempt in range(3):  # the fresh pty is at times briefly held ("port is busy"): try again
            try:
                flash(load_firmware(archive), resolve_port(f"sim:{rec.name}"), FlashOptions())
                break
            except FlashError:
                if attempt == 2:
                    raise
                time.sleep(1)
        shutil.copyfile(rec.flash, dest)
    return dest
