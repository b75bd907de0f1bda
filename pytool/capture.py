"""Everything a board prints on its serial port, kept in order, searchable while it grows.

A board prints on its own: callback output from the IRQ thread, boot text after a reset. `SerialCapture` keeps
every byte that comes out of the port, in order; the board monitor (pytool.monitor) is its only writer and
reads its own command replies from it too, so nothing the board prints is lost or read twice.
"""

from __future__ import annotations

import re
import threading
import time

from pytool.repl import without_eot

#: What pytool's own commands make the REPL print: the raw-REPL greeting and its "OK" / end-of-reply prompt.
_REPL_NOISE = re.compile(r"raw REPL; CTRL-B to exit\n>(OK)?|^>(?=\n|$)", re.M)


def to_text(data: bytes) -> str:
    """Serial bytes as text: UTF-8 (undecodable bytes replaced), CRLF as LF, raw-REPL EOF markers dropped."""
    return without_eot(data.decode("utf-8", "replace").replace("\r\n", "\n"))


class SerialCapture:
    """An append-only record of serial output; readers wait on it with regular expressions."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._changed = threading.Condition()

    def feed(self, data: bytes) -> None:
        """Append bytes read from the port (any thread)."""
        if data:
            with self._changed:
                self._data += data
                self._changed.notify_all()

    @property
    def position(self) -> int:
        """The number of bytes captured so far: a mark for `text(since=...)` and `search(...)`."""
        with self._changed:
            return len(self._data)

    def text(self, since: int = 0, until: int | None = None) -> str:
        """What the board printed between two positions, as text."""
        with self._changed:
            return to_text(bytes(self._data[since:until]))

    def tail(self, lines: int, since: int = 0) -> str:
        """The last `lines` lines printed since a position, without bare REPL prompts and raw-REPL markers."""
        kept = [line for line in _REPL_NOISE.sub("", self.text(since)).split("\n") if line.strip() not in ("", ">>>")]
        return "\n".join(kept[-lines:])

    def search(self, pattern: str | re.Pattern[str], since: int, timeout: float) -> tuple[re.Match[str], int] | None:
        """Wait up to `timeout` s for `pattern` in the text printed from `since`; (match, end position) or None.

        The end position is in bytes, so the next search can start right after this match.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                raw = bytes(self._data[since:])
                match = regex.search(to_text(raw))
                if match is not None:
                    return match, since + _byte_offset(raw, match.end())
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(min(remaining, 0.5))

    def search_bytes(self, pattern: bytes, since: int, timeout: float) -> re.Match[bytes] | None:
        """Wait up to `timeout` s for the raw-bytes regular expression `pattern` from position `since`.

        Match positions are relative to `since`."""
        regex = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = regex.search(bytes(self._data[since:]))
                if match is not None:
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(min(remaining, 0.5))


def _byte_offset(raw: bytes, text_end: int) -> int:
    """The smallest byte offset in `raw` whose text (`to_text`) begins with the first `text_end` characters of
    the text of `raw`: the byte position right after a match that ends at `text_end`."""
    target = to_text(raw)[:text_end]
    low, high = 0, len(raw)
    while low < high:
        middle = (low + high) // 2
        if to_text(raw[:middle]).startswith(target):
            high = middle
        else:
            low = middle + 1
    return low
