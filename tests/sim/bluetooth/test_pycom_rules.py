"""Pycom's encodings and advertising layout (reference 4.2-4.5), as pure functions."""

from __future__ import annotations

import pytest
from bumble.core import UUID

from pytool.sim.bluetooth import pycom


def test_uuid_encodings():
    assert pycom.uuid_from_pycom(1234) == UUID.from_16_bits(1234)
    assert bytes(pycom.uuid_from_pycom(0x12345678).uuid_bytes) == (0x12345678).to_bytes(4, "little")
    # a 16-byte buffer is taken as a LITTLE-endian 128-bit UUID: the docs' b'1234567890123456'
    assert str(pycom.uuid_from_pycom(b"1234567890123456")).lower() == "36353433-3231-3039-3837-363534333231"
    for bad in (b"abc123", b"x" * 17, -1, True):
        with pytest.raises(ValueError, match="invalid arguments"):
            pycom.uuid_from_pycom(bad)
    assert pycom.uuid_to_pycom(UUID.from_16_bits(0x2A00)) == 0x2A00


def test_value_encodings_are_inconsistent_as_on_the_board():
    # constructor: big-endian by magnitude
    assert pycom.constructor_value(5) == b"\x05"
    assert pycom.constructor_value(0x1234) == b"\x12\x34"
    assert pycom.constructor_value(0x123456) == b"\x00\x12\x34\x56"
    assert pycom.constructor_value(None) == b"\x00"
    # value(int): little-endian, 16 bits at most
    assert pycom.setter_value(0x12) == b"\x12"
    assert pycom.setter_value(0x1234) == b"\x34\x12"
    assert pycom.setter_value(0x12345678) == b"\x78\x56"
    # read-callback return: big-endian 1/2/4 bytes, buffers raw, None = stored
    assert pycom.read_return_value(0xF2, b"s") == b"\xf2"
    assert pycom.read_return_value(0x1F2, b"s") == b"\x01\xf2"
    assert pycom.read_return_value(-1, b"s") == b"\xff\xff\xff\xff"
    assert pycom.read_return_value(b"ABC DEF", b"s") == b"ABC DEF"
    assert pycom.read_return_value(None, b"stored") == b"stored"
    assert len(pycom.read_return_value(bytes(300), b"")) == 300 - 256  # uint8 length wraps


def test_values_truncate_at_197_bytes():
    assert len(pycom.constructor_value(bytes(250))) == 197
    assert len(pycom.setter_value(bytes(250))) == 197


def test_advertisement_layout():
    adv = pycom.advertising_data("LoPy", 3)
    assert pycom.split_ad(adv) == [(0x01, b"\x06"), (0x09, b"LoPy"), (0x0A, b"\x03"), (0x12, b"\x20\x00\x40\x00")]
    assert len(adv) <= 31
    long = pycom.advertising_data("A" * 40, 3)
    assert len(long) == 31 and pycom.split_ad(long)[1][0] == 0x08  # shortened name
    assert [t for t, _ in pycom.split_ad(pycom.advertising_data(None, 3))] == [0x01, 0x0A, 0x12]

    rsp = pycom.scan_response_data(b"\x4c\x00\x01", b"\x0d\x18\x64", b"1234567890123456")
    assert pycom.split_ad(rsp) == [(0xFF, b"\x4c\x00\x01"), (0x07, b"1234567890123456"), (0x16, b"\x0d\x18\x64")]
    base_180d = bytes.fromhex("0000180d00001000800000805f9b34fb")[::-1]
    assert pycom.split_ad(pycom.scan_response_data(None, None, base_180d)) == [(0x03, b"\x0d\x18")]
    with pytest.raises(OSError, match="incorrect service UUID length"):
        pycom.scan_response_data(None, None, b"12345")
