"""ESP32 app images as the ROM and the 2nd-stage bootloader check them: magic, segments, checksum and the
appended SHA-256 (ESP-IDF 3.3 esp_image_format.h; parsing is esptool's own `esptool.bin_image`). Also the
flash layout constants every other firmware module uses and `FirmwareError`."""

from __future__ import annotations

import io
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
