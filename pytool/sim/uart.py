"""The board's UART0 line rate, and what a receiver at another rate makes of the bytes (issue 23).

The firmware's REPL runs on UART0 at the boot rate (115200); `machine.UART(0, baudrate=N)` re-initialises it
(the device module calls the bridge service "uart", `UartService`). The host side sets its own rate on the port
(termios on the pty, SET_BAUDRATE over RFC2217). While the firmware runs, bytes reach the other end intact only
when both rates agree; otherwise the receiver decodes the sender's waveform at its own rate (`garble`), as a real
UART does: framing errors, too many or too few bytes, nothing a host should believe. This holds with pacing on,
and whenever the firmware has moved UART0 off the boot rate; an unpaced board at the boot rate ignores the host's
rate (clients that never set one, pyserial's default 9600, keep working as they always have with the simulator).
With pacing on, bytes take the sender's time on the wire. Every hard boot puts UART0 back at the boot rate; on
Pycom firmware every soft reboot too (its frozen `_boot.py` runs `os.dupterm(UART(0, 115200))` on every boot).
The ROM loader is not modelled here: its auto-baud follows the host, and esptool's CHANGE_BAUDRATE is the ROM's
own business.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)

BOOT_BAUD = 115200
_BITS = 10  # start, 8 data bits (LSB first), stop


def _waveform(data: bytes) -> bytearray:
    """The line levels of `data` sent back to back, one entry per bit time (1 = idle/mark)."""
    bits = bytearray()
    for byte in data:
        bits.append(0)
        bits.extend((byte >> i) & 1 for i in range(8))
        bits.append(1)
    return bits


def garble(data: bytes, tx_baud: int, rx_baud: int) -> bytes:
    """What a UART receiving at `rx_baud` decodes from `data` sent at `tx_baud` (unchanged when they agree).

    The receiver waits for a falling edge (start bit), samples the middle of each of its own bit times, delivers
    the byte (also on a framing error, as the ESP32's FIFO does) and waits for the line to go idle again.
    Deterministic: the same bytes at the same rates give the same garbage."""
    if tx_baud == rx_baud or not data or tx_baud <= 0 or rx_baud <= 0:
        return data
    bits = _waveform(data)
    n = len(bits)
    ratio = tx_baud / rx_baud  # sender bit times per receiver bit time
    out = bytearray()
    i = 0
    while i < n:
        if bits[i]:
            i += 1
            continue
        start = i
        value = 0
        for k in range(8):
            pos = int(start + (k + 1.5) * ratio)
            value |= (bits[pos] if pos < n else 1) << k
        out.append(value)
        i = max(start + 1, int(start + 9.5 * ratio))
        while i < n and not bits[i]:  # a framing error: wait for the line to go idle before the next start bit
            i += 1
    return bytes(out)


class RateHolder(Protocol):
    """What the service changes (the `SimBoard`)."""

    uart_baud: int

    def uart_rate_changed(self, baud: int) -> None: ...


class UartService:
    """Bridge service "uart": `machine.UART(0, ...)` on the device sets the board's UART0 rate."""

    name = "uart"

    def __init__(self, board: RateHolder, pycom: Any = None) -> None:
        self.board = board
        self.pycom = pycom  # callable: does the running firmware re-init UART0 on every soft reboot (Pycom)?

    async def call(self, method: str, args: list, conn: Any) -> Any:
        if method == "init":
            bus, baud = int(args[0]), int(args[1])
            if bus == 0:
                if baud <= 0:
                    raise ValueError("invalid baudrate")
                self.board.uart_rate_changed(baud)
            return None
        raise ValueError(f"unknown uart method {method}")

    def interpreter_started(self, conn: Any) -> None:
        if self.pycom is not None and self.pycom():  # frozen _boot.py: os.dupterm(UART(0, 115200))
            self.board.uart_rate_changed(BOOT_BAUD)

    def interpreter_stopped(self, hard: bool) -> None:
        if hard:
            self.board.uart_rate_changed(BOOT_BAUD)
