"""Pycom firmware archives (.tar.gz), folders of their files and single ESP32 images: read safely into memory
(no member reaches the disk; links, '..' and oversized members refused) and identified (reference 1.1-1.2)."""

from __future__ import annotations

import lzma
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from pytool.errors import UsageError
from pytool.firmware.identity import FirmwareIdentity, identify
from pytool.firmware.image import (
    APP_OFFSET,
    BOOTLOADER_OFFSET,
    IMAGE_MAGIC,
    PARTITION_TABLE_OFFSET,
    FirmwareError,
    check_image_bytes,
)
from pytool.firmware.partitions import ENTRY_MAGIC

MAX_MEMBER_SIZE = 0x1000000  # 16 MiB: larger than any ESP32 flash, so no member can be legitimate beyond it
MAX_ARCHIVE_SIZE = 0x4000000  # 64 MiB of members in total
MAX_MEMBERS = 64
SCRIPT_NAMES = ("script_4MB", "script_8MB", "script2", "script")


@dataclass
class Firmware:
    """A firmware file loaded in memory: a Pycom archive (or folder) or a single ESP32 image."""

    source: str
    kind: str  # "pycom" (archive or folder of a Pycom release) | "image" (single .bin)
    files: dict[str, bytes]  # member name -> contents, in archive order
    identity: FirmwareIdentity | None
    app_name: str | None = None  # "<board>.bin" of a Pycom archive
    image_offset: int | None = None  # for kind == "image": where it goes
    image_kind: str | None = None  # "merged" | "app" | "raw"

    @property
    def board_name(self) -> str | None:
        return self.identity.board_name if self.identity else None


def _member_name(name: str) -> str:
    """A safe, flat member name; FirmwareError for names that could escape (absolute, '..', drive letters)."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        raise FirmwareError(f"unsafe member name '{name}' in archive (absolute path)")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise FirmwareError(f"unsafe member name '{name}' in archive ('..' component)")
    if not parts:
        raise FirmwareError(f"unsafe member name '{name}' in archive")
    return parts[-1]


def read_archive(path: Path) -> dict[str, bytes]:
    """Read a .tar/.tar.gz firmware archive into memory, never touching the disk paths it names.

    Rejects absolute or '..' member names, links and devices, oversized members, too many members; a corrupt or
    truncated archive raises FirmwareError with one clear line."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(path, _tar_mode(path)) as tar:
            while (member := tar.next()) is not None:
                name = _member_name(member.name)
                if member.isdir():
                    continue
                if not member.isreg():
                    kind = "link" if member.issym() or member.islnk() else "special file"
                    raise FirmwareError(f"archive member '{member.name}' is a {kind}; firmware archives hold files")
                if member.size > MAX_MEMBER_SIZE:
                    raise FirmwareError(
                        f"archive member '{member.name}' is {member.size} bytes, larger than any ESP32 flash"
                    )
                total += member.size
                if total > MAX_ARCHIVE_SIZE or len(files) >= MAX_MEMBERS:
                    raise FirmwareError("archive is too large to be firmware")
                if name in files:
                    raise FirmwareError(f"archive holds '{name}' twice")
                handle = tar.extractfile(member)
                data = handle.read(member.size + 1) if handle else b""
                if len(data) != member.size:
                    raise FirmwareError(f"archive member '{member.name}' is truncated")
                files[name] = data
            _drain(tar)
    except FirmwareError as exc:
        exc.message = f"{path.name}: {exc.message}"
        exc.hint = exc.hint or "download the archive again from Pycom, or rebuild it"
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
            raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
        raise FirmwareError(
            f"{path.name} is corrupt or truncated ({' '.join(str(exc).split())})",  # tarfile's text has newlines
            "download the archive again from Pycom, or rebuild it",
        ) from exc
    if not files:
        raise FirmwareError(f"{path.name} is empty or not a firmware archive")
    return files


def _tar_mode(path: Path) -> str:
    """tarfile's mode for the compression `path` starts with, so that a damaged file gets that reader's one
    complaint rather than every reader's ("r:*" tries them all and lists each failure)."""
    with path.open("rb") as f:
        head = f.read(6)
    for magic, mode in zip(ARCHIVE_MAGIC, ("r:gz", "r:bz2", "r:xz"), strict=True):
        if head.startswith(magic):
            return mode
    return "r:"


