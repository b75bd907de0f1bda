"""Firmware formats: ESP32 app images, ESP-IDF partition tables, Pycom otadata, firmware identity and the boot
decision of a Pycom module's 2nd-stage bootloader (`boot_select`), and Pycom firmware archives (reading them
safely, choosing their flash script, turning them into a list of writes).

References: shared/reference/pycom-platform.txt sections 1.1-1.5 and 3; ESP-IDF 3.3 esp_image_format.h,
esp_flash_partitions.h, esp_app_format.h. Image parsing is esptool's own (`esptool.bin_image`).
"""

from __future__ import annotations

import binascii
import hashlib
import io
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from pytool.errors import PytoolError

BOOTLOADER_OFFSET = 0x1000
PARTITION_TABLE_OFFSET = 0x8000
PARTITION_TABLE_MAX = 0xC00
APP_OFFSET = 0x10000
CONFIG_BLOCK = (0x3FF000, 0x1000)  # Pycom config block: same place on 4MB and 8MB modules, never written
IMAGE_MAGIC = 0xE9
MAX_SEGMENTS = 16
FLASH_SIZES = {0x400000: "4MB", 0x800000: "8MB"}


class FirmwareError(PytoolError):
    """A firmware file is unusable (corrupt, truncated, unsafe, wrong format)."""


# --------------------------------------------------------------------------------------------- identity


@dataclass
class FirmwareIdentity:
    """What a firmware image says it is, from its embedded version banner."""

    flavour: str  # "pycom" | "micropython"
    board_name: str  # os.uname().sysname: "LoPy4", ... ("ESP32" for stock MicroPython)
    version: str  # Pycom SW_VERSION "1.20.2.r4", or the MicroPython version "1.24.1"
    micropython: str  # MICROPY_GIT_TAG, e.g. "v1.11-ffb0e1c"
    build_date: str  # "2021-01-12"
    banner: str  # first banner line


_PYCOM_BANNER = re.compile(
    rb"Pycom MicroPython (\d[\w.\-]*) \[([^\]\x00\r\n]+)\] on (\d{4}-\d{2}-\d{2}); (\w+) with ESP32"
)
_STOCK_BANNER = re.compile(rb"MicroPython (v\d[\w.\-]*) on (\d{4}-\d{2}-\d{2}); ([^\x00\r\n;]+?) with ESP32")


def pycom_banner(version: str, micropython: str, build_date: str, board_name: str) -> str:
    """The friendly-REPL banner line of Pycom firmware (reference section 3, pyexec.c)."""
    return f"Pycom MicroPython {version} [{micropython}] on {build_date}; {board_name} with ESP32"


def stock_banner(micropython: str, build_date: str, machine: str = "Generic ESP32 module") -> str:
    """The banner line of stock MicroPython for ESP32 ("MicroPython v1.24.1 on 2024-11-29; ... with ESP32")."""
    return f"MicroPython {micropython} on {build_date}; {machine} with ESP32"


def identify(data: bytes) -> FirmwareIdentity | None:
    """Identify firmware from the version banner embedded in an image (None: no banner found)."""
    m = _PYCOM_BANNER.search(data)
    if m:
        version, tag, date, board = (g.decode("ascii", "replace") for g in m.groups())
        return FirmwareIdentity("pycom", board, version, tag, date, m.group(0).decode("ascii", "replace"))
    m = _STOCK_BANNER.search(data)
    if m:
        tag, date, _machine = (g.decode("ascii", "replace") for g in m.groups())
        version = tag[1:].split("-")[0]
        return FirmwareIdentity("micropython", "ESP32", version, tag, date, m.group(0).decode("ascii", "replace"))
    return None


# --------------------------------------------------------------------------------------------- app images


