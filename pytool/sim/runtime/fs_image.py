"""Read a simulated board's /flash on the host, straight from its flash image (read-only: a snapshot of the
filesystem region, so it is safe while the simulator runs). LittleFS v2 with 4 KiB blocks, as the simulated
firmware formats it; a FatFS /flash (config block byte 533 == 0) is reported, not read."""

from __future__ import annotations

import stat as stat_mod
from dataclasses import dataclass
from pathlib import Path

from littlefs import LittleFS, LittleFSError, UserContext

from pytool.boards import BoardModel
from pytool.errors import PytoolError

BLOCK_SIZE = 4096
CONFIG_FS_TYPE = 533


@dataclass
class Entry:
    name: str
    is_dir: bool
    size: int


def fs_kind(image: Path, board: BoardModel) -> str:
    """'LittleFS' or 'FAT', as the Pycom config block selects the boot filesystem."""
    with open(image, "rb") as f:
        f.seek(board.layout.config.offset + CONFIG_FS_TYPE)
        return "FAT" if f.read(1) == b"\x00" else "LittleFS"


class FlashFS:
    """/flash of one image, read-only."""

    def __init__(self, image: Path, board: BoardModel) -> None:
        if not image.is_file():
            raise PytoolError(f"flash image {image} not found", "start the simulator once to create it")
        if image.stat().st_size != board.flash_size:
            raise PytoolError(
                f"{image} is not a {board.title} flash image ({image.stat().st_size} bytes, not {board.flash_size})",
                "give the image of that board, or the right --board",
            )
        if fs_kind(image, board) == "FAT":
            raise PytoolError(
                "this board's /flash is FatFS, which `pytool sim fs` cannot read",
                "read it on the board (mpremote fs ls) or switch it to LittleFS with pycom.bootmgr(fs_type=1)",
            )
        region = board.layout.fs
        with open(image, "rb") as f:
            f.seek(region.offset)
            data = bytearray(f.read(region.size))
        try:
            # mount=False: littlefs-python would format a region that holds no filesystem (in our snapshot)
            self.fs = LittleFS(
                UserContext(buffer=data), block_size=BLOCK_SIZE, block_count=region.size // BLOCK_SIZE, mount=False
            )
            self.fs.mount()
        except LittleFSError as exc:
            raise PytoolError(
                f"no filesystem in {image} at 0x{region.offset:X} ({exc})",
                "the board formats /flash on its first boot: boot the firmware once",
            ) from exc

    def ls(self, path: str = "/") -> list[Entry]:
        """Entries of a directory, sorted by name."""
        path = _clean(path)
        try:
            names = sorted(self.fs.listdir(path))
            entries = []
            for name in names:
                st = self.fs.stat(f"{path.rstrip('/')}/{name}")
                is_dir = stat_mod.S_ISDIR(_mode(st))
                entries.append(Entry(name, is_dir, 0 if is_dir else st.size))
            return entries
        except LittleFSError as exc:
            raise PytoolError(f"/flash{path}: {exc}", "list the parent folder to see what exists") from exc

    def cat(self, path: str) -> bytes:
        """Contents of a file."""
        path = _clean(path)
        try:
            with self.fs.open(path, "rb") as f:
                return f.read()
        except (LittleFSError, OSError) as exc:
            raise PytoolError(f"cannot read /flash{path}: {exc}", "give the path of a file") from exc


def _mode(st) -> int:
    return stat_mod.S_IFDIR if st.type == 2 else stat_mod.S_IFREG


def _clean(path: str) -> str:
    """'/flash/lib/x.py', 'lib/x.py' and '/lib/x.py' all name /flash/lib/x.py."""
    path = path.strip()
    if path.startswith("/flash"):
        path = path[len("/flash") :]
    return "/" + path.strip("/")