def _drain(tar: tarfile.TarFile) -> None:
    """Read a compressed archive to its end so that the gzip/bz2/xz checksum is verified."""
    import bz2
    import gzip

    stream = tar.fileobj
    if not isinstance(stream, gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile):
        return
    left = 0x100000  # padding after the end-of-archive blocks is small; refuse to inflate more than this
    while chunk := stream.read(0x10000):
        left -= len(chunk)
        if left < 0:
            raise FirmwareError("archive has megabytes of data after its end")


def _read_folder(path: Path) -> dict[str, bytes]:
    files = {}
    for entry in sorted(path.iterdir()):
        if entry.name in SCRIPT_NAMES or entry.suffix == ".bin":
            if entry.is_symlink() or not entry.is_file():
                raise FirmwareError(f"{entry} is not a regular file")
            if entry.stat().st_size > MAX_MEMBER_SIZE:
                raise FirmwareError(f"{entry} is larger than any ESP32 flash")
            files[entry.name] = entry.read_bytes()
    return files


def _app_member(files: dict[str, bytes]) -> str | None:
    apps = [n for n in files if n.endswith(".bin") and n != "bootloader.bin" and not n.startswith("partitions")]
    return apps[0] if len(apps) == 1 else None


def image_kind(data: bytes) -> tuple[str, int]:
    """Kind of a single .bin and its default offset: merged image at 0x1000 (bootloader + table + app),
    merged from 0x0, app at 0x10000, or "raw" (unknown: needs --offset)."""
    table = PARTITION_TABLE_OFFSET - BOOTLOADER_OFFSET
    if data[:1] == bytes([IMAGE_MAGIC]) and data[table : table + 2] == ENTRY_MAGIC:
        return "merged", BOOTLOADER_OFFSET
    if data[BOOTLOADER_OFFSET : BOOTLOADER_OFFSET + 1] == bytes([IMAGE_MAGIC]) and (
        data[PARTITION_TABLE_OFFSET : PARTITION_TABLE_OFFSET + 2] == ENTRY_MAGIC
    ):
        return "merged", 0
    if data[:1] == bytes([IMAGE_MAGIC]):
        return "app", APP_OFFSET
    return "raw", APP_OFFSET


#: How each archive format pytool reads starts (gzip, bzip2, xz), and the tar header's magic at offset 257.
ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
TAR_MAGIC_AT = 257


def _refuse_non_archive(path: Path) -> None:
    """A file that is no archive at all (hello.txt) gets one line, not the three decompressors' complaints."""
    try:
        with path.open("rb") as f:
            head = f.read(TAR_MAGIC_AT + 5)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    if head.startswith(ARCHIVE_MAGIC) or head[TAR_MAGIC_AT:].startswith(b"ustar"):
        return
    raise UsageError(
        f"{path.name} is not a firmware archive or image (not a .tar/.tar.gz archive, and not named .bin)",
        "give a Pycom firmware archive (e.g. LoPy4-1.20.2.r6.tar.gz), an ESP32 image (.bin) or a folder of them",
    )


def load_firmware(path: str | Path) -> Firmware:
    """Load a Pycom archive (.tar.gz/.tar), a folder of its files, or a single ESP32 image (.bin)."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p} does not exist", "give a Pycom archive (.tar.gz), an ESP32 image (.bin) or a folder")
    if p.is_dir():
        files = _read_folder(p)
    elif p.suffix.lower() == ".bin":
        if p.stat().st_size > MAX_MEMBER_SIZE:
            raise FirmwareError(f"{p.name} is larger than any ESP32 flash")
        data = p.read_bytes()
        if not data:
            raise FirmwareError(f"{p.name} is empty")
        kind, offset = image_kind(data)
        return Firmware(str(p), "image", {p.name: data}, identify(data), None, offset, kind)
    else:
        _refuse_non_archive(p)
        files = read_archive(p)
    app = _app_member(files)
    if app is None or not any(n in files for n in SCRIPT_NAMES):
        raise FirmwareError(
            f"{p.name} is not a Pycom firmware archive (no flash script or no single <board>.bin)",
            "give a Pycom archive such as LoPy4-1.20.2.r6.tar.gz, or an ESP32 .bin image",
        )
    check = check_image_bytes(files[app])
    if not check.ok:
        raise FirmwareError(f"{p.name}: {app} is not a valid ESP32 app image ({check.reason})")
    return Firmware(str(p), "pycom", files, identify(files[app]), app)
