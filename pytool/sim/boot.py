"""What the simulated module's ROM and Pycom's 2nd-stage bootloader do at a hard boot from flash: check the
bootloader image at 0x1000, read the partition table at 0x8000 and Pycom's otadata, validate the app image they
point at, and find the firmware's identity in its version banner.

Written from the formats (shared reference pycom-platform.txt 1.1-1.4, esp32-rom-protocol.txt; ESP-IDF 3.3
esp_image_format.h, esp_flash_partitions.h), independently of the host tool's `pytool.firmware`: the simulator
is what that code is tested against, so it must not judge images with it.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

Read = Callable[[int, int], bytes]

BOOTLOADER_AT = 0x1000
TABLE_AT = 0x8000
TABLE_BYTES = 0xC00  # ESP-IDF reads at most 0xC00 bytes of partition table (96 entries)
MAGIC = 0xE9  # first byte of every ESP32 image
SEGMENTS_MAX = 16
CHECKSUM_SEED = 0xEF  # ESP_ROM_CHECKSUM_INITIAL
HEADER = struct.Struct("<BBBBI")  # magic, segment count, SPI mode, size/frequency, entry point
EXT_HEADER_SIZE = 16  # esp_image_header_t continues: wp pin, drive settings, chip id, min revision, ..., hash flag
SEGMENT_HEADER = struct.Struct("<II")  # load address, length
DIGEST_SIZE = 32
SPI_MODES = ("QIO", "QOUT", "DIO", "DOUT")

ENTRY = struct.Struct("<HBBII16sI")  # esp_partition_info_t: magic, type, subtype, offset, size, label, flags
ENTRY_MAGIC = 0x50AA
MD5_MAGIC = 0xEBEB
TYPE_APP, TYPE_DATA = 0x00, 0x01
SUBTYPE_FACTORY, SUBTYPE_OTA0, SUBTYPE_OTADATA = 0x00, 0x10, 0x00

BOOT_INFO = struct.Struct("<5I16sI")  # Pycom boot_info_t: ActiveImg, Status, PrevImg, size, safeboot, signature, crc
ACTIVE_OTA0 = 1

ROM_PREAMBLE = (
    "configsip: 0, SPIWP:0xee",
    "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00",
)

PYCOM_BANNER = re.compile(
    rb"Pycom MicroPython (?P<version>\d[\w.\-]*) \[(?P<tag>[^\]\x00\r\n]+)\] on (?P<date>\d{4}-\d{2}-\d{2}); "
    rb"(?P<board>\w+) with ESP32"
)
STOCK_BANNER = re.compile(
    rb"MicroPython (?P<tag>v\d[\w.\-]*) on (?P<date>\d{4}-\d{2}-\d{2}); (?P<machine>[^\x00\r\n;]+?) with ESP32"
)


@dataclass(frozen=True)
class Identity:
    """The firmware a simulated board runs, as its version banner says (what `os.uname()` reports)."""

    flavour: str  # "pycom" | "micropython"
    board_name: str  # Pycom sysname ("LoPy4", ...), "ESP32" for stock MicroPython
    version: str  # "1.20.2.r4" / "1.24.1"
    micropython: str  # MicroPython git tag, "v1.11-ffb0e1c"
    build_date: str
    banner: str  # the banner line itself


@dataclass
class Boot:
    """The outcome of a hard boot from flash."""

    ok: bool
    lines: list[str]  # what the ROM and the 2nd-stage bootloader print after the ROM's "rst:" header
    app_offset: int | None = None
    identity: Identity | None = None
    reason: str = ""  # why nothing booted ("invalid header: 0xffffffff", ...)


@dataclass
class _Image:
    """An image that passed the checks: its length (with digest), entry point, segments and bytes."""

    length: int
    entry: int
    segments: list[tuple[int, int]] = field(default_factory=list)
    data: bytes = b""


class _Invalid(Exception):
    """An image, partition table or otadata the bootloader rejects (the message is its reason)."""


def read_identity(data: bytes) -> Identity | None:
    """The identity in the firmware's version banner, or None when it has none."""
    if found := PYCOM_BANNER.search(data):
        text = {k: v.decode("ascii", "replace") for k, v in found.groupdict().items()}
        line = found.group(0).decode("ascii", "replace")
        return Identity("pycom", text["board"], text["version"], text["tag"], text["date"], line)
    if found := STOCK_BANNER.search(data):
        tag, date = found.group("tag").decode("ascii", "replace"), found.group("date").decode("ascii", "replace")
        line = found.group(0).decode("ascii", "replace")
        return Identity("micropython", "ESP32", tag.lstrip("v").partition("-")[0], tag, date, line)
    return None


