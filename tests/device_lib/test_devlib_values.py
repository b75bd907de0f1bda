"""Typed values, UUIDs and firmware-release detection of pytool_gatt, on the real MicroPython interpreter."""

from __future__ import annotations

import json
import struct
import uuid

import pytest
from devlib_mp import run_micropython
from hypothesis import given, settings
from hypothesis import strategies as st

CASES = [  # (fmt, value) pairs checked against CPython's struct
    ("u8", 0),
    ("u8", 255),
    ("i8", -128),
    ("u16le", 0x1234),
    ("u16be", 0x1234),
    ("i16le", -2),
    ("i16be", -2),
    ("u32le", 0x12345678),
    ("u32be", 0x12345678),
    ("i32le", -(2**31)),
    ("i32be", 2**31 - 1),
]
STRUCT = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i"}


def _struct_code(fmt: str) -> str:
    if fmt in ("u8", "i8"):
        return STRUCT[fmt]
    return ("<" if fmt.endswith("le") else ">") + STRUCT[fmt[:-2]]


def test_int_formats_have_explicit_endianness(mp):
    got = mp.json(
        f"""
        import json, pytool_gatt as g
        out = []
        for fmt, v in {CASES!r}:
            b = g.encode(fmt, v)
            out.append([b.hex() if hasattr(b, "hex") else "", g.decode(fmt, b)])
        print(json.dumps(out))
        """
    )
    for (fmt, value), (hexed, back) in zip(CASES, got, strict=True):
        assert bytes.fromhex(hexed) == struct.pack(_struct_code(fmt), value), fmt
        assert back == value
    assert got[3][0] == "3412" and got[4][0] == "1234"  # u16le vs u16be, spelled out


def test_text_and_bytes_round_trip(mp):
    got = mp.json(
        """
        import json, pytool_gatt as g
        print(json.dumps([g.encode("utf8", "h\\u00e9llo").hex(), g.decode("utf8", b"h\\xc3\\xa9llo"),
                          g.encode("bytes", bytearray(b"\\x00\\xff")).hex(), len(g.encode("bytes", bytes(197)))]))
        """
    )
    assert got == ["68c3a96c6c6f", "héllo", "00ff", 197]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('g.encode("u8", 256)', "256 does not fit in u8 (0..255)"),
        ('g.encode("u16le", -1)', "-1 does not fit in u16le (0..65535)"),
        ('g.encode("i16be", 40000)', "40000 does not fit in i16be (-32768..32767)"),
        ('g.encode("u32be", 1 << 32)', "4294967296 does not fit in u32be (0..4294967295)"),
        ('g.encode("u16le", "7")', "a u16le characteristic needs an int, not '7'"),
        ('g.encode("u16le", True)', "a u16le characteristic needs an int, not True"),
        ('g.encode("utf8", b"x")', "a utf8 characteristic needs a str, not b'x'"),
        ('g.encode("bytes", "x")', "a bytes characteristic needs bytes, not 'x'"),
        ('g.encode("bytes", bytes(198))', "value of 198 bytes is longer than the 197 the firmware keeps"),
        ('g.encode("u16", 1)', "unknown value format 'u16'"),
        ('g.decode("u16be", b"\\x01")', "u16be needs 2 bytes, got 1"),
        ('g.decode("utf8", b"\\xff")', "not utf-8: b'\\xff'"),
    ],
)
def test_refuses_values_it_would_store_wrongly(mp, call, message):
    out = mp(
        f"""
        import pytool_gatt as g
        try:
            {call}
            print("accepted")
        except g.GattError as e:
            print(e)
        """
    )
    assert out.strip().startswith(message)


UUIDS = [
    "6e400001-b5a3-f393-e0a9-e50e24dcca9e",
    "7079746F-6F6C-7072-6F62-650000000001",
    "000102030405060708090a0b0c0d0e0f",
]


def test_string_uuids_become_little_endian_buffers(mp):
    got = mp.json(
        f"""
        import json, pytool_gatt as g
        out = [g.uuid(u).hex() for u in {UUIDS!r}]
        out += [g.uuid("180f"), g.uuid("0000180F-0000-1000-8000-00805f9b34fb"), g.uuid(0x2A19), g.uuid("12345678")]
        out.append(g.uuid128(0x180F).hex())
        out.append(g.uuid(bytes(range(16))).hex())
        print(json.dumps(out))
        """
    )
    for text, hexed in zip(UUIDS, got[:3], strict=True):
        assert bytes.fromhex(hexed) == uuid.UUID(text).bytes[::-1]  # fully reversed, as Pycom and Bumble store it
    assert got[3:7] == [0x180F, 0x180F, 0x2A19, 0x12345678]
    assert bytes.fromhex(got[7]) == uuid.UUID("0000180f-0000-1000-8000-00805f9b34fb").bytes[::-1]
    assert got[8] == bytes(range(16)).hex()


@pytest.mark.parametrize("bad", ['"abc123"', '"6e400001-b5a3-f393-e0a9-e50e24dcca9"', '"zz0f"', "b'short'", "1 << 40"])
def test_bad_uuids_are_refused(mp, bad):
    out = mp(
        f"""
        import pytool_gatt as g
        try:
            print(g.uuid({bad}))
        except g.GattError as e:
            print("refused:", e)
        """
    )
    assert out.startswith("refused: ")


RELEASES = {
    "1.18.2.r3": False,
    "1.20.0.rc13": False,
    "1.20.1": False,
    "1.20.1.r2": False,
    "1.20.2.b1": False,
    "1.20.2.rc1": False,
    "1.20.2.rc2": True,
    "1.20.2.rc10": True,
    "1.20.2": True,
    "1.20.2.r4": True,
    "1.20.2.r6": True,
    "1.22.0": True,
    "1.20.2.weird": None,
}


def test_handler_convention_from_release(mp):
    got = mp.json(
        f"""
        import json, pytool_gatt as g
        print(json.dumps([[r, g.tuple_handlers(r)] for r in {list(RELEASES)!r}] + [g.release()]))
        """
    )
    assert dict(got[:-1]) == RELEASES
    assert got[-1] is None  # the unix port has no os.uname(): unknown, and the adapter handles both anyway


RANGES = {"u8": (0, 255), "i8": (-128, 127), "u16": (0, 2**16 - 1), "i16": (-(2**15), 2**15 - 1)}
RANGES |= {"u32": (0, 2**32 - 1), "i32": (-(2**31), 2**31 - 1)}
INT_FORMATS = ["u8", "i8"] + [f"{k}{e}" for k in ("u16", "i16", "u32", "i32") for e in ("le", "be")]


@st.composite
def typed_values(draw):
    fmt = draw(st.sampled_from(INT_FORMATS))
    low, high = RANGES[fmt if fmt in RANGES else fmt[:-2]]
    return fmt, draw(st.integers(low, high))


@settings(max_examples=10, deadline=None)
@given(values=st.lists(typed_values(), min_size=1, max_size=40))
def test_every_int_format_round_trips_like_struct(tmp_path_factory, values):
    out = run_micropython(
        f"""
        import json, pytool_gatt as g
        print(json.dumps([[g.encode(f, v).hex(), g.decode(f, g.encode(f, v))] for f, v in {values!r}]))
        """,
        tmp_path_factory.mktemp("mp"),
    )
    got = json.loads(out.strip().splitlines()[-1])
    for (fmt, value), (hexed, back) in zip(values, got, strict=True):
        assert bytes.fromhex(hexed) == struct.pack(_struct_code(fmt), value) and back == value
