"""The simulated board's SPI NOR flash: a persistent image file (erased = 0xFF, writes can only clear bits).

The file is accessed with unbuffered `os.pread`/`os.pwrite`, so the MicroPython runtime (which opens the /flash
region of the same file) and the ROM always see each other's writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pytool.errors import PytoolError, UsageError

SECTOR_SIZE = 0x1000
_CHUNK = 1 << 20


class FlashBoundsError(ValueError):
    """An access outside the flash chip."""


class FlashImage:
    """A flash chip of `size` bytes backed by the file at `path` (created erased when missing)."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = Path(path)
        self.size = size
        self._fd = _open_image(self.path, size)
        self.faults: Any = None  # pytool.sim.faults.FaultInjector: power loss in the middle of an erase/program

    def close(self) -> None:
        """Close the backing file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FlashImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FlashBoundsError(
                f"flash access 0x{offset:x}+0x{length:x} is outside the {self.size // 0x100000} MB chip"
            )

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes at `offset`."""
        self._check(offset, length)
        out = bytearray()
        while len(out) < length:
            chunk = os.pread(self._fd, min(_CHUNK, length - len(out)), offset + len(out))
            if not chunk:
                raise PytoolError(f"flash image {self.path} was truncated", "stop the simulator and start it again")
            out += chunk
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        """Program `data` at `offset` with NOR semantics: the result is old AND new (bits only go 1 -> 0)."""
        self._check(offset, len(data))
        if not data:
            return
        if self.faults is not None:
            self.faults.flash_op(self, "program", offset, len(data), data)
        old = self.read(offset, len(data))
        merged = (int.from_bytes(old, "little") & int.from_bytes(data, "little")).to_bytes(len(data), "little")
        self._pwrite(offset, merged)

    def erase(self, offset: int, length: int) -> None:
        """Set `length` bytes at `offset` to 0xFF (callers align to sectors as the chip would)."""
        self._check(offset, length)
        if self.faults is not None:
            self.faults.flash_op(self, "erase", offset, length)
        done = 0
        while done < length:
            n = min(_CHUNK, length - done)
            self._pwrite(offset + done, b"\xff" * n)
            done += n

    def erase_sectors(self, offset: int, length: int) -> None:
        """Erase every 4 KiB sector that overlaps [offset, offset + length)."""
        if length <= 0:
            return
        start = offset - offset % SECTOR_SIZE
        end = -(-(offset + length) // SECTOR_SIZE) * SECTOR_SIZE
        self.erase(start, min(end, self.size) - start)

    def _pwrite(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, offset)
            view, offset = view[n:], offset + n


def _open_image(path: Path, size: int) -> int:
    try:
        if path.exists():
            actual = path.stat().st_size
            if actual != size:
                raise UsageError(
                    f"flash image {path} is {actual} bytes but the board has {size // 0x100000} MB of flash ({size})",
                    "pass an image of the right size, or a new path to create an erased one",
                )
            return os.open(path, os.O_RDWR)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except IsADirectoryError as exc:
        raise UsageError(f"flash image {path} is a directory", "pass a file path with --flash") from exc
    except OSError as exc:
        raise PytoolError(
            f"cannot open flash image {path}: {exc.strerror or exc}", "check the path and its permissions"
        ) from exc
    blank = b"\xff" * _CHUNK
    for off in range(0, size, _CHUNK):
        os.pwrite(fd, blank[: min(_CHUNK, size - off)], off)
    return fd