def _xor_of(data: bytes) -> int:
    """The XOR of all bytes of `data` (the image checksum), folded at C speed: a byte loop took ~25 ms per boot of a
    Pycom image, four or five boots per board in a `pytool test` run (issue 17)."""
    width = 1
    while width < len(data):
        width *= 2
    value = int.from_bytes(data, "little")  # zero bytes beyond len(data) change no XOR
    while width > 1:
        width //= 2
        value = (value >> (width * 8)) ^ (value & ((1 << (width * 8)) - 1))
    return value


def _validate(read: Read, start: int, room: int) -> _Image:
    """The 2nd-stage bootloader's esp_image_load checks on the image at `start` (at most `room` bytes long)."""
    magic, count, _mode, _size_freq, entry = HEADER.unpack(read(start, HEADER.size))
    if magic != MAGIC:
        raise _Invalid(f"invalid magic byte 0x{magic:02x}")
    if not 0 < count <= SEGMENTS_MAX:
        raise _Invalid(f"invalid segment count {count}")
    hash_flag = read(start + HEADER.size + EXT_HEADER_SIZE - 1, 1)[0]
    if hash_flag > 1:
        raise _Invalid(f"malformed image: hash_appended byte 0x{hash_flag:02x} (0 or 1)")
    hash_appended = hash_flag == 1
    at = HEADER.size + EXT_HEADER_SIZE
    checksum = CHECKSUM_SEED
    segments = []
    for number in range(count):
        if at + SEGMENT_HEADER.size > room:
            raise _Invalid(f"segment {number} header beyond the partition")
        load, size = SEGMENT_HEADER.unpack(read(start + at, SEGMENT_HEADER.size))
        at += SEGMENT_HEADER.size
        if at + size > room:
            raise _Invalid(f"segment {number} (length {size}) beyond the partition")
        checksum ^= _xor_of(read(start + at, size))
        segments.append((load, size))
        at += size
    checksum_at = at | 15  # the checksum is the last byte of the 16-byte block the segments end in
    length = checksum_at + 1 + (DIGEST_SIZE if hash_appended else 0)
    if length > room:
        raise _Invalid("image SHA-256 beyond the partition")
    data = read(start, length)
    stored = data[checksum_at]
    if stored != checksum:
        raise _Invalid(f"checksum mismatch (calculated 0x{checksum:02x}, read 0x{stored:02x})")
    if hash_appended and hashlib.sha256(data[: checksum_at + 1]).digest() != data[checksum_at + 1 :]:
        raise _Invalid("SHA-256 mismatch")
    return _Image(length, entry, segments, data)


@dataclass(frozen=True)
class _Partition:
    label: str
    type: int
    subtype: int
    offset: int
    size: int


