"""Fixtures of the reliability suite: a simulated LoPy4 flashed once per session by `pytool flash`, and one
simulator per test module running a copy of that image (faults go through its control socket).

`pytest --deep` (what bench/reliability.py runs; or PYTOOL_DEEP=1) raises the number of hypothesis examples
from a handful to hundreds.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.flashed import flash_sim
from support.sim import module_sim

BOARD = "lopy4"
FIRMWARE = "1.20.2.r4"


@dataclass
class Sim:
    """A running simulator and the state folder its registry record lives in."""

    name: str
    control: str
    flash: Path
    state: Path
    data: Path

    @property
    def port(self) -> str:
        return f"sim:{self.name}"


@pytest.fixture(scope="session")
def firmware_archive(tmp_path_factory) -> Path:
    """The simulator's Pycom firmware archive for the LoPy4 (built once)."""
    from pytool.deploy import simulator_firmware

    base = tmp_path_factory.mktemp("rel-fw")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_DATA_DIR", str(base / "data"))
        mp.setenv("PYTOOL_STATE_DIR", str(base / "state"))
        return simulator_firmware(BOARD, FIRMWARE)


@pytest.fixture(scope="session")
def flashed_image(tmp_path_factory, firmware_archive) -> Path:
    """A LoPy4 flash image written by `pytool flash` into a running simulator."""
    from pytool.sim import running_sim

    base = tmp_path_factory.mktemp("rel-flashed")
    state, data = base / "state", base / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_STATE_DIR", str(state))
        mp.setenv("PYTOOL_DATA_DIR", str(data))
        with running_sim(BOARD, name="relflash", state_dir=state, data_dir=data) as rec:
            flash_sim(rec, firmware_archive)
            image = Path(rec.flash)
        kept = base / "flash.bin"
        shutil.copyfile(image, kept)
    return kept


def start_sim(tmp_path_factory, name: str, image: Path) -> Iterator[Sim]:
    with module_sim(tmp_path_factory, BOARD, name, image) as (rec, state, data):
        yield Sim(rec.name, rec.control or "", Path(rec.flash or ""), state, data)


@pytest.fixture(scope="module")
def sim(tmp_path_factory, flashed_image, request) -> Iterator[Sim]:
    """A simulator of this test module running the flashed firmware."""
    name = "rel-" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:20]
    yield from start_sim(tmp_path_factory, name, flashed_image)


@pytest.fixture
def port(sim, monkeypatch) -> str:
    """`sim:NAME` for this module's simulator (its registry becomes this test's)."""
    monkeypatch.setenv("PYTOOL_STATE_DIR", str(sim.state))
    monkeypatch.setenv("PYTOOL_DATA_DIR", str(sim.data))
    return sim.port
