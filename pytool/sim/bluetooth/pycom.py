"""Pycom 1.20.2 `network.Bluetooth` rules as pure functions: constants, UUID and value encodings, advertising data.

Every rule cites reference section 4 (shared/reference/pycom-platform.txt); the device module
(firmware/device/network.py) carries the same constants for user code.
"""

from __future__ import annotations

import struct

from bumble.core import UUID

# 4.9 Constants
NEW_ADV_EVENT = 1
CLIENT_CONNECTED = 2
CLIENT_DISCONNECTED = 4
CHAR_READ_EVENT = 8
CHAR_WRITE_EVENT = 16
CHAR_NOTIFY_EVENT = 32
CHAR_INDICATE_INTERNAL = 0x40  # GATTC indications arrive with this event bit
CHAR_SUBSCRIBE_EVENT = 128
CHAR_CONFIG_NOTIFY = 1
CHAR_CONFIG_INDICATE = 2

PROP_BROADCAST = 1
PROP_READ = 2
PROP_WRITE_NR = 4
PROP_WRITE = 8
PROP_NOTIFY = 16
PROP_INDICATE = 32
PROP_AUTH = 64
PROP_EXT_PROP = 128

PERM_READ = 1
PERM_READ_ENCRYPTED = 2
PERM_READ_ENC_MITM = 4
PERM_WRITE = 16
PERM_WRITE_ENCRYPTED = 32
PERM_WRITE_ENC_MITM = 64
PERM_WRITE_SIGNED = 128
PERM_WRITE_SIGNED_MITM = 256

CONN_ADV, CONN_DIR_ADV, DISC_ADV, NON_CONN_ADV, SCAN_RSP = 0, 1, 2, 3, 4
PUBLIC_ADDR, RANDOM_ADDR, PUBLIC_RPA_ADDR, RANDOM_RPA_ADDR = 0, 1, 2, 3

TX_PWR_CONN, TX_PWR_ADV, TX_PWR_SCAN, TX_PWR_DEFAULT = 0, 9, 10, 11
TX_PWR_DBM = (-12, -9, -6, -3, 0, 3, 6, 9)  # level 0..7 (TX_PWR_N12 .. TX_PWR_P9)
TX_PWR_DEFAULT_LEVEL = 5  # IDF: "If none of power type is set, system will use ESP_PWR_LVL_P3"

# 4.1 / 4.8 limits
MTU_MAX = 200
VALUE_MAX = MTU_MAX - 3  # 197: BT_CHAR_VALUE_SIZE_MAX
RAW_ADV_MAX = 30  # set_advertisement_raw copies into uint8_t data[30]

DEFAULT_PERMISSIONS = PERM_READ | PERM_WRITE  # 0x11
SECURE_PERMISSIONS = PERM_READ_ENCRYPTED | PERM_WRITE_ENCRYPTED  # 0x22 when Bluetooth(pin=...)
DEFAULT_PROPERTIES = PROP_READ | PROP_WRITE | PROP_NOTIFY  # 0x1A
READ_PERMS = PERM_READ | PERM_READ_ENCRYPTED | PERM_READ_ENC_MITM
WRITE_PERMS = PERM_WRITE | PERM_WRITE_ENCRYPTED | PERM_WRITE_ENC_MITM | PERM_WRITE_SIGNED | PERM_WRITE_SIGNED_MITM

NOTIFY_ERROR = "Erorr while sending BLE indication/notification"  # sic, modbt.c


def uuid_from_pycom(value: int | bytes) -> UUID:
    """4.3: int <= 0xFFFF -> 16-bit, larger int -> 32-bit, 16-byte buffer -> 128-bit LITTLE-endian; else ValueError."""
    if isinstance(value, bool):
        raise ValueError("invalid arguments")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("invalid arguments")
        size = 2 if value <= 0xFFFF else 4
        return UUID.from_bytes((value & 0xFFFFFFFF).to_bytes(size, "little"))
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return UUID.from_bytes(bytes(value))
    raise ValueError("invalid arguments")


def uuid_to_pycom(uuid: UUID) -> int | bytes:
    """How a GATTC object reports a UUID (4.8): int for 16/32-bit, 16 little-endian bytes for 128-bit."""
    raw = bytes(uuid.uuid_bytes)
    return int.from_bytes(raw, "little") if len(raw) in (2, 4) else raw