@dataclass
class ImageCheck:
    """Result of validating an ESP32 image as the 2nd-stage bootloader does."""

    ok: bool
    reason: str = ""  # why it is invalid
    length: int = 0  # bytes covered by the image (header .. checksum, + 32 if a SHA-256 is appended)
    entry: int = 0
    segments: list[tuple[int, int]] = field(default_factory=list)  # (load address, length)
    first_word: int = 0xFFFFFFFF
    data: bytes = b""


def _image_length(read: Callable[[int, int], bytes], offset: int, limit: int) -> tuple[int, int, str]:
    """Walk the segment headers of an image at `offset`: (length without digest, segment count, error)."""
    header = read(offset, 24)
    count = header[1]
    if count == 0 or count > MAX_SEGMENTS:
        return 0, count, f"invalid segment count {count}"
    pos = 24
    for index in range(count):
        if pos + 8 > limit:
            return 0, count, f"segment {index} header beyond the partition"
        _addr, size = struct.unpack("<II", read(offset + pos, 8))
        pos += 8 + size
        if pos > limit:
            return 0, count, f"segment {index} (length {size}) beyond the partition"
    pos = (pos + 16) & ~15  # checksum byte at the end of a 16-byte aligned block
    return pos, count, ""


def check_image(read: Callable[[int, int], bytes], offset: int, limit: int) -> ImageCheck:
    """Validate the ESP32 image at `offset` (at most `limit` bytes): magic, segment count, checksum, SHA-256."""
    from esptool.bin_image import ESP32FirmwareImage

    head = read(offset, 24)
    first_word = struct.unpack("<I", head[:4])[0]
    if head[0] != IMAGE_MAGIC:
        return ImageCheck(False, f"invalid magic byte 0x{head[0]:02x}", first_word=first_word)
    length, _count, error = _image_length(read, offset, limit)
    if error:
        return ImageCheck(False, error, first_word=first_word)
    hash_appended = head[23] == 1
    total = length + (32 if hash_appended else 0)
    if total > limit:
        return ImageCheck(False, "image SHA-256 beyond the partition", first_word=first_word)
    data = read(offset, total)
    try:
        image = ESP32FirmwareImage(io.BytesIO(data))
    except Exception as exc:  # esptool raises FatalError / RuntimeError / struct.error on malformed headers
        return ImageCheck(False, f"malformed image: {exc}", first_word=first_word)
    segments = [(s.addr, len(s.data)) for s in image.segments]
    if image.calculate_checksum() != image.checksum:
        return ImageCheck(
            False,
            f"checksum mismatch (calculated 0x{image.calculate_checksum():02x}, read 0x{image.checksum:02x})",
            first_word=first_word,
        )
    if hash_appended and image.stored_digest != image.calc_digest:
        return ImageCheck(False, "SHA-256 mismatch", first_word=first_word)
    return ImageCheck(True, "", total, image.entrypoint, segments, first_word, data)


def check_image_bytes(data: bytes) -> ImageCheck:
    """`check_image` on bytes in memory."""

    def read(off: int, n: int) -> bytes:
        return data[off : off + n].ljust(n, b"\xff")

    return check_image(read, 0, len(data))


# --------------------------------------------------------------------------------------------- partitions

_ENTRY = struct.Struct("<2sBBII16sI")
_ENTRY_MAGIC = b"\xaa\x50"
_MD5_MAGIC = b"\xeb\xeb"
APP, DATA = 0x00, 0x01
SUBTYPES = {
    (APP, 0x00): "factory",
    (APP, 0x10): "ota_0",
    (APP, 0x11): "ota_1",
    (DATA, 0x00): "ota",
    (DATA, 0x01): "phy",
    (DATA, 0x02): "nvs",
    (DATA, 0x81): "fat",
    (DATA, 0x82): "spiffs",
}


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
        _ENTRY.pack(_ENTRY_MAGIC, p.type, p.subtype, p.offset, p.size, p.label.encode()[:16], p.flags)
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
        if magic != _ENTRY_MAGIC:
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


# --------------------------------------------------------------------------------------------- boot


