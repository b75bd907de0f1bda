"""The GATT server calls of the stock board's stack (`gatts_*` of modbluetooth_nimble.c) and the access path of
client reads and writes: a mixin of `NimbleService` (pytool/sim/bluetooth/nimble.py), kept apart for size.

Reads and writes from a client are served one at a time per link (NimBLE runs each access callback, and its IRQ,
to completion): `_IRQ_GATTS_READ_REQUEST` may refuse a read (a non-zero int is the ATT error), `_IRQ_GATTS_WRITE`
runs before the write response goes out. Notifications and indications are sent whether or not the client
subscribed (`ble_gattc_notify_custom`), cut to MTU-3; `gatts_write(..., True)` updates subscribed links only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bumble import att
from bumble.core import UUID
from bumble.device import Connection, Device

from pytool.sim.bluetooth.nimble_errno import E2BIG, EBUSY, EINVAL, Errno
from pytool.sim.bluetooth.nimble_gatts import MAX_SERVICES, check_access

logger = logging.getLogger(__name__)

IRQ_GATTS_WRITE, IRQ_GATTS_READ_REQUEST, IRQ_GATTS_INDICATE_DONE = 3, 4, 20
BLE_HS_ETIMEOUT = 13


def uuid_from_device(raw: bytes) -> UUID:
    """A bluetooth.UUID's little-endian bytes (2, 4 or 16) -> Bumble UUID."""
    return UUID.from_bytes(bytes(raw))


