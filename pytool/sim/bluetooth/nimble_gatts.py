"""The GATT server database of stock MicroPython's NimBLE bindings (extmod/nimble/modbluetooth_nimble.c) on the
ESP32 port, placed into a Bumble GATT server at NimBLE's handles.

Layout (what `ble_gatts_start` produces after `ble_svc_gap_init(); ble_svc_gatt_init();` and the user's services):
GAP service 1-5 (Device Name 0x2A00 value at 3, Appearance 0x2A01 value at 5), GATT service 6-9 (Service Changed
0x2A05 value at 8 + its CCCD at 9), then per user service: declaration, and per characteristic its declaration,
value, a CCCD when it can notify or indicate, then its descriptors in definition order.

Values live in modbluetooth's "gatts db": one entry per characteristic value and descriptor, 20 bytes allocated
(MP_BLUETOOTH_DEFAULT_ATTR_LEN); a client write is truncated to the allocation (or appended, after
`gatts_set_buffer(h, n, True)`), `gatts_write` from Python grows it.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bumble import att
from bumble.core import UUID
from bumble.gatt import (
    GATT_CHARACTERISTIC_ATTRIBUTE_TYPE,
    GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
    GATT_PRIMARY_SERVICE_ATTRIBUTE_TYPE,
)
from bumble.gatt_server import Server

DEFAULT_ATTR_LEN = 20  # MP_BLUETOOTH_DEFAULT_ATTR_LEN
MAX_SERVICES = 8  # MP_BLUETOOTH_NIMBLE_MAX_SERVICES

# bluetooth.FLAG_* (extmod/modbluetooth.h); NimBLE's BLE_GATT_CHR_F_* have the same values
FLAG_BROADCAST = 0x0001
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020
FLAG_AUTH_SIGNED_WRITE = 0x0040
FLAG_RELIABLE_WRITE = 0x0080
FLAG_AUX_WRITE = 0x0100
FLAG_READ_ENCRYPTED = 0x0200
FLAG_READ_AUTHENTICATED = 0x0400
FLAG_READ_AUTHORIZED = 0x0800
FLAG_WRITE_ENCRYPTED = 0x1000
FLAG_WRITE_AUTHENTICATED = 0x2000
FLAG_WRITE_AUTHORIZED = 0x4000

GAP_SERVICE = UUID.from_16_bits(0x1800)
GATT_SERVICE = UUID.from_16_bits(0x1801)
DEVICE_NAME = UUID.from_16_bits(0x2A00)
APPEARANCE = UUID.from_16_bits(0x2A01)
SERVICE_CHANGED = UUID.from_16_bits(0x2A05)

_OPEN = att.Attribute.Permissions.READABLE | att.Attribute.Permissions.WRITEABLE
_READ_ONLY = att.Attribute.Permissions.READABLE

ReadFn = Callable[[Any, int], Awaitable[bytes]]  # (connection, handle) -> value
WriteFn = Callable[[Any, int, bytes], Awaitable[None]]


@dataclass
class Entry:
    """One gatts db entry (mp_bluetooth_gatts_db_entry_t)."""

    data: bytes = b""
    alloc: int = DEFAULT_ATTR_LEN
    append: bool = False

    def client_write(self, value: bytes) -> None:
        """characteristic_access_cb WRITE: truncated to the allocation, appended in append mode."""
        if self.append:
            self.data = (self.data + bytes(value))[: self.alloc]
        else:
            self.data = bytes(value)[: self.alloc]


@dataclass
class ValueAttr:
    """A characteristic value or descriptor the user registered: its handle, flags and, for a value, its CCCD."""

    handle: int
    uuid: UUID
    flags: int
    descriptor: bool = False
    cccd: int = 0  # handle of the characteristic's CCCD (0: none)


@dataclass
class NimbleDatabase:
    """The attributes of one running stack, published in Bumble's GATT server."""

    server: Server
    on_read: ReadFn
    on_write: WriteFn
    gap_name: Callable[[], bytes]
    entries: dict[int, Entry] = field(default_factory=dict)
    values: dict[int, ValueAttr] = field(default_factory=dict)
    cccd_of: dict[int, int] = field(default_factory=dict)  # CCCD handle -> value handle
    subscriptions: dict[tuple[int, int], int] = field(default_factory=dict)  # (conn, value handle) -> CCCD bits
    _attributes: list[att.Attribute] = field(default_factory=list)

    # ---------------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """gatts_register_service_begin: only the GAP and GATT services (the stack's state after active(True))."""
        self._withdraw()
        self.entries.clear()
        self.values.clear()
        self.cccd_of.clear()
        self.subscriptions.clear()
        attrs: list[att.Attribute] = []
        attrs.append(self._service_decl(1, 5, GAP_SERVICE))
        attrs.append(self._char_decl(2, 0x02, 3, DEVICE_NAME))
        attrs.append(self._plain(3, DEVICE_NAME, read=lambda conn: self.gap_name()))
        attrs.append(self._char_decl(4, 0x02, 5, APPEARANCE))
        attrs.append(self._plain(5, APPEARANCE, read=lambda conn: b"\x00\x00"))
        attrs.append(self._service_decl(6, 9, GATT_SERVICE))
        attrs.append(self._char_decl(7, 0x20, 8, SERVICE_CHANGED))
        attrs.append(self._plain(8, SERVICE_CHANGED))
        self.values[8] = ValueAttr(8, SERVICE_CHANGED, FLAG_INDICATE, cccd=9)
        attrs.append(self._cccd(9, 8))
        self._publish(attrs)

    def register(self, services: list[tuple[UUID, list[tuple[UUID, int, list[tuple[UUID, int]]]]]]) -> list[list[int]]:
        """Add the user's services after the GATT service; returns modbluetooth's handle tuples."""
        handle = 10
        attrs: list[att.Attribute] = []
        result: list[list[int]] = []
        for service_uuid, characteristics in services:
            start = handle
            body: list[att.Attribute] = []
            handles: list[int] = []
            handle += 1
            for char_uuid, flags, descriptors in characteristics:
                props = (flags & 0x7F) | (0x80 if flags & (FLAG_RELIABLE_WRITE | FLAG_AUX_WRITE) else 0)
                decl, value = handle, handle + 1
                body.append(self._char_decl(decl, props, value, char_uuid))
                body.append(self._user_attr(value, char_uuid))
                cccd = 0
                handle += 2
                if flags & (FLAG_NOTIFY | FLAG_INDICATE):
                    cccd = handle
                    body.append(self._cccd(cccd, value))
                    handle += 1
                self.values[value] = ValueAttr(value, char_uuid, flags, cccd=cccd)
                self.entries[value] = Entry()
                handles.append(value)
                for desc_uuid, desc_flags in descriptors:
                    body.append(self._user_attr(handle, desc_uuid))
                    self.values[handle] = ValueAttr(handle, desc_uuid, desc_flags, descriptor=True)
                    self.entries[handle] = Entry()
                    handles.append(handle)
                    handle += 1
            attrs.append(self._service_decl(start, handle - 1, service_uuid))
            attrs.extend(body)
            result.append(handles)
        self._publish(attrs)
        return result

    def clear(self) -> None:
        """Stack down: every attribute leaves the server."""
        self._withdraw()
        self.entries.clear()
        self.values.clear()
        self.cccd_of.clear()
        self.subscriptions.clear()

    def drop_connection(self, conn_handle: int) -> None:
        """A link is gone: its CCCD values go with it (no bonding store is modelled)."""
        for key in [k for k in self.subscriptions if k[0] == conn_handle]:
            del self.subscriptions[key]

    # ---------------------------------------------------------------------------------------------------------
    # Attribute builders
    @staticmethod
    def _place(attribute: att.Attribute, handle: int, end: int | None = None) -> att.Attribute:
        attribute.handle = handle
        attribute.end_group_handle = handle if end is None else end
        return attribute

    def _service_decl(self, start: int, end: int, uuid: UUID) -> att.Attribute:
        decl = att.Attribute(GATT_PRIMARY_SERVICE_ATTRIBUTE_TYPE, _READ_ONLY, uuid.to_pdu_bytes())
        return self._place(decl, start, end)

    def _char_decl(self, handle: int, props: int, value_handle: int, uuid: UUID) -> att.Attribute:
        value = struct.pack("<BH", props & 0xFF, value_handle) + uuid.to_pdu_bytes()
        return self._place(att.Attribute(GATT_CHARACTERISTIC_ATTRIBUTE_TYPE, _READ_ONLY, value), handle)

    def _plain(self, handle: int, uuid: UUID, read: Callable[[Any], bytes] | None = None) -> att.Attribute:
        def do_read(conn: Any) -> bytes:
            if read is None:
                raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR, handle)
            return read(conn)

        def do_write(conn: Any, value: bytes) -> None:
            raise att.ATT_Error(att.ATT_WRITE_NOT_PERMITTED_ERROR, handle)

        return self._place(att.Attribute(uuid, _OPEN, att.AttributeValue(read=do_read, write=do_write)), handle)

    def _user_attr(self, handle: int, uuid: UUID) -> att.Attribute:
        value = att.AttributeValue(
            read=lambda conn: self.on_read(conn, handle), write=lambda conn, v: self.on_write(conn, handle, v)
        )
        return self._place(att.Attribute(uuid, _OPEN, value), handle)

    def _cccd(self, handle: int, value_handle: int) -> att.Attribute:
        self.cccd_of[handle] = value_handle

        def read(conn: Any) -> bytes:
            return struct.pack("<H", self.subscriptions.get((conn.handle, value_handle), 0))

        def write(conn: Any, value: bytes) -> None:
            if len(value) != 2:
                raise att.ATT_Error(att.ATT_INVALID_ATTRIBUTE_LENGTH_ERROR, handle)
            self.subscriptions[(conn.handle, value_handle)] = struct.unpack("<H", bytes(value))[0] & 0x3

        kind = GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
        cccd = att.Attribute(kind, _OPEN, att.AttributeValue(read, write))
        return self._place(cccd, handle)

    def _publish(self, attributes: list[att.Attribute]) -> None:
        self._attributes.extend(attributes)
        self.server.attributes.extend(attributes)
        self.server.attributes.sort(key=lambda a: a.handle)
        self.server.attributes_by_handle.clear()

    def _withdraw(self) -> None:
        gone = {id(a) for a in self._attributes}
        self.server.attributes[:] = [a for a in self.server.attributes if id(a) not in gone]
        self.server.attributes_by_handle.clear()
        self._attributes.clear()


