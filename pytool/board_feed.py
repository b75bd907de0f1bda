"""File bodies as bytes on the board's stdin while an exec runs: a quarter fewer bytes on the wire than base64.

The board-side reader (`_pt_rd` in board_code/prelude.py) prints `READY` when it waits for a piece and then reads
exactly its length with `sys.stdin.readinto` (the firmware's stdin in text mode: Pycom 1.20 has no
`sys.stdin.buffer`). Four byte values cannot travel as themselves:
- 0x03: the firmware's UART raises KeyboardInterrupt on it (Ctrl-C stays armed, so a transfer cut half-way is
  interrupted like any program, never left waiting for bytes that will not come);
- 0x06: Pycom resets into safe boot on it, at any time (reference, section 3);
- 0x0D: the firmware's stdin turns it into 0x0A (lib/utils/sys_stdio_mphal.c);
- 0x1B: the escape byte itself.
Each goes as 0x1B and a letter, which the board undoes with `bytes.replace` (C speed, one pass per value): on
random data that costs 1.6 %, where base64 costs 33 %.
"""

from __future__ import annotations

from collections.abc import Callable

from pytool.errors import PytoolError

#: The escape byte: a piece without it needs no undoing on the board.
ESCAPE = b"\x1b"
#: What the board prints when it waits for the next piece.
READY = b"@pt<"
#: (byte, escape) in the order the host applies them; the board undoes them in reverse (board_code/prelude.py).
ESCAPES = ((b"\x1b", b"\x1bE"), (b"\x03", b"\x1bC"), (b"\x06", b"\x1bF"), (b"\r", b"\x1bM"))


def escape(data: bytes) -> bytes:
    """`data` as it travels: the four bytes the firmware would act on replaced by their escapes."""
    for raw, escaped in ESCAPES:
        data = data.replace(raw, escaped)
    return data


def unescape(data: bytes) -> bytes:
    """What the board makes of escaped bytes (its `_pt_rd`, spelled here for the host's tests)."""
    for raw, escaped in reversed(ESCAPES):
        data = data.replace(escaped, raw)
    return data


class Feeder:
    """A stream callback for `BoardSession.exec`: sends the next piece each time the board prints READY.

    `pieces` are (bytes to send, payload bytes they carry); `sent(n)` is told the payload of each piece sent."""

    def __init__(
        self,
        write: Callable[[bytes], object],
        pieces: list[tuple[bytes, int]],
        sent: Callable[[int], None] | None = None,
    ) -> None:
        self._write = write
        self._pieces = pieces
        self._sent = sent
        self._tail = b""
        self.next = 0  # pieces sent so far

    @property
    def started(self) -> bool:
        return self.next > 0

    @property
    def done(self) -> bool:
        return self.next == len(self._pieces)

    def __call__(self, data: bytes) -> None:
        self._tail = (self._tail + data)[-len(READY) :]
        if self._tail != READY:
            return
        self._tail = b""
        if self.done:  # the board asks for more than the exec carries: its reads are out of step with ours
            raise PytoolError(
                f"the board asked for piece {self.next + 1} of data where the exec carries {len(self._pieces)}",
                "run again; if it persists, reset the board (`pytool reset`)",
            )
        body, payload = self._pieces[self.next]
        self._write(body)
        self.next += 1
        if self._sent is not None:
            self._sent(payload)