@dataclass
class BootResult:
    """What the ROM and the 2nd-stage bootloader decided at a hard boot."""

    ok: bool
    lines: list[str]  # text the ROM and 2nd-stage bootloader print (without the ROM's "rst:" header)
    app_offset: int | None
    identity: FirmwareIdentity | None
    reason: str  # why booting failed ("invalid header: 0xffffffff", "SHA-256 mismatch", ...)


_FLASH_MODES = {0: "QIO", 1: "QOUT", 2: "DIO", 3: "DOUT"}


def _rom_lines(bootloader: ImageCheck, flash_mode: int) -> list[str]:
    lines = [
        "configsip: 0, SPIWP:0xee",
        "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00",
        f"mode:{_FLASH_MODES.get(flash_mode, 'DIO')}, clock div:1",
    ]
    lines += [f"load:0x{addr:08x},len:{size}" for addr, size in bootloader.segments]
    lines.append(f"entry 0x{bootloader.entry:08x}")
    return lines


def boot_select(read: Callable[[int, int], bytes], flash_size: int) -> BootResult:
    """Decide what a Pycom module boots from its flash (`read(offset, n)`): ROM check of the bootloader at
    0x1000, partition table at 0x8000, Pycom otadata (invalid -> factory), app image validation, identity."""
    bootloader = check_image(read, BOOTLOADER_OFFSET, PARTITION_TABLE_OFFSET - BOOTLOADER_OFFSET)
    if not bootloader.ok:
        if bootloader.reason.startswith("invalid magic"):
            reason = f"invalid header: 0x{bootloader.first_word:08x}"
        else:
            reason = f"bootloader image at 0x1000: {bootloader.reason}"
        return BootResult(False, [reason], None, None, reason)
    lines = _rom_lines(bootloader, read(BOOTLOADER_OFFSET + 2, 1)[0])
    clock = 40  # 2nd-stage log timestamps (ms), as ESP-IDF's "E (ms) tag: ..." lines

    def fail(tag: str, reason: str) -> BootResult:
        lines.append(f"E ({clock}) {tag}: {reason}")
        return BootResult(False, lines, None, None, reason)

    try:
        parts = parse_partition_table(read(PARTITION_TABLE_OFFSET, PARTITION_TABLE_MAX), flash_size)
    except FirmwareError as exc:
        lines.append(f"E ({clock}) flash_parts: {exc}")
        return fail("boot", "Failed to verify partition table")
    apps = {p.subtype: p for p in parts if p.type == APP}
    factory, ota0 = apps.get(0x00), apps.get(0x10)
    otadata = find_partition(parts, DATA, 0x00)
    order: list[Partition] = []
    if otadata is not None:
        info = parse_boot_info(read(otadata.offset, 40))
        if info is None:  # erased/corrupt: the bootloader re-initialises it to factory/READY
            info = BootInfo()
        if info.active_img == ACTIVE_OTA0 and ota0 is not None:
            order.append(ota0)
    order += [p for p in (factory, ota0) if p is not None and p not in order]
    if not order:
        return fail("boot", "No bootable app partitions in the partition table")
    clock += 10
    failures: list[str] = []
    for part in order:
        check = check_image(read, part.offset, part.size)
        if check.ok:
            identity = identify(check.data)
            if identity is None:
                return fail("boot", f"app at 0x{part.offset:x} has no firmware banner (unknown firmware)")
            return BootResult(True, lines, part.offset, identity, "")
        failures.append(f"{part.label}: {check.reason}")
        what = "invalid magic byte" if check.reason.startswith("invalid magic") else check.reason
        lines.append(f"E ({clock}) esp_image: image at 0x{part.offset:x} has {what}")
        lines.append(f"E ({clock}) boot: {part.label} app partition is not bootable")
        clock += 10
    reason = f"no valid app image ({failures[0]})"
    lines.append(f"E ({clock}) boot: No bootable app partitions in the partition table")
    return BootResult(False, lines, None, None, reason)
