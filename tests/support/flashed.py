"""A flashed simulated LoPy4 for the sync, board and reliability tests.

The real path: `pytool firmware build` logic -> a simulator process (`running_sim`) -> `pytool flash` through
esptool's API -> the firmware boots into the MicroPython REPL. The flashed image is made once per test session
and each test module starts its own simulator on a copy of it.

PYTOOL_SYNC_TEST_PORT=PORT runs the same tests against another board (a real one, at your own risk: they
write to /flash) instead of the simulator.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.sim import module_sim

if TYPE_CHECKING:
    from pytool.sim import SimRecord

BOARD = "lopy4"
FIRMWARE = "1.20.2.r4"
ENV_PORT = "PYTOOL_SYNC_TEST_PORT"


def flash_sim(record: SimRecord, archive: Path, attempts: int = 3) -> None:
    """`pytool flash` (its Python API) of `archive` into the running simulator `record`. On a shared machine a fresh
    pty is at times held for a moment by a stray opener ("port is busy"): then it tries again, up to `attempts`."""
    from pytool.firmware import load_firmware
    from pytool.flash import FlashError, FlashOptions, flash
    from pytool.ports import resolve_port

    for attempt in range(attempts):
        try:
            flash(load_firmware(archive), resolve_port(f"sim:{record.name}"), FlashOptions())
            return
        except FlashError as exc:
            if "busy" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(1)


def flashed_image(tmp_path_factory: pytest.TempPathFactory, board: str = BOARD, firmware: str = FIRMWARE) -> Path:
    """A flash image with Pycom `firmware` written by `pytool flash` into a running simulator (cached per session)."""
    base = tmp_path_factory.getbasetemp() / f"sync-flashed-{board}-{firmware}"
    image = base / "flash.bin"
    if image.is_file():
        return image
    from pytool.deploy import simulator_firmware
    from pytool.sim import running_sim

    state, data = base / "state", base / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_STATE_DIR", str(state))
        mp.setenv("PYTOOL_DATA_DIR", str(data))
        archive = simulator_firmware(board, firmware)
        with running_sim(board, name=f"syncflash{board}", state_dir=state, data_dir=data) as rec:
            flash_sim(rec, archive)
            flash_file = Path(rec.flash)
        shutil.copyfile(flash_file, image.with_suffix(".tmp"))
        image.with_suffix(".tmp").replace(image)
    return image


@contextlib.contextmanager
def sim_port(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    pacing: bool = False,
    board: str = BOARD,
    firmware: str = FIRMWARE,
) -> Iterator[str]:
    """The pty of a fresh simulator running the flashed image (or PYTOOL_SYNC_TEST_PORT)."""
    if os.environ.get(ENV_PORT):
        yield os.environ[ENV_PORT]
        return
    image = flashed_image(tmp_path_factory, board, firmware)
    args = ["--baud-pacing"] if pacing else []
    with module_sim(tmp_path_factory, board, name, image, args) as (rec, _state, _data):
        yield rec.pty


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """The serial port of a flashed simulator of this test module's own (import it into a conftest.py)."""
    with sim_port(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1].replace("_", "")) as pty:
        yield pty
