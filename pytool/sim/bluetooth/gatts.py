"""The board's GATT server database, laid out as Bluedroid lays it out for Pycom's modbt.c (reference 4.3-4.6).

A service reserves `nbr_chars*3 + 1` handles; each characteristic takes 3 (declaration, value, CCCD: modbt adds
a CCCD to every characteristic); one more than the budget gets handle 0 and never appears. A stopped (or never
started) service is invisible. Attributes are plain Bumble `Attribute`s placed at explicit handles in Bumble's
GATT server; what a read or write does is decided by the `BluetoothService` callbacks they call.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bumble import att
from bumble.core import UUID
from bumble.gatt import (
    GATT_CHARACTERISTIC_ATTRIBUTE_TYPE,
    GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
    GATT_PRIMARY_SERVICE_ATTRIBUTE_TYPE,
    GATT_SECONDARY_SERVICE_ATTRIBUTE_TYPE,
)
from bumble.gatt_server import Server

from pytool.sim.bluetooth.bluedroid import APP_START_HANDLE

ReadFn = Callable[["Characteristic", object], Awaitable[bytes]]
WriteFn = Callable[["Characteristic", object, bytes], Awaitable[None]]

_OPEN = att.Attribute.Permissions.READABLE | att.Attribute.Permissions.WRITEABLE


@dataclass(eq=False)
class Characteristic:
    """One GATTSCharacteristic: its stored value, pending events and callback trigger (modbt's bt_gatts_char_obj_t)."""

    id: int
    service: Service
    uuid: UUID
    permissions: int
    properties: int
    value: bytes
    handle: int = 0  # value handle; 0 = over the service's handle budget (never appears)
    trigger: int = 0  # callback trigger mask (0 = no callback)
    events: int = 0  # accumulated CHAR_*_EVENT flags, cleared by events()
    config: int = 0  # last CCCD value a client wrote (never reset on disconnect)
    pending_read: asyncio.Future | None = None  # a deferred read waiting for a callback's return
    attributes: list[att.Attribute] = field(default_factory=list)


@dataclass(eq=False)
class Service:
    """One GATTSService with its handle range."""

    id: int
    uuid: UUID
    primary: bool
    nbr_chars: int
    start_handle: int
    started: bool = False
    characteristics: list[Characteristic] = field(default_factory=list)
    attributes: list[att.Attribute] = field(default_factory=list)

    @property
    def end_handle(self) -> int:
        return self.start_handle + self.nbr_chars * 3

    @property
    def next_handle(self) -> int:
        return self.start_handle + 1 + 3 * sum(1 for c in self.characteristics if c.handle)


class Database:
    """Services and characteristics placed into a Bumble GATT server at Pycom's handles."""

    def __init__(self, server: Server, on_read: ReadFn, on_write: WriteFn, on_cccd: WriteFn) -> None:
        self.server = server
        self.on_read, self.on_write, self.on_cccd = on_read, on_write, on_cccd
        self.services: list[Service] = []
        self.characteristics: dict[int, Characteristic] = {}
        self._ids = 0

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    def _first_free_handle(self) -> int:
        """Bluedroid hands out application handles from GATT_APP_START_HANDLE (40) on (bluedroid.py)."""
        used = [a.handle for a in self.server.attributes] + [s.end_handle for s in self.services]
        return max(max(used, default=0) + 1, APP_START_HANDLE)

    def add_service(self, uuid: UUID, primary: bool, nbr_chars: int, start: bool) -> Service:
        """esp_ble_gatts_create_service(num_handle = nbr_chars*3 + 1), then start if asked."""
        service = Service(self._new_id(), uuid, primary, max(0, nbr_chars), self._first_free_handle())
        kind = GATT_PRIMARY_SERVICE_ATTRIBUTE_TYPE if primary else GATT_SECONDARY_SERVICE_ATTRIBUTE_TYPE
        declaration = att.Attribute(kind, att.Attribute.Permissions.READABLE, uuid.to_pdu_bytes())
        declaration.handle = service.start_handle
        declaration.end_group_handle = service.end_handle
        service.attributes.append(declaration)
        self.services.append(service)
        if start:
            self.start(service)
        return service

    def add_characteristic(
        self, service: Service, uuid: UUID, permissions: int, properties: int, value: bytes
    ) -> Characteristic:
        """esp_ble_gatts_add_char + the CCCD modbt always adds; over the budget: handle 0, silently."""
        char = Characteristic(self._new_id(), service, uuid, permissions, properties, value)
        self.characteristics[char.id] = char
        if service.next_handle + 2 > service.end_handle:
            service.characteristics.append(char)  # Bluedroid's ADD_CHAR_EVT with an error status: ignored
            return char
        decl_handle = service.next_handle
        char.handle = decl_handle + 1
        declaration = att.Attribute(
            GATT_CHARACTERISTIC_ATTRIBUTE_TYPE,
            att.Attribute.Permissions.READABLE,
            struct.pack("<BH", properties & 0xFF, char.handle) + uuid.to_pdu_bytes(),
        )
        declaration.handle, declaration.end_group_handle = decl_handle, decl_handle + 2
        value_attr = att.Attribute(
            uuid,
            _OPEN,
            att.AttributeValue(
                read=lambda conn: self.on_read(char, conn), write=lambda conn, v: self.on_write(char, conn, v)
            ),
        )
        value_attr.handle = value_attr.end_group_handle = char.handle
        cccd = att.Attribute(
            GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
            _OPEN,
            att.AttributeValue(
                read=lambda conn: self._read_cccd(char), write=lambda conn, v: self.on_cccd(char, conn, v)
            ),
        )
        cccd.handle = cccd.end_group_handle = char.handle + 1
        char.attributes = [declaration, value_attr, cccd]
        service.characteristics.append(char)
        if service.started:
            self._publish(char.attributes)
        return char

    @staticmethod
    async def _read_cccd(char: Characteristic) -> bytes:
        return struct.pack("<H", char.config & 0xFFFF)

    def value_attribute(self, char: Characteristic) -> att.Attribute | None:
        return char.attributes[1] if char.attributes else None

    def start(self, service: Service) -> None:
        if not service.started:
            service.started = True
            self._publish(service.attributes + [a for c in service.characteristics for a in c.attributes])

    def stop(self, service: Service) -> None:
        if service.started:
            service.started = False
            self._withdraw(service.attributes + [a for c in service.characteristics for a in c.attributes])

    def clear(self) -> None:
        """Remove every service (GATTS app unregistered, or stack down)."""
        for service in self.services:
            self.stop(service)
            for char in service.characteristics:
                if char.pending_read is not None and not char.pending_read.done():
                    char.pending_read.cancel()
        self.services.clear()
        self.characteristics.clear()

    def _publish(self, attributes: list[att.Attribute]) -> None:
        self.server.attributes.extend(attributes)
        self.server.attributes.sort(key=lambda a: a.handle)
        self.server.attributes_by_handle.clear()

    def _withdraw(self, attributes: list[att.Attribute]) -> None:
        gone = {id(a) for a in attributes}
        self.server.attributes[:] = [a for a in self.server.attributes if id(a) not in gone]
        self.server.attributes_by_handle.clear()