def _u32_big_endian(value: int) -> bytes:
    """An int as a u32 in 1, 2 or 4 BIG-endian bytes, by magnitude."""
    value &= 0xFFFFFFFF
    if value <= 0xFF:
        return bytes([value])
    return struct.pack(">H", value) if value <= 0xFFFF else struct.pack(">I", value)


def constructor_value(value: int | bytes | None) -> bytes:
    """4.4 characteristic(value=...): int BIG-endian 1/2/4 bytes by magnitude; buffer raw (197 max); None b'\\x00'."""
    if value is None:
        return b"\x00"
    if isinstance(value, int):
        return _u32_big_endian(value)
    return bytes(value)[:VALUE_MAX]


def setter_value(value: int | bytes) -> bytes:
    """4.4 value(v): int LITTLE-endian, 1 byte if <= 0xFF else 2 (low 16 bits); buffer raw, 197 max."""
    if isinstance(value, int):
        value &= 0xFFFFFFFF
        if value <= 0xFF:
            return bytes([value])
        return struct.pack("<H", value & 0xFFFF)
    return bytes(value)[:VALUE_MAX]


def read_return_value(value: int | bytes | None, stored: bytes) -> bytes:
    """4.5 read-callback return: None -> stored value; int (u32) 1 byte / 2 or 4 bytes BIG-endian; buffer raw
    with its length in a uint8 (so > 255 bytes wraps)."""
    if value is None:
        return stored
    if isinstance(value, int):
        return _u32_big_endian(value)
    raw = bytes(value)
    return raw[: len(raw) & 0xFF]


def tx_power_dbm(level: int) -> int:
    """dBm of a TX power level 0..7."""
    if not 0 <= level <= 7:
        raise ValueError("invalid TX power level")
    return TX_PWR_DBM[level]


_BASE_UUID_LE = bytes.fromhex("FB349B5F80000080001000000000")[:12]


def _shortest_uuid(le128: bytes) -> bytes:
    """A 128-bit LE UUID on the Bluetooth base UUID shortened to 16 or 32 bits (IDF btc_gap_ble.c)."""
    if le128[:12] != _BASE_UUID_LE:
        return le128
    return le128[12:14] if le128[14:16] == b"\x00\x00" else le128[12:16]


def _ad(kind: int, payload: bytes) -> bytes:
    return bytes([len(payload) + 1, kind]) + payload


def advertising_data(name: str | None, tx_dbm: int) -> bytes:
    """4.2 set_advertisement: the advertising packet = Flags(GEN_DISC|BREDR_NOT_SPT) + device name (if given;
    shortened to what fits) + TX power + slave connection interval range 0x20..0x40 (Bluedroid's order)."""
    flags = _ad(0x01, b"\x06")
    tx = _ad(0x0A, struct.pack("b", tx_dbm))
    interval = _ad(0x12, struct.pack("<HH", 0x20, 0x40))
    out = flags
    if name:
        raw = name.encode()
        room = 31 - len(flags) - len(tx) - len(interval) - 2
        out += _ad(0x09, raw) if len(raw) <= room else _ad(0x08, raw[:room])
    return out + tx + interval


def scan_response_data(
    manufacturer_data: bytes | None, service_data: bytes | None, service_uuid: bytes | None
) -> bytes:
    """4.2: manufacturer data, service UUIDs (each 16-byte chunk a 128-bit LE UUID, shortened to 16/32-bit when
    on the Bluetooth base UUID, as IDF does) and service data go ONLY into the scan response (31 bytes max)."""
    out = b""
    if manufacturer_data:
        out += _ad(0xFF, bytes(manufacturer_data))
    if service_uuid:
        if len(service_uuid) % 16:
            raise OSError("incorrect service UUID length")
        by_size: dict[int, bytes] = {}
        for i in range(0, len(service_uuid), 16):
            raw = _shortest_uuid(bytes(service_uuid[i : i + 16]))
            by_size[len(raw)] = by_size.get(len(raw), b"") + raw
        for size, kind in ((2, 0x03), (4, 0x05), (16, 0x07)):
            if size in by_size:
                out += _ad(kind, by_size[size])
    if service_data:
        out += _ad(0x16, bytes(service_data))
    return out[:31]


def split_ad(data: bytes) -> list[tuple[int, bytes]]:
    """AD structures of advertising data (stops at a zero length or a truncated structure)."""
    out, i = [], 0
    while i < len(data):
        n = data[i]
        if n == 0 or i + 1 + n > len(data):
            break
        out.append((data[i + 1], bytes(data[i + 2 : i + 1 + n])))
        i += 1 + n
    return out
