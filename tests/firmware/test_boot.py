"""boot_select on flash contents made from built firmware: what a Pycom module's bootloader decides."""

from __future__ import annotations

import hashlib
import struct

import pytest
from support.firmware import built

from pytool.boards import layouts
from pytool.firmware import (
    ACTIVE_OTA0,
    STATUS_CHECK,
    BootInfo,
    boot_select,
    build_partition_table,
    check_image_bytes,
    parse_boot_info,
    parse_partition_table,
)
from pytool.firmware.build import build_micropython_image, pycom_partitions

SIZE_8MB = 0x800000


class Flash:
    """A flash chip in memory, erased to 0xFF."""

    def __init__(self, size: int = SIZE_8MB) -> None:
        self.size = size
        self.data = bytearray(b"\xff" * size)

    def write(self, offset: int, data: bytes) -> None:
        self.data[offset : offset + len(data)] = data

    def read(self, offset: int, n: int) -> bytes:
        return bytes(self.data[offset : offset + n])

    def boot(self):
        return boot_select(self.read, self.size)


def flashed(board: str = "lopy4", version: str = "1.20.2.r4") -> Flash:
    files = built(board, version)
    layout = "8MB" if "partitions_8MB.bin" in files else "4MB"
    flash = Flash(SIZE_8MB if layout == "8MB" else 0x400000)
    flash.write(0x1000, files["bootloader.bin"])
    flash.write(0x8000, files[f"partitions_{layout}.bin"])
    flash.write(0x10000, next(d for n, d in files.items() if n.endswith(".bin") and n[0] not in "bp"))
    return flash


def test_valid_pycom_firmware_boots_and_is_identified():
    result = flashed().boot()
    assert result.ok, result.reason
    assert result.app_offset == 0x10000
    ident = result.identity
    assert (ident.flavour, ident.board_name, ident.version) == ("pycom", "LoPy4", "1.20.2.r4")
    assert ident.micropython == "v1.11-ffb0e1c" and ident.build_date == "2021-01-12"
    assert ident.banner == "Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32"
    assert result.lines[-1].startswith("entry 0x")


def test_erased_flash_is_the_rom_invalid_header_loop():
    result = Flash().boot()
    assert not result.ok
    assert result.reason == "invalid header: 0xffffffff"
    assert result.lines == ["invalid header: 0xffffffff"]
    assert result.identity is None and result.app_offset is None


def test_bad_app_magic_is_not_bootable():
    flash = flashed()
    flash.write(0x10000, b"\x00")  # NOR flash can only clear bits: a real partial overwrite
    result = flash.boot()
    assert not result.ok
    assert "invalid magic" in result.reason
    assert any("esp_image: image at 0x10000 has invalid magic byte" in line for line in result.lines)


def test_bad_checksum_detected():
    app = bytearray(built()["lopy4.bin"])
    check = check_image_bytes(bytes(app))
    assert check.ok
    # flip one byte inside the first segment's data: checksum (and SHA) no longer match
    app[24 + 8 + 300] ^= 0x01
    flash = flashed()
    flash.write(0x10000, bytes(app))
    result = flash.boot()
    assert not result.ok and "checksum mismatch" in result.reason


def test_bad_sha256_detected():
    app = bytearray(built()["lopy4.bin"])
    app[-1] ^= 0xFF  # last byte of the appended digest
    flash = flashed()
    flash.write(0x10000, bytes(app))
    result = flash.boot()
    assert not result.ok and result.reason.endswith("SHA-256 mismatch)")


def test_otadata_selects_ota_0():
    flash = flashed()
    layout = layouts()["8MB"]
    other = built("lopy4", "1.20.1")["lopy4.bin"]
    flash.write(layout.ota_0.offset, other)
    flash.write(layout.otadata.offset, BootInfo(active_img=ACTIVE_OTA0, status=STATUS_CHECK).pack())
    result = flash.boot()
    assert result.ok
    assert result.app_offset == layout.ota_0.offset
    assert result.identity.version == "1.20.1"


def test_crc_invalid_otadata_boots_factory():
    flash = flashed()
    layout = layouts()["8MB"]
    flash.write(layout.ota_0.offset, built("lopy4", "1.20.1")["lopy4.bin"])
    packed = bytearray(BootInfo(active_img=ACTIVE_OTA0).pack())
    packed[-1] ^= 0x55
    assert parse_boot_info(bytes(packed)) is None
    flash.write(layout.otadata.offset, bytes(packed))
    result = flash.boot()
    assert result.ok and result.app_offset == 0x10000
    assert result.identity.version == "1.20.2.r4"


def test_otadata_matches_pycom_updater_format():
    # updater.py set_ota: struct.pack('<5I16s', ...) + crc32(b'\xff'*4 + data) (reference 1.4)
    import binascii

    body = struct.pack("<5I16s", 1, 0, 0, 0, 0, b"\0" * 16)
    expected = body + struct.pack("<I", binascii.crc32(b"\xff" * 4 + body) & 0xFFFFFFFF)
    assert BootInfo(active_img=1, status=0).pack() == expected
    assert len(expected) == 40


def test_partition_table_md5_and_layout():
    raw = built()["partitions_8MB.bin"]
    parts = parse_partition_table(raw, SIZE_8MB)
    assert [(p.label, p.offset, p.size) for p in parts] == [
        ("nvs", 0x9000, 0x7000),
        ("factory", 0x10000, 0x1EF000),
        ("otadata", 0x1FF000, 0x1000),
        ("ota_0", 0x210000, 0x1EF000),
        ("config", 0x3FF000, 0x1000),
    ]
    md5_entry = raw[len(parts) * 32 : len(parts) * 32 + 32]
    assert md5_entry[:2] == b"\xeb\xeb" and md5_entry[16:] == hashlib.md5(raw[: len(parts) * 32]).digest()
    corrupt = bytearray(raw)
    corrupt[40] ^= 1
    flash = flashed()
    flash.write(0x8000, b"\xff" * 0xC00)
    flash.data[0x8000 : 0x8000 + 0xC00] = corrupt
    result = flash.boot()
    assert not result.ok and "partition table" in result.reason


def test_4mb_table_has_fs_and_fits():
    parts = parse_partition_table(build_partition_table(pycom_partitions(layouts()["4MB"])), 0x400000)
    assert ("fs", 0x380000, 0x7F000) in [(p.label, p.offset, p.size) for p in parts]
    with pytest.raises(Exception, match="beyond"):
        parse_partition_table(build_partition_table(pycom_partitions(layouts()["8MB"])), 0x200000)


def test_stock_micropython_merged_image():
    image = build_micropython_image("1.24.1")
    flash = Flash(0x400000)
    flash.write(0x1000, image)
    result = flash.boot()
    assert result.ok and result.app_offset == 0x10000
    ident = result.identity
    assert (ident.flavour, ident.board_name, ident.version, ident.micropython) == (
        "micropython",
        "ESP32",
        "1.24.1",
        "v1.24.1",
    )


@pytest.mark.parametrize("board", ["wipy2", "lopy", "sipy", "gpy", "fipy"])
def test_every_pycom_board_boots_its_own_name(board):
    from pytool.boards import get_board

    result = flashed(board).boot()
    assert result.ok, result.reason
    assert result.identity.board_name == get_board(board).name