class GattServerCalls:
    """`gatts_*` calls and client access; expects NimbleService's db, links, emit(), require(), link(), _spawn()."""

    db: Any
    links: dict[int, Connection]
    _locks: dict[int, asyncio.Lock]
    advertising: Any
    scanning: bool
    connecting: Any
    emit: Any
    require: Any
    link: Any
    _spawn: Any
    sec_state: dict[int, tuple[bool, bool]]

    def authenticated(self, connection: Connection) -> bool:
        """The link is encrypted with MITM-protected keys."""
        return bool(connection.is_encrypted and self.sec_state.get(connection.handle, (False, False))[0])

    async def rpc_gatts_register(self, services: list) -> list:
        device = self.require()
        assert self.db is not None
        # ble_gatts_reset(): BLE_HS_EBUSY while advertising, scanning, connecting or connected (ble_gatts_mutable)
        if self.advertising() or self.scanning or self.connecting is not None or device.connections:
            raise Errno(EBUSY)
        parsed = []
        for service_uuid, characteristics in services:
            chars = []
            for char_uuid, flags, descriptors in characteristics:
                descs = [(uuid_from_device(d_uuid), int(d_flags)) for d_uuid, d_flags in descriptors]
                chars.append((uuid_from_device(char_uuid), int(flags), descs))
            parsed.append((uuid_from_device(service_uuid), chars))
        self.db.reset()
        if len(parsed) > MAX_SERVICES:
            raise Errno(E2BIG)
        return self.db.register(parsed)

    async def rpc_gatts_read(self, handle: int) -> bytes:
        if self.db is None:
            return b""  # modbluetooth ignores the error and returns an empty value
        entry = self.db.entries.get(handle)
        if entry is None:
            return b""
        data = entry.data
        if entry.append:
            entry.data = b""
        return data

    async def rpc_gatts_write(self, handle: int, data: bytes, send_update: bool = False) -> int:
        self.require()
        assert self.db is not None
        entry = self.db.entries.get(handle)
        if entry is None:
            raise Errno(EINVAL)
        entry.data = bytes(data)
        entry.alloc = max(entry.alloc, len(data))
        if send_update:  # ble_gatts_chr_updated: every subscribed link, notify preferred over indicate
            for (conn_handle, value_handle), bits in list(self.db.subscriptions.items()):
                if value_handle == handle and bits and conn_handle in self.links:
                    self._send(self.links[conn_handle], handle, entry.data, indicate=not bits & 1)
        return len(data)

    async def rpc_gatts_notify(self, conn_handle: int, handle: int, data: bytes | None = None) -> None:
        await self._notify_or_indicate(conn_handle, handle, data, indicate=False)

    async def rpc_gatts_indicate(self, conn_handle: int, handle: int, data: bytes | None = None) -> None:
        await self._notify_or_indicate(conn_handle, handle, data, indicate=True)

    async def _notify_or_indicate(self, conn_handle: int, handle: int, data: bytes | None, indicate: bool) -> None:
        self.require()
        assert self.db is not None
        connection = self.link(conn_handle)
        if data is None:
            entry = self.db.entries.get(handle)
            data = entry.data if entry is not None else b""
        self._send(connection, handle, bytes(data), indicate)

    def _send(self, connection: Connection, handle: int, value: bytes, indicate: bool) -> None:
        device = self.require()
        value = value[: connection.att_mtu - 3]  # ble_att_truncate_to_mtu
        if not indicate:
            pdu = att.ATT_Handle_Value_Notification(attribute_handle=handle, attribute_value=value)
            device.gatt_server.send_gatt_pdu(connection, bytes(pdu))
            return
        self._spawn(self._indicate(device, connection, handle, value))

    async def _indicate(self, device: Device, connection: Connection, handle: int, value: bytes) -> None:
        attribute = device.gatt_server.get_attribute(handle)
        status = 0
        try:
            if attribute is None:
                raise LookupError(handle)
            await device.gatt_server.indicate_subscriber(connection, attribute, value, force=True)
        except Exception as exc:
            logger.debug("indicate %s: %r", handle, exc)
            status = BLE_HS_ETIMEOUT
        if connection.handle in self.links:
            self.emit(IRQ_GATTS_INDICATE_DONE, [connection.handle, handle, status], "iii")

    async def rpc_gatts_set_buffer(self, handle: int, length: int, append: bool = False) -> None:
        self.require()
        assert self.db is not None
        entry = self.db.entries.get(handle)
        if entry is None:
            raise Errno(EINVAL)
        entry.alloc, entry.data, entry.append = max(0, int(length)), b"", bool(append)

    def _att_lock(self, connection: Connection) -> asyncio.Lock:
        """NimBLE handles a link's ATT PDUs one after the other, each access callback (and IRQ) to completion;
        Bumble runs them as concurrent tasks: serialise them per link, in arrival order."""
        lock = self._locks.get(connection.handle)
        if lock is None:
            lock = self._locks[connection.handle] = asyncio.Lock()
        return lock

    async def _on_read(self, connection: Connection, handle: int) -> bytes:
        async with self._att_lock(connection):
            return await self._read(connection, handle)

    async def _on_write(self, connection: Connection, handle: int, value: bytes) -> None:
        async with self._att_lock(connection):
            await self._write(connection, handle, value)

    async def _read(self, connection: Connection, handle: int) -> bytes:
        db = self.db
        attr = db.values.get(handle) if db is not None else None
        if db is None or attr is None:
            raise att.ATT_Error(att.ATT_ATTRIBUTE_NOT_FOUND_ERROR, handle)
        check_access(attr, connection, read=True, authenticated=self.authenticated(connection))
        result = await self.emit(IRQ_GATTS_READ_REQUEST, [connection.handle, handle], "ii")
        if isinstance(result, int) and not isinstance(result, bool) and result:
            raise att.ATT_Error(result & 0xFF, handle)  # "Return non-zero from IRQ handler to fail the read"
        entry = db.entries.get(handle)
        if entry is None:
            raise att.ATT_Error(att.ATT_ATTRIBUTE_NOT_FOUND_ERROR, handle)
        return entry.data

    async def _write(self, connection: Connection, handle: int, value: bytes) -> None:
        db = self.db
        attr = db.values.get(handle) if db is not None else None
        if db is None or attr is None:
            raise att.ATT_Error(att.ATT_ATTRIBUTE_NOT_FOUND_ERROR, handle)
        check_access(attr, connection, read=False, authenticated=self.authenticated(connection))
        entry = db.entries.get(handle)
        if entry is None:
            raise att.ATT_Error(att.ATT_ATTRIBUTE_NOT_FOUND_ERROR, handle)
        entry.client_write(bytes(value))
        # the write response goes out after the handler has run (the access callback calls it synchronously)
        await self.emit(IRQ_GATTS_WRITE, [connection.handle, handle], "ii")
