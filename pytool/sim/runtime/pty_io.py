"""Byte-level helpers of the supervisor's pty to the interpreter: reading up to an in-band marker, and the UART's
line ends on the way to the serial port."""

from __future__ import annotations

import os
import select
import time


def read_until(fd: int, marker: bytes, timeout: float) -> tuple[bytes, bool]:
    """Read the non-blocking pty master `fd` until `marker` has come or `timeout` seconds have passed.

    Returns what was read without the marker, and whether the marker came. A process's writes to a pty reach the
    master's side a moment later (the kernel pushes them from a work queue): a message the process sent on
    another channel after writing can arrive before its output; the marker, written last, says "all is here"."""
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        if not select.select([fd], [], [], left)[0]:
            continue
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            continue
        except OSError:
            return data, False
        if not chunk:
            return data, False
        data += chunk
    return data.replace(marker, b"", 1), True


def uart_line_ends(data: bytes, last_cr: bool) -> tuple[bytes, bool]:
    """`data` with "\\n" as "\\r\\n" (no "\\r\\r\\n" where the interpreter already sent "\\r\\n", also across
    chunks: `last_cr` = the previous chunk ended with "\\r"); returns the bytes and the new `last_cr`."""
    out = data.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    if last_cr and out.startswith(b"\r\n"):
        out = out[1:]
    return out, out.endswith(b"\r")


def split_at_first(buf: bytes, patterns: list[bytes]) -> tuple[bytes, bytes | None, bytes]:
    """Split `buf` at the first of `patterns`: (the bytes before it, the rest starting with it, b""). If none
    occurs: (the bytes that can go out, None, a tail that may be the start of a pattern: held back)."""
    best = -1
    for p in patterns:
        i = buf.find(p)
        if i >= 0 and (best < 0 or i < best):
            best = i
    if best >= 0:
        return buf[:best], buf[best:], b""
    hold = 0
    for p in patterns:
        for n in range(min(len(p) - 1, len(buf)), 0, -1):
            if buf.endswith(p[:n]):
                hold = max(hold, n)
                break
    return buf[: len(buf) - hold], None, buf[len(buf) - hold :]
