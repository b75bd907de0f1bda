"""File bodies as bytes on the board's stdin while an exec runs: a quarter fewer bytes on the wire than base64.

The board-side reader (`_pt_rd` in board_code/prelude.py) prints `READY` when it waits for a piece and then reads
exactly its length with `sys.stdin.readinto` (the firmware's stdin in text mode: Pycom 1.20 has no
`sys.stdin.buffer`). Nine byte values do not travel as themselves:
- 0x03: the firmware's UART raises KeyboardInterrupt on it (Ctrl-C stays armed, so a transfer cut half-way is
  interrupted like any program). On Pycom 1.20 the exception waits until the read has every byte it asked for
  (lib/utils/sys_stdio_mphal.c reads `size` characters in a loop that never looks at pending exceptions): a
  feed cut short fills the rest with spaces (`BoardSession.exec_feeding`);
- 0x06: Pycom resets into safe boot on it, at any time (reference, section 3);
- 0x00-0x05: the REPL's control bytes (pytool.repl.FORBIDDEN), so that bytes still on their way when a transfer
  is interrupted reach the REPL as harmless text: never as a Ctrl-D that runs or soft-resets, nor a Ctrl-B;
- 0x0D: the firmware's stdin turns it into 0x0A (lib/utils/sys_stdio_mphal.c);
- 0x1B: the escape byte itself.
Each goes as 0x1B and the byte plus 0x40, which the board undoes with `bytes.replace` (C speed, one pass per
value): on random data that costs 3.5 %, where base64 costs 33 %. On a heap under 256 KB free (a LoPy has 67 KB)
`_pt_rd` collects garbage before each piece; not on a big one, where it is not needed (and where the
simulator's interpreter, whose Ctrl-C is raised from a signal handler, could be interrupted inside the collection
and keep its heap locked).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pytool.errors import PytoolError

#: The escape byte: a piece without it needs no undoing on the board.
ESCAPE = b"\x1b"
#: What the board prints when it waits for the next piece.
READY = b"@pt<"
#: The ESP32 ROM's reset line ("rst:0xf (BROWNOUT_RST),boot:..."): the board restarted, the exec is gone.
ROM_RESET = re.compile(rb"rst:0x[0-9a-f]+ \(")
_TAIL = 24  # bytes of output kept to find READY and ROM_RESET across reads
#: The byte values that travel escaped (the board's `_pt_rd` undoes them in this order, the escape byte last).
ESCAPED = (0, 1, 2, 3, 4, 5, 6, 13, 27)


def escape(data: bytes) -> bytes:
    """`data` as it travels: the escape byte first, then the bytes the firmware would act on, as escapes."""
    for value in reversed(ESCAPED):
        data = data.replace(bytes((value,)), bytes((27, value + 0x40)))
    return data


def unescape(data: bytes) -> bytes:
    """What the board makes of escaped bytes (its `_pt_rd`, spelled here for the host's tests)."""
    for value in ESCAPED:
        data = data.replace(bytes((27, value + 0x40)), bytes((value,)))
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
    def done(self) -> bool:
        return self.next == len(self._pieces)

    @property
    def owed(self) -> int:
        """Bytes the board may still be waiting for when the feed is cut: the piece last sent (part of it may not
        have left the host) or the next one (the board may have asked for it since), whichever is longer."""
        sizes = [len(self._pieces[i][0]) for i in (self.next - 1, self.next) if 0 <= i < len(self._pieces)]
        return max(sizes, default=0)

    def __call__(self, data: bytes) -> None:
        self._tail = (self._tail + data)[-_TAIL:]
        if ROM_RESET.search(self._tail):  # (its boot text says so at once: no waiting out the exec's timeout)
            raise PytoolError(
                "the board restarted during the transfer (it printed the ESP32's reset line)",
                "run again: every file on the board is old or new; if it keeps restarting, check its power supply",
            )
        if not self._tail.endswith(READY):
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
