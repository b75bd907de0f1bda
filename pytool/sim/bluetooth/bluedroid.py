"""The GATT services Bluedroid itself serves on a Pycom board (ESP-IDF 3.x, Pycom's IDF 3394ee5), in place of
Bumble's defaults.

Bumble's server starts with its own GAP service (Device Name, Appearance) and GATT service (Service Changed,
Client Supported Features 0x2B29, Database Hash 0x2B2A) at handles 1..13; a Pycom board shows what Bluedroid
registers at stack start, at Bluedroid's fixed handle ranges (stack/gatt/include/gatt_int.h:
GATT_GATT_START_HANDLE 1, GATT_GAP_START_HANDLE 20, GATT_APP_START_HANDLE 40):

- 0x1801 Generic Attribute, handles 1..5 (gatt_attr.c gatt_profile_db_init, GATTP_MAX_ATTR_NUM 5): Service
  Changed 0x2A05 (indicate, no read/write permission) with its CCCD. IDF 3.x has no robust caching, so no
  Client Supported Features or Database Hash.
- 0x1800 Generic Access, handles 20..28 (gap_ble.c gap_attr_db_init, GAP_MAX_CHAR_NUM 4): Device Name 0x2A00,
  Appearance 0x2A01 (0x0000) and Central Address Resolution 0x2AA6 (0x00), all read-only (writes get
  WRITE_NOT_PERMITTED, gap_proc_write_req); the Peripheral Preferred Connection Parameters characteristic is
  compiled only with BTM_PERIPHERAL_ENABLED, which IDF does not set.
- Application services (modbt's) from handle 40 on (gatts.py).
"""

from __future__ import annotations

import struct

from bumble import att
from bumble.core import UUID
from bumble.gatt import (
    GATT_APPEARANCE_CHARACTERISTIC,
    GATT_CHARACTERISTIC_ATTRIBUTE_TYPE,
    GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
    GATT_DEVICE_NAME_CHARACTERISTIC,
    GATT_GENERIC_ACCESS_SERVICE,
    GATT_GENERIC_ATTRIBUTE_SERVICE,
    GATT_PRIMARY_SERVICE_ATTRIBUTE_TYPE,
    GATT_SERVICE_CHANGED_CHARACTERISTIC,
    Characteristic,
)
from bumble.gatt_server import Server

GATT_START_HANDLE = 1
GATT_NUM_HANDLES = 5
GAP_START_HANDLE = 20
GAP_NUM_HANDLES = 9
APP_START_HANDLE = 40
CENTRAL_ADDRESS_RESOLUTION = UUID.from_16_bits(0x2AA6, "Central Address Resolution")

_P = Characteristic.Properties
_READ = att.Attribute.Permissions.READABLE
_OPEN = att.Attribute.Permissions.READABLE | att.Attribute.Permissions.WRITEABLE


def _refuse_read(_connection: object) -> bytes:
    raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR)


def _refuse_write(_connection: object, _value: bytes) -> None:
    raise att.ATT_Error(att.ATT_WRITE_NOT_PERMITTED_ERROR)


class ReadOnlyAttribute(att.Attribute):
    """A value Bluedroid answers reads of and refuses writes to, whatever `value` is later set to (the board sets
    the Device Name's value when the advertised name changes)."""

    async def write_value(self, *_args: object, **_kwargs: object) -> None:
        raise att.ATT_Error(att.ATT_WRITE_NOT_PERMITTED_ERROR, att_handle=self.handle)


def _service(handle: int, count: int, uuid: UUID) -> att.Attribute:
    declaration = att.Attribute(GATT_PRIMARY_SERVICE_ATTRIBUTE_TYPE, _READ, uuid.to_pdu_bytes())
    declaration.handle, declaration.end_group_handle = handle, handle + count - 1
    return declaration


def _characteristic(handle: int, uuid: UUID, properties: int, value: att.Attribute) -> list[att.Attribute]:
    """Declaration at `handle`, `value` at `handle + 1`."""
    declaration = att.Attribute(
        GATT_CHARACTERISTIC_ATTRIBUTE_TYPE, _READ, struct.pack("<BH", properties, handle + 1) + uuid.to_pdu_bytes()
    )
    declaration.handle = declaration.end_group_handle = handle
    value.handle = value.end_group_handle = handle + 1
    return [declaration, value]


def profile_attributes(device_name: bytes) -> list[att.Attribute]:
    """Bluedroid's own GATT and GAP services (see the module docstring)."""
    cccd_value = bytearray(2)

    def write_cccd(_connection: object, value: bytes) -> None:
        cccd_value[:] = (bytes(value) + b"\x00\x00")[:2]

    cccd = att.Attribute(
        GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
        _OPEN,
        att.AttributeValue(read=lambda _connection: bytes(cccd_value), write=write_cccd),
    )
    cccd.handle = cccd.end_group_handle = GATT_START_HANDLE + 3
    gatt_service = [
        _service(GATT_START_HANDLE, GATT_NUM_HANDLES, GATT_GENERIC_ATTRIBUTE_SERVICE),
        *_characteristic(
            GATT_START_HANDLE + 1,
            GATT_SERVICE_CHANGED_CHARACTERISTIC,
            _P.INDICATE,
            att.Attribute(  # Bluedroid adds it with permissions 0: neither readable nor writable
                GATT_SERVICE_CHANGED_CHARACTERISTIC, 0, att.AttributeValue(read=_refuse_read, write=_refuse_write)
            ),
        ),
        cccd,
    ]
    gap = (
        (GATT_DEVICE_NAME_CHARACTERISTIC, device_name),  # the board's set_advertisement(name=) changes it
        (GATT_APPEARANCE_CHARACTERISTIC, b"\x00\x00"),
        (CENTRAL_ADDRESS_RESOLUTION, b"\x00"),
    )
    gap_service = [_service(GAP_START_HANDLE, GAP_NUM_HANDLES, GATT_GENERIC_ACCESS_SERVICE)]
    for index, (uuid, value) in enumerate(gap):
        gap_service += _characteristic(
            GAP_START_HANDLE + 1 + 2 * index, uuid, _P.READ, ReadOnlyAttribute(uuid, _READ, value)
        )
    return gatt_service + gap_service


def install_profile_services(server: Server, device_name: bytes) -> None:
    """Replace Bumble's default GAP and GATT services in `server` by Bluedroid's (call before any app service)."""
    server.services.clear()
    server.attributes[:] = profile_attributes(device_name)
    server.attributes_by_handle.clear()
