"""ESP-IDF partition tables (gen_esp32part.py format, esp_flash_partitions.h) and Pycom's otadata
(`boot_info_t`, reference 1.4)."""

from __future__ import annotations

import binascii
import hashlib
import struct
from dataclasses import dataclass

from pytool.firmware.image import PARTITION_TABLE_MAX, FirmwareError

_ENTRY = struct.Struct("<2sBBII16sI")
ENTRY_MAGIC = b"\xaa\x50"
_MD5_MAGIC = b"\xeb\xeb"
APP, DATA = 0x00, 0x01


@dataclass(frozen=True)
class Partition:
    """One entry of an ESP-IDF partition table."""

    label: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.size


def build_partition_table(partitions: list[Partition], md5: bool = True) -> bytes:
    """ESP-IDF binary partition table (gen_esp32part.py format): 32-byte entries, MD5 entry, 0xFF padding."""
    body = b"".join(
        _ENTRY.pack(ENTRY_MAGIC, p.type, p.subtype, p.offset, p.size, p.label.encode()[:16], p.flags)
        for p in partitions
    )
    if md5:
        body += _MD5_MAGIC + b"\xff" * 14 + hashlib.md5(body).digest()
    return body.ljust(PARTITION_TABLE_MAX, b"\xff")


def parse_partition_table(data: bytes, flash_size: int | None = None) -> list[Partition]:
    """Decode and verify an ESP-IDF partition table (as the bootloader does); FirmwareError if invalid."""
    parts: list[Partition] = []
    for pos in range(0, min(len(data), PARTITION_TABLE_MAX), 32):
        entry = data[pos : pos + 32]
        if entry[:2] == _MD5_MAGIC:
            if hashlib.md5(data[:pos]).digest() != entry[16:32]:
                raise FirmwareError("partition table MD5 mismatch")
            break
        if entry == b"\xff" * 32 or len(entry) < 32:
            break
        magic, ptype, subtype, offset, size, label, flags = _ENTRY.unpack(entry)
        if magic != ENTRY_MAGIC:
            raise FirmwareError(f"partition table entry {pos // 32} has invalid magic 0x{magic.hex()}")
        part = Partition(label.split(b"\0", 1)[0].decode("ascii", "replace"), ptype, subtype, offset, size, flags)
        if flash_size is not None and part.end > flash_size:
            raise FirmwareError(f"partition '{part.label}' ends at 0x{part.end:x}, beyond the 0x{flash_size:x} flash")
        parts.append(part)
    if not parts:
        raise FirmwareError("no partition table (erased or invalid)")
    return parts


def find_partition(parts: list[Partition], ptype: int, subtype: int) -> Partition | None:
    """The first partition of a type/subtype, or None."""
    return next((p for p in parts if p.type == ptype and p.subtype == subtype), None)


# --------------------------------------------------------------------------------------------- otadata

_BOOT_INFO = struct.Struct("<IIIII16s")
ACTIVE_FACTORY, ACTIVE_OTA0 = 0, 1
STATUS_CHECK, STATUS_READY, STATUS_PATCH = 0, 1, 2


@dataclass
class BootInfo:
    """Pycom's boot_info_t in the otadata partition (reference 1.4): 36 bytes + CRC."""

    active_img: int = ACTIVE_FACTORY
    status: int = STATUS_READY
    prev_img: int = ACTIVE_FACTORY
    size: int = 0
    safeboot: int = 0
    signature: bytes = b"\0" * 16

    def pack(self) -> bytes:
        """The 40 bytes Pycom's updater writes (set_ota): struct + crc32_le(0xFFFFFFFF, struct)."""
        body = _BOOT_INFO.pack(self.active_img, self.status, self.prev_img, self.size, self.safeboot, self.signature)
        return body + struct.pack("<I", _boot_info_crc(body))


def _boot_info_crc(body: bytes) -> int:
    return binascii.crc32(b"\xff" * 4 + body) & 0xFFFFFFFF


def parse_boot_info(data: bytes) -> BootInfo | None:
    """Decode otadata; None when the CRC does not match (erased or corrupt)."""
    body, crc = data[:36], data[36:40]
    if len(crc) < 4 or struct.unpack("<I", crc)[0] != _boot_info_crc(body):
        return None
    return BootInfo(*_BOOT_INFO.unpack(body))