def check_access(attr: ValueAttr, connection: Any, read: bool, authenticated: bool = False) -> None:
    """NimBLE's attribute permission check (ble_att_svr_check_perms): an ATT error, never a hang. `authenticated`:
    the link is encrypted with MITM-protected keys (passkey entry or numeric comparison)."""
    flags = attr.flags
    if attr.descriptor:
        allowed = flags & FLAG_READ if read else flags & (FLAG_WRITE | FLAG_WRITE_NO_RESPONSE)
    else:
        allowed = flags & FLAG_READ if read else flags & (FLAG_WRITE | FLAG_WRITE_NO_RESPONSE | FLAG_AUTH_SIGNED_WRITE)
    if not allowed:
        code = att.ATT_READ_NOT_PERMITTED_ERROR if read else att.ATT_WRITE_NOT_PERMITTED_ERROR
        raise att.ATT_Error(code, attr.handle)
    if attr.descriptor:
        return  # "NimBLE doesn't support security/privacy options on descriptors"
    encrypted = bool(getattr(connection, "is_encrypted", False))
    need_enc = FLAG_READ_ENCRYPTED if read else FLAG_WRITE_ENCRYPTED
    need_auth = FLAG_READ_AUTHENTICATED if read else FLAG_WRITE_AUTHENTICATED
    if flags & need_enc and not encrypted:
        raise att.ATT_Error(att.ATT_INSUFFICIENT_ENCRYPTION_ERROR, attr.handle)
    if flags & need_auth and not authenticated:
        raise att.ATT_Error(att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR, attr.handle)
