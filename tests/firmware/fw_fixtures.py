"""Built firmware shared by the firmware tests (building is deterministic, so module caching is safe)."""

from __future__ import annotations

from functools import cache

from pytool.firmware.build import BuiltFile, build_pycom_archive


@cache
def built(board: str = "lopy4", version: str = "1.20.2.r4") -> dict[str, bytes]:
    """Members of a built Pycom archive by name."""
    files: list[BuiltFile] = build_pycom_archive(board, version)
    return {f.name: f.data for f in files}
