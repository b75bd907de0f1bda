"""`pytool flash` interrupted anywhere (the cable pulled after N bytes, or the supply failing in the middle of a
sector erase or program, leaving that sector partly done as NOR flash does): re-running `pytool flash` recovers
the board every time, and the Pycom config block (0x3FF000) is intact every time."""

from __future__ import annotations

import os
import time
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.faults import WAIT_S, arm, clear, examples, failure_of, has_traceback, injected, record, time_limit

from pytool.errors import PytoolError
from pytool.firmware import CONFIG_BLOCK, Firmware, load_firmware
from pytool.flash import FlashOptions, flash
from pytool.ports import resolve_port
from pytool.sim import SimControl

pytestmark = time_limit(900)
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


@pytest.mark.parametrize("fault", ["cut", "power-loss"])
@settings(
    max_examples=examples(1),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(point=st.floats(min_value=0.0, max_value=0.999), fraction=st.floats(min_value=0.0, max_value=1.0))
@example(point=0.5, fraction=0.5)
def test_flash_interrupted_anywhere_is_recovered_by_flashing_again(sim, port, setup, fault, point, fraction):
    before = injected(sim.control).get(fault, 0)
    if fault == "cut":
        arm(sim.control, "cut", after_bytes=int(point * setup.host_bytes), down_s=0.2)
    else:
        skip = int(point * setup.sector_ops)
        arm(sim.control, "power-loss", skip=skip, fraction=fraction, off_s=0.2, unplug=True)
    message = failure_of(lambda: flash(setup.fw, resolve_port(port), FlashOptions(skip_unchanged=False)))
    fired = injected(sim.control).get(fault, 0) - before
    clear(sim.control)
    cb_after_fault = config_block(sim.flash) == setup.reference

    result = _flash_when_back(setup.fw, port)  # the user runs `pytool flash` again
    recovered = result.ok and result.boot_check == "ok" and SimControl(sim.control).status()["mode"] == "app"
    cb_intact = result.config_block == "unchanged" and config_block(sim.flash) == setup.reference
    record(
        f"flash-{fault}",
        injected=fired,
        recovered=int(recovered),
        files_checked=2,  # the config block, after the fault and after the recovery
        corrupt=int(not cb_after_fault) + int(not cb_intact),
        tracebacks=int(has_traceback(message)),
    )

    assert fired == 1 and message, f"the {fault} did not interrupt the flash ({message!r})"
    assert not has_traceback(message), message
    assert cb_after_fault and cb_intact, "the config block changed"
    assert recovered, f"flashing again did not recover the board: {result.boot_check}"


def _flash_when_back(fw, port):
    """`pytool flash` once the replugged port is there (the user waits for the board to enumerate)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:  # "" while unplugged; a stale /dev/pts/N may already belong to another program
            if os.path.exists(resolve_port(port).url):
                break
        except PytoolError:
            pass
        time.sleep(0.05)
    return flash(fw, resolve_port(port), FlashOptions())
