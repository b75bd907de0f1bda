"""MicroPython code pytool runs on the board, kept as `.py` files (resources of this package, shipped in the wheel).

Each file is sent exactly as written after its leading `#` comment lines (which `load` drops), so what runs on the
board is byte-for-byte what the file holds. Grammar: MicroPython 1.11 (Pycom 1.20), so no f-strings; one-space
indents and terse names keep the code small (it crosses a 115200-baud line, often once per session). The files
are not importable host modules: ruff and the host interpreter never run them (see pyproject's ruff exclude).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path


@cache
def load(name: str) -> str:
    """The text of `name` (e.g. "prelude.py") without its leading comment lines."""
    # a plain file read: importlib.resources would cost every command ~10 ms of start-up (tempfile, zipfile)
    text = Path(__file__).with_name(name).read_text(encoding="utf-8")
    while text.startswith("#"):
        text = text.split("\n", 1)[1]
    return text


def pieces(text: str, size: int, starts: str = "") -> list[str]:
    """`text` cut at line starts (only before lines beginning with `starts`) into pieces of about `size` characters
    (longer where one such block is longer)."""
    cut: list[str] = [""]
    for block in re.split(rf"(?m)(?<=\n)(?={re.escape(starts)})", text):
        if cut[-1] and len(cut[-1]) + len(block) > size:
            cut.append("")
        cut[-1] += block
    return [piece for piece in cut if piece]
