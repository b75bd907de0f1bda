"""The ROM loader and stub protocol at frame level (what esptool's own tests cannot show: error replies)."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytool.sim import rom
from pytool.sim.flash_image import FlashImage

SIZE = 0x400000


class Wire:
    """A RomLoader with the host side of the UART: send commands, decode replies."""

    def __init__(self, flash: FlashImage) -> None:
        self.out = bytearray()
        self.loader = rom.RomLoader(flash, rom.Efuse(bytes.fromhex("30aea4010203"), 1), self.out.extend)
        self.decoder = rom.SlipDecoder()

    def command(self, op: int, data: bytes = b"", checksum: int = 0) -> list[bytes]:
        self.out.clear()
        self.loader.feed(rom.slip_encode(struct.pack("<BBHI", 0, op, len(data), checksum) + data))
        return self.decoder.feed(bytes(self.out))

    def reply(self, op: int, data: bytes = b"", checksum: int = 0) -> tuple[int, bytes, bytes]:
        """(value, data, status) of the single reply."""
        (frame,) = self.command(op, data, checksum)
        direction, rop, length, value = struct.unpack("<BBHI", frame[:8])
        assert (direction, rop, length) == (1, op, len(frame) - 8)
        body = frame[8:]
        n = 2 if self.loader.stub else 4
        return value, body[:-n], body[-n:]

    def start_stub(self) -> None:
        self.reply(rom.MEM_BEGIN, struct.pack("<IIII", 4, 1, 0x1800, 0x40080000))
        code = b"\x01\x02\x03\x04"
        self.reply(rom.MEM_DATA, struct.pack("<IIII", 4, 0, 0, 0) + code, rom._xor_checksum(code))
        frames = self.command(rom.MEM_END, struct.pack("<II", 0, 0x40080000))
        assert frames[-1] == b"OHAI"
        assert self.loader.stub


@pytest.fixture
def wire(tmp_path):
    with FlashImage(tmp_path / "f.bin", SIZE) as flash:
        yield Wire(flash)


SYNC_DATA = b"\x07\x07\x12\x20" + b"\x55" * 32


def test_sync_gets_eight_replies_rom_nonzero_stub_zero(wire):
    frames = wire.command(rom.SYNC, SYNC_DATA)
    assert len(frames) == 8
    assert all(struct.unpack("<I", f[4:8])[0] != 0 for f in frames)
    wire.start_stub()
    frames = wire.command(rom.SYNC, SYNC_DATA)
    assert len(frames) == 8
    assert all(struct.unpack("<I", f[4:8])[0] == 0 for f in frames)


def test_unknown_commands_are_refused_like_the_rom_and_the_stub(wire):
    assert wire.reply(0x55)[2] == b"\x01\x05\x00\x00"  # ROM: status 1, error 0x05
    assert wire.reply(rom.ERASE_FLASH)[2] == b"\x01\x05\x00\x00"  # stub-only command before the stub runs
    wire.start_stub()
    assert wire.reply(0x55)[2] == b"\xff\x00"  # stub: "command not implemented"


def test_chip_magic_and_mac_from_efuse(wire):
    assert wire.reply(rom.READ_REG, struct.pack("<I", rom.CHIP_DETECT_MAGIC_REG))[0] == 0x00F01D83
    word1 = wire.reply(rom.READ_REG, struct.pack("<I", rom.EFUSE_BASE + 4))[0]
    word2 = wire.reply(rom.READ_REG, struct.pack("<I", rom.EFUSE_BASE + 8))[0]
    packed = struct.pack(">II", word2, word1)
    assert packed[2:8] == bytes.fromhex("30aea4010203")  # esptool's read_mac
    assert packed[1] == rom.mac_crc8(bytes.fromhex("30aea4010203"))


def test_bad_data_checksum_is_rejected_and_nothing_is_written(wire):
    wire.reply(rom.SPI_SET_PARAMS, struct.pack("<IIIIII", 0, SIZE, 0x10000, 0x1000, 0x100, 0xFFFF))
    assert wire.reply(rom.FLASH_BEGIN, struct.pack("<IIII", 0x400, 1, 0x400, 0x2000))[2] == b"\x00" * 4
    block = b"\x00" * 0x400
    status = wire.reply(rom.FLASH_DATA, struct.pack("<IIII", 0x400, 0, 0, 0) + block, checksum=0x12)[2]
    assert status == b"\x01\x07\x00\x00"
    assert wire.loader.flash.read(0x2000, 0x400) == b"\xff" * 0x400


def test_rom_refuses_beyond_2mb_until_spi_set_params(wire):
    assert wire.reply(rom.FLASH_BEGIN, struct.pack("<IIII", 0x1000, 4, 0x400, 0x300000))[2][:2] == b"\x01\x08"
    wire.reply(rom.SPI_SET_PARAMS, struct.pack("<IIIIII", 0, SIZE, 0x10000, 0x1000, 0x100, 0xFFFF))
    assert wire.reply(rom.FLASH_BEGIN, struct.pack("<IIII", 0x1000, 4, 0x400, 0x300000))[2] == b"\x00" * 4


def test_stub_deflate_write_with_slip_escapes_and_md5(wire):
    wire.start_stub()
    data = (b"\xc0\xdb" * 3000) + bytes(range(256)) * 20
    packed = zlib.compress(data)
    assert wire.reply(rom.FLASH_DEFL_BEGIN, struct.pack("<IIIII", len(data), 1, 0x4000, 0x10000, 0))[2] == b"\0\0"
    payload = struct.pack("<IIII", len(packed), 0, 0, 0) + packed
    assert wire.reply(rom.FLASH_DEFL_DATA, payload, rom._xor_checksum(packed))[2] == b"\0\0"
    assert wire.reply(rom.FLASH_DEFL_END, struct.pack("<I", 1))[2] == b"\0\0"
    _, digest, status = wire.reply(rom.SPI_FLASH_MD5, struct.pack("<IIII", 0x10000, len(data), 0, 0))
    assert status == b"\0\0"
    assert digest == hashlib.md5(data).digest()


def test_stub_read_flash_waits_for_acknowledgements(wire):
    wire.loader.flash.write(0, bytes(range(256)) * 64)  # 16 KB
    wire.start_stub()
    frames = wire.command(rom.READ_FLASH, struct.pack("<IIII", 0, 0x4000, 0x1000, 2))
    assert len(frames) == 3  # the reply, then only two 4 KB blocks in flight
    wire.out.clear()
    wire.loader.feed(rom.slip_encode(struct.pack("<I", 0x1000)))
    assert len(wire.decoder.feed(bytes(wire.out))) == 1  # one more block
    wire.out.clear()
    for total in (0x2000, 0x3000, 0x4000):
        wire.loader.feed(rom.slip_encode(struct.pack("<I", total)))
    frames = wire.decoder.feed(bytes(wire.out))
    assert frames[-1] == hashlib.md5(bytes(range(256)) * 64).digest()


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=5), noise=st.binary(max_size=16))
def test_slip_frames_survive_any_bytes_and_leading_noise(frames, noise):
    stream = noise.replace(b"\xc0", b"") + b"".join(rom.slip_encode(f) for f in frames)
    decoder = rom.SlipDecoder()
    got = []
    for i in range(0, len(stream), 7):  # arbitrary read boundaries
        got += decoder.feed(stream[i : i + 7])
    assert got == frames
