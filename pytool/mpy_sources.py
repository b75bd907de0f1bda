"""Sources of the MicroPython 1.11 `.mpy` files this machine compiled, for the simulator.

A simulated Pycom 1.20.x board runs a MicroPython 1.2x interpreter, which cannot load the `.mpy` v4 format that
mpy-cross 1.11 writes (and real Pycom boards load). When `pytool check`/`sync --mpy` compiles a file with
mpy-cross 1.11 it records the source under the SHA-256 of the `.mpy` bytes; when the simulated board imports a
v4 `.mpy`, it runs the recorded source of exactly those bytes (mpy-cross is deterministic, so the source is the
one that produced them) compiled under the source name the `.mpy` carries. A v4 `.mpy` compiled elsewhere has no
recorded source: the simulated board refuses it with a clear ImportError (a documented known difference).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from pytool.paths import data_home

MAX_SOURCE = 1 << 20  # larger sources are not recorded (no board holds such a module)


def _store() -> Path:
    return data_home() / "mpy-sources"


def remember(mpy: bytes, source: bytes, source_name: str) -> None:
    """Record that `mpy` was compiled from `source` (named `source_name` inside the .mpy)."""
    if len(source) > MAX_SOURCE:
        return
    folder = _store()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(mpy).hexdigest()}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"name": source_name, "source": source.decode("utf-8", "surrogateescape")}))
    tmp.replace(path)


def lookup(mpy: bytes) -> tuple[str, str] | None:
    """(source text, source name) recorded for these .mpy bytes, or None."""
    path = _store() / f"{hashlib.sha256(mpy).hexdigest()}.json"
    with contextlib.suppress(OSError, ValueError):
        doc = json.loads(path.read_text())
        return str(doc["source"]), str(doc["name"])
    return None
