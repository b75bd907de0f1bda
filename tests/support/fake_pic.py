"""A fake Pycom expansion-board PIC at the byte level (reference 1.6(b)): a serial-like object that parses the
documented commands only while the line coding says 5 data bits, models the SFRs TRISA/TRISC/PORTA/PORTC, and
derives the module's EN (RC5) and GPIO0 (RC0) lines from them, recording each boot and its strap mode."""

from __future__ import annotations

from dataclasses import dataclass, field

TRISA, TRISC, PORTA, PORTC = 0x08C, 0x08E, 0x00C, 0x00E
RC0, RC5 = 0x01, 0x20
ARGS = {0x00: 2, 0x01: 3, 0x02: 5, 0x10: 0, 0x11: 0, 0x12: 0}


@dataclass
class FakePic:
    fw_version: int = 10
    hw_version: int = 3
    product_id: int = 0xF013  # Pytrack
    bytesize: int = 5
    sfr: dict[int, int] = field(default_factory=lambda: {TRISA: 0xFF, TRISC: 0xFF, PORTA: 0x00, PORTC: 0x00})
    written: bytearray = field(default_factory=bytearray)  # every byte the host sent while in 5-bit mode
    uart: bytearray = field(default_factory=bytearray)  # bytes that went to the module (8-bit mode)
    boots: list[str] = field(default_factory=list)  # "download" | "flash" at each EN rising edge
    _pending: bytearray = field(default_factory=bytearray)
    _out: bytearray = field(default_factory=bytearray)
    closed: bool = False

    # --- lines seen by the module
    def _line(self, bit: int) -> int:
        output = not self.sfr[TRISC] & bit
        return (1 if self.sfr[PORTC] & bit else 0) if output else 1  # inputs: pulled up on the module

    @property
    def en(self) -> int:
        return self._line(RC5)

    @property
    def gpio0(self) -> int:
        return self._line(RC0)

    # --- serial-like API
    def write(self, data: bytes) -> int:
        if self.bytesize != 5:
            self.uart += data
            return len(data)
        self.written += data
        self._pending += data
        while self._pending and len(self._pending) > ARGS.get(self._pending[0], 0):
            cmd = self._pending[0]
            if cmd not in ARGS:
                raise AssertionError(f"undocumented PIC command 0x{cmd:02x}")
            args = bytes(self._pending[1 : 1 + ARGS[cmd]])
            del self._pending[: 1 + ARGS[cmd]]
            self._execute(cmd, args)
        return len(data)

    def _execute(self, cmd: int, args: bytes) -> None:
        en_before = self.en
        if cmd == 0x00:
            self._out.append(self.sfr.get(args[0] | args[1] << 8, 0))
        elif cmd == 0x01:
            self.sfr[args[0] | args[1] << 8] = args[2]
        elif cmd == 0x02:
            addr = args[0] | args[1] << 8
            self.sfr[addr] = ((self.sfr.get(addr, 0) & args[2]) | args[3]) ^ args[4]
        elif cmd in (0x10, 0x11, 0x12):
            value = {0x10: self.hw_version, 0x11: self.fw_version, 0x12: self.product_id}[cmd]
            self._out += bytes([value & 0xFF, value >> 8])
        if en_before == 0 and self.en == 1:
            self.boots.append("download" if self.gpio0 == 0 else "flash")

    def read(self, size: int = 1) -> bytes:
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def reset_input_buffer(self) -> None:
        self._out.clear()

    def close(self) -> None:
        self.closed = True
