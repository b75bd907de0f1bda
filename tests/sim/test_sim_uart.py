"""The simulated UART's line rate (pytool/sim/uart.py): a receiver at another rate decodes garbage."""

from __future__ import annotations

import pytest

from pytool.sim.uart import BOOT_BAUD, UartService, garble

TEXT = b"_pt_rl()\n_pt_out(921600)\n" * 8


def test_agreeing_rates_deliver_the_bytes_unchanged():
    assert garble(TEXT, 921600, 921600) == TEXT
    assert garble(b"", 115200, 921600) == b""


@pytest.mark.parametrize(("tx", "rx"), [(921600, 115200), (115200, 921600), (230400, 115200), (115200, 128000)])
def test_disagreeing_rates_give_garbage_and_always_the_same_garbage(tx, rx):
    out = garble(TEXT, tx, rx)
    assert out != TEXT
    assert out == garble(TEXT, tx, rx)  # deterministic


def test_a_slower_receiver_sees_fewer_bytes_than_were_sent():
    assert 0 < len(garble(TEXT, 921600, 115200)) < len(TEXT) // 4


def test_a_faster_receiver_reads_a_long_start_bit_as_data():
    # 0xff at 115200: the start bit lasts 8 bit times at 921600, so 7 data bits read 0 and the 8th sees a 1
    assert garble(b"\xff", 115200, 921600) == b"\x80"
    assert len(garble(b"U" * 4, 115200, 921600)) >= 4


class _Board:
    def __init__(self) -> None:
        self.uart_baud = BOOT_BAUD

    def uart_rate_changed(self, baud: int) -> None:
        self.uart_baud = baud


async def test_uart_service_sets_uart0_only_and_pycom_soft_reboots_restore_the_boot_rate():
    board, pycom = _Board(), [True]
    service = UartService(board, lambda: pycom[0])
    await service.call("init", [1, 9600], None)
    assert board.uart_baud == BOOT_BAUD  # UART1 is not the REPL's
    await service.call("init", [0, 921600], None)
    assert board.uart_baud == 921600
    pycom[0] = False
    service.interpreter_started(None)  # stock MicroPython keeps the rate over a soft reboot
    assert board.uart_baud == 921600
    pycom[0] = True
    service.interpreter_started(None)  # Pycom's frozen _boot.py: os.dupterm(UART(0, 115200))
    assert board.uart_baud == BOOT_BAUD
    await service.call("init", [0, 460800], None)
    service.interpreter_stopped(hard=True)
    assert board.uart_baud == BOOT_BAUD
    with pytest.raises(ValueError):
        await service.call("init", [0, 0], None)
