"""The board catalogue (`firmware/boards.toml`): flash sizes, layouts, RAM and radios of every known board."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from pytool.errors import UsageError
from pytool.paths import firmware_dir


@dataclass(frozen=True)
class Region:
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Layout:
    """A flash layout (Pycom's 4MB or 8MB partitioning)."""

    key: str
    flash_size: int
    bootloader: int
    partition_table: int
    nvs: Region
    factory: Region
    otadata: Region
    ota_0: Region
    fs: Region
    config: Region


@dataclass(frozen=True)
class BoardModel:
    """One board of the catalogue."""

    key: str
    name: str
    title: str
    app: str
    layout: Layout
    archives: tuple[str, ...]
    ram_kb: int
    psram_kb: int
    chip_revision: int
    lorawan: str | None = None
    sigfox: str | None = None

    @property
    def flash_size(self) -> int:
        return self.layout.flash_size

    @property
    def is_pycom(self) -> bool:
        return self.key != "esp32"


def _layout(key: str, raw: dict) -> Layout:
    regions = {k: Region(*v) for k, v in raw.items() if isinstance(v, list)}
    return Layout(
        key=key,
        flash_size=raw["flash_size"],
        bootloader=raw["bootloader"],
        partition_table=raw["partition_table"],
        **regions,
    )


@cache
def layouts() -> dict[str, Layout]:
    """Flash layouts by key ("4MB", "8MB")."""
    raw = tomllib.loads((firmware_dir() / "boards.toml").read_text())
    return {k: _layout(k, v) for k, v in raw["layouts"].items()}


@cache
def catalogue() -> dict[str, BoardModel]:
    """Every board by key (wipy2, wipy3, lopy, lopy4, sipy, gpy, fipy, esp32)."""
    raw = tomllib.loads((firmware_dir() / "boards.toml").read_text())
    return {
        key: BoardModel(
            key=key,
            layout=layouts()[b["layout"]],
            archives=tuple(b["archives"]),
            **{k: v for k, v in b.items() if k not in ("layout", "archives")},
        )
        for key, b in raw["boards"].items()
    }


def get_board(key: str) -> BoardModel:
    """Look a board up by catalogue key (case-insensitive), e.g. "lopy4"."""
    board = catalogue().get(key.lower())
    if board is None:
        known = ", ".join(catalogue())
        raise UsageError(f"unknown board '{key}'", f"choose one of: {known}")
    return board


def boards_named(name: str) -> list[BoardModel]:
    """Boards whose firmware name (os.uname().sysname, e.g. "WiPy") is `name`."""
    return [b for b in catalogue().values() if b.name.lower() == name.lower()]
