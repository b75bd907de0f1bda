"""Signals into the interpreter process: whether it catches SIGINT right now, and signalling its main thread."""

from __future__ import annotations

import ctypes
import os
import signal

_libc = ctypes.CDLL(None, use_errno=True)


def sigint_caught(pid: int) -> bool:
    """True if process `pid` currently has a SIGINT handler (SigCgt mask in /proc)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except OSError:
        pass
    return False


def tgkill(pid: int, sig: int) -> None:
    """Signal the main thread of `pid` (where MicroPython runs user code), not any of its threads."""
    if _libc.syscall(234, pid, pid, sig) != 0:  # SYS_tgkill on x86-64
        os.kill(pid, sig)
