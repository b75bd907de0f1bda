"""Everything a board prints on its serial port, kept in order, searchable while it grows.

A board prints on its own: callback output from the IRQ thread, boot text after a reset. `SerialCapture` keeps
every byte that comes out of the port; `TappedSerial` is the pyserial object the board session reads through,
so that what the session consumes (raw-REPL replies) lands in the capture too, and nothing is read twice.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any


def to_text(data: bytes) -> str:
    """Serial bytes as text: UTF-8 (undecodable bytes replaced), CRLF as LF, raw-REPL EOF markers dropped."""
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\x04", "")


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
        """The last `lines` lines printed since a position."""
        return "\n".join(self.text(since).rstrip("\n").split("\n")[-lines:])

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


def _byte_offset(raw: bytes, text_end: int) -> int:
    """The byte offset in `raw` whose `to_text` prefix is `text_end` characters long (smallest such offset)."""
    low, high = 0, len(raw)
    while low < high:
        middle = (low + high) // 2
        if len(to_text(raw[:middle])) < text_end:
            low = middle + 1
        else:
            high = middle
    return low


class TappedSerial:
    """A pyserial port whose reads are also recorded in a `SerialCapture` (everything else passes through)."""

    def __init__(self, port: Any, capture: SerialCapture) -> None:
        self._port = port
        self._capture = capture

    def read(self, size: int = 1) -> bytes:
        data = self._port.read(size)
        self._capture.feed(data)
        return data

    def read_all(self) -> bytes:
        return self.read(self._port.in_waiting)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_port", "_capture"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._port, name, value)
