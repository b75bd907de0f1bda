"""`pytool flash` interrupted anywhere (the cable pulled after N bytes, or the supply failing in the middle of a
sector erase or program, leaving that sector partly done as NOR flash does): re-running `pytool flash` recovers
the board every time, and the Pycom config block (0x3FF000) is intact every time."""

from __future__ import annotations

import os
import time
from typing import NamedTuple

import pytest
from faultkit import WAIT_S, arm, clear, examples, injected
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytool.errors import PytoolError
from pytool.firmware import CONFIG_BLOCK, Firmware, load_firmware
from pytool.flash import FlashOptions, flash
from pytool.ports import resolve_port
from pytool.sim.control import SimControl

pytestmark = pytest.mark.timeout(900)
CB_MARK = b"LPWAN-MAC:70b3d5499a1b2c3d SIGFOX:0042f00d"  # a board's identity, kept across every flash


def config_block(image) -> bytes:
    with open(image, "rb") as f:
        f.seek(CONFIG_BLOCK[0])
        return f.read(CONFIG_BLOCK[1])


@pytest.fixture(scope="module")
def setup(sim, firmware_archive):
    """The board's config block personalised; the counts of host bytes and sector operations of a full flash."""
    fd = os.open(sim.flash, os.O_RDWR)
    try:
        os.pwrite(fd, CB_MARK, CONFIG_BLOCK[0])
    finally:
        os.close(fd)
    reference = config_block(sim.flash)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_STATE_DIR", str(sim.state))
        fw = load_firmware(firmware_archive)
        arm(sim.control, "power-loss", skip=10**9)  # never fires: counts the sector operations
        arm(sim.control, "cut", after_bytes=10**12)  # never fires: counts the host bytes
        flash(fw, resolve_port(sim.port), FlashOptions(skip_unchanged=False))
        faults = {f["name"]: f["seen"] for f in SimControl(sim.control).request({"op": "fault"})["faults"]}
        clear(sim.control)
    assert faults["power-loss"] > 100 and faults["cut"] > 100_000
    return Setup(fw, reference, faults["power-loss"], faults["cut"])


class Setup(NamedTuple):
    fw: Firmware
    reference: bytes
    sector_ops: int
    host_bytes: int

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example: not 4 MB of firmware
        return f"Setup(sector_ops={self.sector_ops}, host_bytes={self.host_bytes})"


@settings(
    max_examples=examples(3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(
    fault=st.sampled_from(["cut", "power-loss"]),
    point=st.floats(min_value=0.0, max_value=0.999),
    fraction=st.floats(min_value=0.0, max_value=1.0),
)
@example(fault="power-loss", point=0.5, fraction=0.5)
@example(fault="cut", point=0.3, fraction=0.0)
def test_flash_interrupted_anywhere_is_recovered_by_flashing_again(sim, port, setup, fault, point, fraction):
    fw, reference, sector_ops, host_bytes = setup
    before = injected(sim.control).get(fault, 0)
    if fault == "cut":
        arm(sim.control, "cut", after_bytes=int(point * host_bytes), down_s=0.2)
    else:
        arm(sim.control, "power-loss", skip=int(point * sector_ops), fraction=fraction, off_s=0.2, unplug=True)
    with pytest.raises(PytoolError) as failed:
        flash(fw, resolve_port(port), FlashOptions(skip_unchanged=False))
    assert "Traceback" not in str(failed.value)
    assert injected(sim.control).get(fault, 0) == before + 1
    clear(sim.control)
    assert config_block(sim.flash) == reference

    result = _flash_when_back(fw, port)  # the user runs `pytool flash` again
    assert result.ok and result.boot_check == "ok" and result.config_block == "unchanged"
    assert config_block(sim.flash) == reference
    assert SimControl(sim.control).status()["mode"] == "app"


def _flash_when_back(fw, port):
    """`pytool flash` once the replugged port is there (the user waits for the board to enumerate)."""
    deadline = time.monotonic() + WAIT_S
    while not os.path.exists(resolve_port(port).url) and time.monotonic() < deadline:
        time.sleep(0.05)
    return flash(fw, resolve_port(port), FlashOptions())
