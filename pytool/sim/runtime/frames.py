"""Tracebacks without the simulated firmware's own frames.

On the board the firmware's modules are C and frozen code: they never appear in a traceback. Here they are
Python files (firmware/device/*.py), and an exception that passes through one of them (exec() checking the
board's grammar, the import guard) gets a line `  File "/host/path/firmware/device/x.py", line N, in f`. The
supervisor drops those lines from everything the interpreter prints, so the host sees the board's traceback and
no host path. A line is held back only while it may still become such a line (at most until more output comes
or `flush()` runs).
"""

from __future__ import annotations


class FrameFilter:
    """Removes `  File "<device dir>/...` lines from a byte stream cut into arbitrary chunks."""

    def __init__(self, device_dir: str) -> None:
        self.prefix = b'  File "' + device_dir.rstrip("/").encode() + b"/"
        self._held = b""  # the start of a line that may still turn out to be a firmware frame
        self._at_line_start = True

    def feed(self, data: bytes) -> bytes:
        """Filtered bytes that can go out now."""
        data = self._held + data
        self._held = b""
        out = bytearray()
        pos = 0
        while pos < len(data):
            if not self._at_line_start:
                end = data.find(b"\n", pos)
                if end < 0:
                    out += data[pos:]
                    return bytes(out)
                out += data[pos : end + 1]
                pos = end + 1
                self._at_line_start = True
                continue
            end = data.find(b"\n", pos)
            line = data[pos:] if end < 0 else data[pos : end + 1]
            if end < 0 and self.prefix.startswith(line[: len(self.prefix)]) and len(line) <= len(self.prefix):
                self._held = line  # could still become a firmware frame
                return bytes(out)
            if line.startswith(self.prefix):
                if end < 0:
                    self._held = line  # a firmware frame: wait for its end, then drop it
                    return bytes(out)
            else:
                out += line
                self._at_line_start = end >= 0
            pos = len(data) if end < 0 else end + 1
        return bytes(out)

    def flush(self) -> bytes:
        """What is held back (output stopped in the middle of a line): it was not a firmware frame."""
        held, self._held = self._held, b""
        if held.startswith(self.prefix):
            return b""
        if held:
            self._at_line_start = False
        return held
