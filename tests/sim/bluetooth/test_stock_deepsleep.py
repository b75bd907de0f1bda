"""`machine.deepsleep(ms)` on a simulated stock ESP32: the firmware and its radio go (a connected central loses the
link), the board boots again after the time with the ROM's rst:0x5 (DEEPSLEEP_RESET), `machine.reset_cause()` says
DEEPSLEEP_RESET and `wake_reason()` TIMER_WAKE, and Bluetooth works again (MicroPython's multitest
stress_deepsleep_reconnect in small)."""

from __future__ import annotations

import asyncio

import pytest
from bumble.hci import Address
from stock_sim import find_by_name, open_tester, stock_board

from pytool.sim.control import SimControl

pytestmark = [pytest.mark.timeout(180), pytest.mark.asyncio]

ADVERTISE = """
import bluetooth, machine
ble = bluetooth.BLE()
ble.active(True)
ble.gap_advertise(20000, b'\\x02\\x01\\x06\\x06\\x09Sleep')
print('CAUSE', machine.reset_cause(), machine.wake_reason())
"""


async def test_deepsleep_wakes_with_deepsleep_reset_and_bluetooth_reconnects(tmp_path):
    with stock_board(tmp_path, "stock-sleep") as (rec, serial):
        out = (await serial.aexec(ADVERTISE)).decode()
        assert "CAUSE 1 0" in out, out  # PWRON_RESET (stock numbering), no wake-up cause
        assert await serial.aeval("(machine.PWRON_RESET, machine.DEEPSLEEP_RESET, machine.TIMER_WAKE)") == "(1, 4, 4)"
        async with open_tester(rec.hci) as tester:
            adv = await find_by_name(tester, "Sleep")
            connection = await tester.connect(adv.address, timeout=10)
            lost = asyncio.get_running_loop().create_future()
            connection.on("disconnection", lambda reason: lost.set_result(reason) if not lost.done() else None)
            serial.transport.exec_raw_no_follow("machine.deepsleep(800)")
            await asyncio.wait_for(lost, 10)  # the board's controller left the air
            control = SimControl(rec.control)
            assert (await asyncio.to_thread(control.status))["mode"] == "deep-sleep"  # asleep, not reset at once
            await serial.aread_until(b"rst:0x5 (DEEPSLEEP_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)", timeout=20)
            await serial.aread_until(b">>> ", timeout=30)
            serial.transport.enter_raw_repl(soft_reset=False)
            serial.prompt_eaten = False
            out = (await serial.aexec(ADVERTISE)).decode()
            assert "CAUSE 4 4" in out, out  # DEEPSLEEP_RESET, TIMER_WAKE
            address = Address(str(adv.address).split("/")[0], adv.address.address_type)
            again = await tester.connect(address, timeout=10)
            assert again.handle is not None
            await again.disconnect()
        # a soft reset afterwards: SOFT_RESET (5 on the stock port)
        serial.transport.enter_raw_repl(soft_reset=True)
        serial.seen = b""
        await serial.aexec("import machine")
        assert await serial.aeval("machine.reset_cause()") == "5"
        # without a time only a reset wakes the board: it stays asleep (silent) until the reset line is pulsed
        serial.transport.exec_raw_no_follow("machine.deepsleep()")
        for _ in range(100):
            if control.status()["mode"] == "deep-sleep":
                break
            await asyncio.sleep(0.05)
        assert control.status()["mode"] == "deep-sleep"
        await asyncio.sleep(1)
        assert control.status()["mode"] == "deep-sleep"
        await asyncio.to_thread(control.reset)
        await serial.aread_until(b"rst:0x1 (POWERON_RESET)", timeout=20)
