"""What a firmware image says it is: the version banner Pycom and stock MicroPython firmware embed
(reference section 3, pyexec.c), and the identity read from it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class FirmwareIdentity:
    """What a firmware image says it is, from its embedded version banner."""

    flavour: str  # "pycom" | "micropython"
    board_name: str  # os.uname().sysname: "LoPy4", ... ("ESP32" for stock MicroPython)
    version: str  # Pycom SW_VERSION "1.20.2.r4", or the MicroPython version "1.24.1"
    micropython: str  # MICROPY_GIT_TAG, e.g. "v1.11-ffb0e1c"
    build_date: str  # "2021-01-12"
    banner: str  # first banner line


_PYCOM_BANNER = re.compile(
    rb"Pycom MicroPython (\d[\w.\-]*) \[([^\]\x00\r\n]+)\] on (\d{4}-\d{2}-\d{2}); (\w+) with ESP32"
)
_STOCK_BANNER = re.compile(rb"MicroPython (v\d[\w.\-]*) on (\d{4}-\d{2}-\d{2}); ([^\x00\r\n;]+?) with ESP32")
#: Regular expressions of the banner lines pytool recognises (Pycom, then stock MicroPython).
BANNER_PATTERNS = (_PYCOM_BANNER, _STOCK_BANNER)


def pycom_banner(version: str, micropython: str, build_date: str, board_name: str) -> str:
    """The friendly-REPL banner line of Pycom firmware (reference section 3, pyexec.c)."""
    return f"Pycom MicroPython {version} [{micropython}] on {build_date}; {board_name} with ESP32"


def stock_banner(micropython: str, build_date: str, machine: str = "Generic ESP32 module") -> str:
    """The banner line of stock MicroPython for ESP32 ("MicroPython v1.24.1 on 2024-11-29; ... with ESP32")."""
    return f"MicroPython {micropython} on {build_date}; {machine} with ESP32"


def identify(data: bytes) -> FirmwareIdentity | None:
    """Identify firmware from the version banner embedded in an image (None: no banner found)."""
    m = _PYCOM_BANNER.search(data)
    if m:
        version, tag, date, board = (g.decode("ascii", "replace") for g in m.groups())
        return FirmwareIdentity("pycom", board, version, tag, date, m.group(0).decode("ascii", "replace"))
    m = _STOCK_BANNER.search(data)
    if m:
        tag, date, _machine = (g.decode("ascii", "replace") for g in m.groups())
        version = tag[1:].split("-")[0]
        return FirmwareIdentity("micropython", "ESP32", version, tag, date, m.group(0).decode("ascii", "replace"))
    return None
