"""Pycom expansion boards with a PIC (Pysense, Pytrack, Pyscan, Expansion Board 3, Pygate): the PIC's USB-CDC
command protocol that puts the module into the ESP32 ROM bootloader and back (reference 1.6(b), pypic.py).

The PIC treats host data as commands while the CDC line coding says 5 data bits; at 8 data bits the bytes go to
the module's UART. RC0 drives the module's GPIO0 (G23/P2), RC5 its reset (EN).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from pytool.errors import PytoolError

CMD_PEEK, CMD_POKE, CMD_MAGIC = 0x00, 0x01, 0x02
CMD_HW_VER, CMD_FW_VER, CMD_PROD_ID = 0x10, 0x11, 0x12
TRISA, TRISC, PORTA, PORTC = 0x08C, 0x08E, 0x00C, 0x00E
RA5, RC0, RC5 = 0x20, 0x01, 0x20
MIN_FW_VERSION = 6
#: The PIC relays reads from the module no faster than this (updater.py MAXPICREAD_BAUD_RATE).
MAX_READ_BAUD = 230400


class SerialLike(Protocol):
    """What the PIC protocol needs from a serial port (pyserial's Serial, or a fake in tests)."""

    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...


class PicError(PytoolError):
    """The expansion board's PIC did not answer as documented."""


class Pic:
    """Commands to a Pycom expansion board's PIC over a port opened at 115200 baud, 5 data bits."""

    def __init__(self, port: SerialLike, sleep: Callable[[float], None] = time.sleep) -> None:
        self.port = port
        self.sleep = sleep

    @classmethod
    def open(cls, url: str) -> Pic:
        """Open `url` the way pypic does: 115200 baud, 5 data bits, 0.25 s timeout, exclusive."""
        import serial

        try:
            port = serial.serial_for_url(url, baudrate=115200, bytesize=serial.FIVEBITS, timeout=0.25, exclusive=True)
        except (serial.SerialException, ValueError) as exc:
            raise PicError(f"cannot open {url} for the expansion board's PIC: {exc}") from exc
        return cls(port)

    def close(self) -> None:
        self.port.close()

    # --- the documented commands
    def peek(self, addr: int) -> int:
        """Read a PIC register (the PIC answers one byte; pypic reads two and uses the first)."""
        self.port.write(bytes([CMD_PEEK, addr & 0xFF, addr >> 8]))
        reply = self.port.read(2)
        if not reply:
            raise PicError(f"the PIC did not answer PEEK 0x{addr:03x}", "replug the expansion board")
        return reply[0]

    def poke(self, addr: int, value: int) -> None:
        """Write a PIC register (no reply)."""
        self.port.write(bytes([CMD_POKE, addr & 0xFF, addr >> 8, value]))

    def magic(self, addr: int, and_mask: int, or_mask: int, xor_mask: int) -> None:
        """Read-modify-write a PIC register: reg = ((reg & and) | or) ^ xor (sent without reading a reply)."""
        self.port.write(bytes([CMD_MAGIC, addr & 0xFF, addr >> 8, and_mask, or_mask, xor_mask]))

    def _word(self, cmd: int, what: str) -> int:
        self.port.write(bytes([cmd]))
        reply = self.port.read(2)
        if len(reply) != 2:
            raise PicError(
                f"no PIC answered the {what} request on this port",
                "this is not a Pycom expansion board with a PIC, or its firmware is in DFU mode: replug it",
            )
        return reply[0] | reply[1] << 8

    def hw_version(self) -> int:
        return self._word(CMD_HW_VER, "hardware version")

    def fw_version(self) -> int:
        return self._word(CMD_FW_VER, "firmware version")

    def product_id(self) -> int:
        return self._word(CMD_PROD_ID, "product id")

    # --- sequences (exact bytes of reference 1.6(b))
    def check(self) -> tuple[int, int, int]:
        """(product id, hardware version, firmware version); PicError unless FW_VER >= 6."""
        fw = self.fw_version()
        if fw < MIN_FW_VERSION:
            raise PicError(
                f"the expansion board's PIC firmware 0.0.{fw} is too old for bootloader entry",
                "update the expansion board firmware (Pycom DFU tool) or jumper G23 to GND and press reset",
            )
        return self.product_id(), self.hw_version(), fw

    def reset_module(self) -> None:
        """Pulse the module's EN low through RC5 (200 ms low, 100 ms high, then release)."""
        self.magic(TRISC, 0xFF & ~RC5, 0x00, 0x00)  # RC5 output
        self.magic(PORTC, 0xFF & ~RC5, 0x00, 0x00)  # RC5 low: EN low
        self.sleep(0.2)
        self.magic(PORTC, 0xFF, RC5, 0x00)  # RC5 high
        self.sleep(0.1)
        self.magic(TRISC, 0xFF, RC5, 0x00)  # RC5 input: EN released

    def enter_bootloader(self) -> None:
        """GPIO0 low through RC0, then reset: the module starts in the ROM download mode. RC0 stays low."""
        self.magic(TRISA, 0xFF & ~RA5, 0x00, 0x00)  # RA5 output
        self.magic(PORTA, 0xFF & ~RA5, 0x00, 0x00)  # RA5 low
        self.magic(TRISC, 0xFF & ~RC0, 0x00, 0x00)  # RC0 output
        self.magic(PORTC, 0xFF & ~RC0, 0x00, 0x00)  # RC0 low: GPIO0 low
        self.reset_module()
        self.port.read(10)  # discard whatever the PIC or module sent meanwhile

    def exit_bootloader(self) -> None:
        """Release GPIO0 (RC0 input) and reset: the module boots its firmware."""
        self.magic(TRISA, 0xFF & ~RA5, 0x00, 0x00)  # RA5 output
        self.magic(PORTA, 0xFF, RA5, 0x00)  # RA5 high
        self.magic(TRISC, 0xFF, RC0, 0x00)  # RC0 input: GPIO0 released
        self.reset_module()
        self.port.reset_input_buffer()


def enter_bootloader(url: str) -> tuple[int, int, int]:
    """Open the PIC at `url`, check it, put the module into the ROM bootloader, close. Returns `Pic.check()`."""
    pic = Pic.open(url)
    try:
        ids = pic.check()
        pic.enter_bootloader()
        return ids
    finally:
        pic.close()


def exit_bootloader(url: str) -> None:
    """Open the PIC at `url`, release GPIO0 and reset the module into its firmware, close."""
    pic = Pic.open(url)
    try:
        pic.exit_bootloader()
    finally:
        pic.close()
