"""A flash image with Pycom firmware written by `pytool flash` into a running simulator, shared by the bench
scripts that start their boards from it (sync.py, sync_many.py, parallel.py), with the other steps they share:
emptying a board's /flash between runs, and compiling pytool as `pip install` leaves it."""

from __future__ import annotations

import compileall
import shutil
import time
from pathlib import Path


def compile_pytool() -> None:
    """pytool's modules compiled, as `pip install` leaves them: with PYTHONDONTWRITEBYTECODE set (as on CI
    machines) a module changed since the last compile would be compiled again by every pytool process measured."""
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "pytool", quiet=1)


def wipe_flash(port: str, timeout: float = 60) -> None:
    """Empty /flash as on a freshly formatted board (its lib/, sys/, cert/ folders stay); `timeout` bounds the exec
    (thousands of files take minutes)."""
    from pytool.board import BoardSession

    with BoardSession.connect(port, timeout=60) as board:
        board.exec(
            "for n in os.listdir(_pt_root):\n p = _pt_root + '/' + n\n"
            " if n in ('lib', 'sys', 'cert'):\n  [_pt_rm(p + '/' + m) for m in os.listdir(p)]\n"
            " else:\n  _pt_rm(p)\n",
            timeout=timeout,
        )


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