def _partition_table(raw: bytes, flash_size: int) -> list[_Partition]:
    """esp_partition_table_verify + load: entries until an erased one, MD5 entry checked, ends within flash."""
    table: list[_Partition] = []
    for index in range(min(len(raw), TABLE_BYTES) // ENTRY.size):
        chunk = raw[index * ENTRY.size : (index + 1) * ENTRY.size]
        magic = int.from_bytes(chunk[:2], "little")
        if magic == MD5_MAGIC:
            if hashlib.md5(raw[: index * ENTRY.size]).digest() != chunk[16:]:
                raise _Invalid("partition table MD5 mismatch")
            break
        if chunk == b"\xff" * ENTRY.size:
            break
        if magic != ENTRY_MAGIC:
            raise _Invalid(f"partition table entry {index} has invalid magic 0x{chunk[:2].hex()}")
        _magic, ptype, subtype, offset, size, label, _flags = ENTRY.unpack(chunk)
        name = label.partition(b"\0")[0].decode("ascii", "replace")
        if offset + size > flash_size:
            raise _Invalid(f"partition '{name}' ends at 0x{offset + size:x}, beyond the 0x{flash_size:x} flash")
        table.append(_Partition(name, ptype, subtype, offset, size))
    if not table:
        raise _Invalid("no partition table (erased or invalid)")
    return table


def _ota0_active(read: Read, table: list[_Partition]) -> bool:
    """Pycom's otadata says ota_0 is the active image (an erased or corrupt one means factory, reference 1.4)."""
    otadata = next((p for p in table if (p.type, p.subtype) == (TYPE_DATA, SUBTYPE_OTADATA)), None)
    if otadata is None:
        return False
    raw = read(otadata.offset, BOOT_INFO.size)
    active, *_rest, crc = BOOT_INFO.unpack(raw)
    return crc == _rom_crc32_le(raw[:-4]) and active == ACTIVE_OTA0


def _rom_crc32_le(data: bytes) -> int:
    """The ROM's crc32_le(0xFFFFFFFF, data), which Pycom's bootloader checks otadata with (= zlib's CRC-32 of
    four 0xFF bytes followed by the data, as Pycom's updater computes it)."""
    return binascii.crc32(b"\xff" * 4 + data)


def boot(read: Read, flash_size: int) -> Boot:
    """A hard boot from flash (`read(offset, n)`): the text the module prints and what runs."""
    word = int.from_bytes(read(BOOTLOADER_AT, 4), "little")
    try:
        loader = _validate(read, BOOTLOADER_AT, TABLE_AT - BOOTLOADER_AT)
    except _Invalid as exc:
        reason = f"invalid header: 0x{word:08x}" if word & 0xFF != MAGIC else f"bootloader image at 0x1000: {exc}"
        return Boot(False, [reason], reason=reason)
    mode = read(BOOTLOADER_AT + 2, 1)[0]
    lines = [*ROM_PREAMBLE, f"mode:{SPI_MODES[mode] if mode < len(SPI_MODES) else 'DIO'}, clock div:1"]
    lines += [f"load:0x{load:08x},len:{size}" for load, size in loader.segments]
    lines.append(f"entry 0x{loader.entry:08x}")
    return _second_stage(read, flash_size, lines)


def _second_stage(read: Read, flash_size: int, lines: list[str]) -> Boot:
    """Pycom's bootloader: partition table, otadata, then the first app image that validates."""
    millis = 40  # the 2nd stage's log timestamps ("E (40) boot: ...")

    def refuse(reason: str, log: str | None = None) -> Boot:
        lines.append(log or f"E ({millis}) boot: {reason}")
        return Boot(False, lines, reason=reason)

    try:
        table = _partition_table(read(TABLE_AT, TABLE_BYTES), flash_size)
    except _Invalid as exc:
        lines.append(f"E ({millis}) flash_parts: {exc}")
        return refuse("Failed to verify partition table")
    apps = {p.subtype: p for p in table if p.type == TYPE_APP}
    candidates = [apps.get(SUBTYPE_FACTORY), apps.get(SUBTYPE_OTA0)]
    if _ota0_active(read, table):
        candidates.reverse()
    candidates = [p for p in candidates if p is not None]
    if not candidates:
        return refuse("No bootable app partitions in the partition table")
    millis += 10
    first_failure = ""
    for part in candidates:
        try:
            image = _validate(read, part.offset, part.size)
        except _Invalid as exc:
            first_failure = first_failure or f"{part.label}: {exc}"
            what = "invalid magic byte" if str(exc).startswith("invalid magic") else str(exc)
            lines.append(f"E ({millis}) esp_image: image at 0x{part.offset:x} has {what}")
            lines.append(f"E ({millis}) boot: {part.label} app partition is not bootable")
            millis += 10
            continue
        identity = read_identity(image.data)
        if identity is None:
            return refuse(f"app at 0x{part.offset:x} has no firmware banner (unknown firmware)")
        return Boot(True, lines, part.offset, identity)
    return refuse(
        f"no valid app image ({first_failure})", f"E ({millis}) boot: No bootable app partitions in the partition table"
    )
