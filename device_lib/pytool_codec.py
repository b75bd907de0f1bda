# pytool_codec: typed characteristic values, UUIDs and firmware releases for pytool_gatt (pure functions).
# MicroPython 1.11 grammar (Pycom 1.20.x). Kept apart from pytool_gatt so each compiles in a small heap.
try:
    import ustruct as struct
except ImportError:
    import struct
try:
    import ubinascii as binascii
except ImportError:
    import binascii

MAX_VALUE = 197  # BT_CHAR_VALUE_SIZE_MAX on Pycom 1.20.x
_BASE_TAIL = "00001000800000805f9b34fb"  # Bluetooth base UUID xxxxxxxx-0000-1000-8000-00805f9b34fb
_INTS = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i"}


class GattError(Exception):
    """A declaration or a call the helper refuses (the message says what to change)."""


# ---------------------------------------------------------------- firmware


def parse_release(release):
    """'1.20.2.rc2' -> (1, 20, 2, 1, 2): kind 0 = beta, 1 = release candidate, 2 = release ('.rN' or none)."""
    parts = release.split(".")
    nums = [int(p) for p in parts[:3]]
    while len(nums) < 3:
        nums.append(0)
    kind, n = 2, 0
    if len(parts) > 3:
        tag = parts[3]
        for prefix, k in (("rc", 1), ("r", 2), ("b", 0)):
            if tag.startswith(prefix) and tag[len(prefix) :].isdigit():
                kind, n = k, int(tag[len(prefix) :])
                break
        else:
            raise ValueError("unknown release tag: %s" % release)
    return (nums[0], nums[1], nums[2], kind, n)


def release():
    """Pycom firmware release from os.uname(), e.g. '1.20.2.r4'; None on a port without os.uname()."""
    try:
        import uos as os
    except ImportError:
        import os
    try:
        return os.uname().release
    except AttributeError:
        return None


def tuple_handlers(rel=None):
    """True if the firmware calls characteristic handlers as handler(arg, (event, data)) (>= 1.20.2.rc2),
    False if as handler(arg) (older), None if unknown. The helper works either way; this is information."""
    rel = release() if rel is None else rel
    if rel is None:
        return None
    try:
        return parse_release(rel) >= (1, 20, 2, 1, 2)
    except ValueError:
        return None


# ---------------------------------------------------------------- values and UUIDs


def _int_format(fmt):
    # 'u16le' -> '<H'; 'u8' -> 'B'; None if fmt is not an integer format
    if fmt in ("u8", "i8"):
        return _INTS[fmt]
    code = _INTS.get(fmt[:-2])
    if code is None or fmt[-2:] not in ("le", "be"):
        return None
    return ("<" if fmt[-2:] == "le" else ">") + code


def check_format(fmt):
    """Raise GattError unless fmt is one of bytes, utf8, u8, i8, u16le/be, i16le/be, u32le/be, i32le/be."""
    if fmt not in ("bytes", "utf8") and _int_format(fmt) is None:
        raise GattError("unknown value format %r: use bytes, utf8, u8, i8 or u16/i16/u32/i32 + le/be" % (fmt,))


def encode(fmt, value):
    """Typed value -> bytes, refusing what would be stored wrongly (out of range, too long)."""
    check_format(fmt)
    if fmt == "bytes":
        if not isinstance(value, (bytes, bytearray)):
            raise GattError("a bytes characteristic needs bytes, not %r" % (value,))
        data = bytes(value)
    elif fmt == "utf8":
        if not isinstance(value, str):
            raise GattError("a utf8 characteristic needs a str, not %r" % (value,))
        data = value.encode("utf-8")
    else:
        if not isinstance(value, int) or isinstance(value, bool):
            raise GattError("a %s characteristic needs an int, not %r" % (fmt, value))
        code = _int_format(fmt)
        bits = 8 * struct.calcsize(code)
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if fmt[0] == "i" else (0, (1 << bits) - 1)
        if not low <= value <= high:
            raise GattError("%d does not fit in %s (%d..%d)" % (value, fmt, low, high))
        data = struct.pack(code, value)
    if len(data) > MAX_VALUE:
        raise GattError("value of %d bytes is longer than the %d the firmware keeps" % (len(data), MAX_VALUE))
    return data


def decode(fmt, data):
    """bytes -> typed value; GattError if they do not fit the format."""
    check_format(fmt)
    data = bytes(data)
    if fmt == "bytes":
        return data
    if fmt == "utf8":
        try:
            return data.decode("utf-8")
        except UnicodeError:
            raise GattError("not utf-8: %r" % (data,))
    code = _int_format(fmt)
    if len(data) != struct.calcsize(code):
        raise GattError("%s needs %d bytes, got %d" % (fmt, struct.calcsize(code), len(data)))
    return struct.unpack(code, data)[0]


def uuid(value):
    """UUID for network.Bluetooth: int for 16/32-bit ones (also Bluetooth-base 128-bit strings),
    else the 16 little-endian bytes Pycom expects ('6e400001-b5a3-...' -> b'\\x9e\\xca...\\x6e')."""
    if isinstance(value, int):
        if 0 <= value <= 0xFFFFFFFF:
            return value
        raise GattError("UUID int out of range: %r" % (value,))
    if isinstance(value, (bytes, bytearray)):
        if len(value) == 16:
            return bytes(value)
        raise GattError("a UUID given as bytes must be 16 little-endian bytes, got %d" % len(value))
    if not isinstance(value, str):
        raise GattError("bad UUID: %r" % (value,))
    text = value.replace("-", "").lower()
    try:
        if len(text) in (4, 8):
            return int(text, 16)
        if len(text) == 32:
            if text[8:] == _BASE_TAIL:
                return int(text[:8], 16)
            return bytes(reversed(binascii.unhexlify(text)))
    except ValueError:
        pass
    raise GattError("bad UUID %r: use 4, 8 or 32 hex digits (dashes allowed)" % (value,))


def uuid128(value):
    """16 little-endian bytes of any UUID (16/32-bit ones expanded on the Bluetooth base UUID)."""
    u = uuid(value)
    if isinstance(u, int):
        return bytes(reversed(binascii.unhexlify("%08x%s" % (u, _BASE_TAIL))))
    return u
