"""machine.reset_cause() as the simulated firmware is told it (pytool/sim/runtime/device_config.py): each flavour's
own numbering (Pycom's modmachine; stock ESP32's modmachine.h), DEEPSLEEP_RESET only on the boot the ROM reported
as rst:0x5 (DEEPSLEEP_RESET)."""

from __future__ import annotations

import pytest

from pytool.sim.board import DEEPSLEEP_RESET, POWERON_RESET, SW_CPU_RESET
from pytool.sim.runtime.device_config import reset_cause


@pytest.mark.parametrize(
    ("pycom", "boots", "rom", "cause"),
    [
        (True, 0, POWERON_RESET, 0),  # Pycom: PWRON_RESET 0, DEEPSLEEP_RESET 3, SOFT_RESET 4
        (True, 0, DEEPSLEEP_RESET, 3),
        (True, 1, DEEPSLEEP_RESET, 4),  # a soft reboot after the wake boot
        (True, 0, SW_CPU_RESET, 0),  # (Pycom after machine.reset(): as before, not checked against the board)
        (False, 0, POWERON_RESET, 1),  # stock: PWRON_RESET 1, DEEPSLEEP_RESET 4, SOFT_RESET 5
        (False, 0, SW_CPU_RESET, 2),  # machine.reset(): HARD_RESET (ESP_RST_SW)
        (False, 0, DEEPSLEEP_RESET, 4),
        (False, 2, POWERON_RESET, 5),
    ],
)
def test_reset_cause_per_flavour(pycom, boots, rom, cause):
    assert reset_cause(pycom, boots, rom) == cause
