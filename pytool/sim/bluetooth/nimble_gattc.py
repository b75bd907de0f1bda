"""The stock board as a GATT client (modbluetooth_nimble.c's gattc_* on NimBLE): each call starts an ATT procedure
and returns at once; results and completions arrive as IRQ events, like NimBLE's callbacks.

Discovery follows NimBLE: services by Read By Group Type, characteristics by Read By Type over the whole range
(each result's end handle is the next declaration - 1, the last one's the range end), descriptors by Find Information
from start+1 (`ble_gattc_disc_all_dscs` takes the value handle as start). A status is 0 when done, else NimBLE's
BLE_HS_ERR_ATT_BASE (0x100) + the ATT error code. Every notification and indication the peer sends is an IRQ, with or
without a subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Any

from bumble import att
from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import GATT_CHARACTERISTIC_ATTRIBUTE_TYPE, GATT_PRIMARY_SERVICE_ATTRIBUTE_TYPE

from pytool.sim.bluetooth.nimble_errno import EALREADY, EBUSY, EINVAL, Errno

logger = logging.getLogger(__name__)

BLE_HS_ERR_ATT_BASE = 0x100
BLE_HS_ETIMEOUT = 13
BLE_HS_ENOTCONN = 7


class _Failed(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class NimbleClient:
    """GATT client procedures of one stack."""

    def __init__(self, owner: Any) -> None:
        """`owner`: the NimbleService (emit(), link(), require(), mtu, links, _spawn())."""
        self.owner = owner
        self.char_discovery = False  # only one characteristic discovery at a time (MP_EBUSY)
        self._hooks: dict[int, Any] = {}  # id(request PDU) -> called with its response as it arrives

    # ----------------------------------------------------------------------------------------------------------
    def attach(self, connection: Connection) -> None:
        """Every notification / indication on this link becomes GATTC_NOTIFY / GATTC_INDICATE."""
        client = connection.gatt_client
        notify, indicate = client.on_att_handle_value_notification, client.on_att_handle_value_indication

        def on_notification(pdu: att.ATT_Handle_Value_Notification) -> None:
            with contextlib.suppress(Exception):
                notify(pdu)
            self._data(18, connection, pdu.attribute_handle, pdu.attribute_value)

        def on_indication(pdu: att.ATT_Handle_Value_Indication) -> None:
            with contextlib.suppress(Exception):
                indicate(pdu)  # sends the confirmation
            self._data(19, connection, pdu.attribute_handle, pdu.attribute_value)

        client.on_att_handle_value_notification = on_notification  # type: ignore[method-assign]
        client.on_att_handle_value_indication = on_indication  # type: ignore[method-assign]
        on_pdu = client.on_gatt_pdu

        def on_gatt_pdu(pdu: att.ATT_PDU) -> None:
            # a response raises its IRQs as it arrives, before any PDU behind it (NimBLE's callbacks run in order)
            if pdu.op_code in att.ATT_RESPONSES and client.pending_request is not None:
                hook = self._hooks.pop(id(client.pending_request), None)
                if hook is not None:
                    hook(pdu)
            on_pdu(pdu)

        client.on_gatt_pdu = on_gatt_pdu  # type: ignore[method-assign]

    def detach(self, connection: Connection) -> None:
        if not self.owner.links:
            self.char_discovery = False

    def _data(self, code: int, connection: Connection, handle: int, value: bytes) -> None:
        self.owner.emit(code, [connection.handle, handle, bytes(value)], "iim")

    def _start(self, coro: Any) -> None:
        self.owner._spawn(coro)

    async def _request(self, connection: Connection, pdu: att.ATT_PDU, on_response: Any = None) -> att.ATT_PDU:
        """Send an ATT request; `on_response(pdu)` runs as the response arrives. _Failed if none comes."""
        if on_response is not None:
            self._hooks[id(pdu)] = on_response
        try:
            return await connection.gatt_client.send_request(pdu)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if "timeout" in type(exc).__name__.lower() or "timeout" in str(exc).lower():
                raise _Failed(BLE_HS_ETIMEOUT) from exc
            raise _Failed(BLE_HS_ENOTCONN) from exc
        finally:
            self._hooks.pop(id(pdu), None)

    @staticmethod
    def _att_status(response: att.ATT_PDU) -> int | None:
        if response.op_code == att.Opcode.ATT_ERROR_RESPONSE:
            return int(response.error_code)
        return None

    # ----------------------------------------------------------------------------------------------------------
    # Discovery

    async def rpc_gattc_discover_services(self, conn_handle: int, uuid: bytes | None = None) -> None:
        self.owner.require()
        connection = self.owner.link(conn_handle)
        wanted = UUID.from_bytes(bytes(uuid)) if uuid is not None else None
        self._start(self._services(connection, wanted))

    async def _services(self, connection: Connection, wanted: UUID | None) -> None:
        start, status = 1, 0
        try:
            while start <= 0xFFFF:
                response = await self._request(
                    connection,
                    att.ATT_Read_By_Group_Type_Request(
                        starting_handle=start,
                        ending_handle=0xFFFF,
                        attribute_group_type=GATT_PRIMARY_SERVICE_ATTRIBUTE_TYPE,
                    ),
                )
                code = self._att_status(response)
                if code is not None:
                    status = 0 if code == att.ATT_ATTRIBUTE_NOT_FOUND_ERROR else BLE_HS_ERR_ATT_BASE + code
                    break
                last = start
                for handle, end, value in response.attributes:
                    service_uuid = UUID.from_bytes(bytes(value))
                    if wanted is None or service_uuid == wanted:
                        items = [connection.handle, handle, end, bytes(service_uuid.uuid_bytes)]
                        self.owner.emit(9, items, "iiiu")
                    last = max(last, end)
                if not response.attributes or last >= 0xFFFF:
                    break
                start = last + 1
        except _Failed as failed:
            status = failed.status
        self.owner.emit(10, [connection.handle, status], "ii")

    async def rpc_gattc_discover_characteristics(
        self, conn_handle: int, start: int, end: int, uuid: bytes | None = None
    ) -> None:
        self.owner.require()
        connection = self.owner.link(conn_handle)
        if self.char_discovery:
            raise Errno(EBUSY)
        self.char_discovery = True
        wanted = UUID.from_bytes(bytes(uuid)) if uuid is not None else None
        self._start(self._characteristics(connection, int(start), int(end), wanted))

    async def _characteristics(self, connection: Connection, start: int, end: int, wanted: UUID | None) -> None:
        found: list[tuple[int, int, int, UUID]] = []  # (declaration, value handle, properties, uuid)
        status = 0
        handle = start
        try:
            while handle <= end:
                response = await self._request(
                    connection,
                    att.ATT_Read_By_Type_Request(
                        starting_handle=handle, ending_handle=end, attribute_type=GATT_CHARACTERISTIC_ATTRIBUTE_TYPE
                    ),
                )
                code = self._att_status(response)
                if code is not None:
                    status = 0 if code == att.ATT_ATTRIBUTE_NOT_FOUND_ERROR else BLE_HS_ERR_ATT_BASE + code
                    break
                last = handle
                for decl, value in response.attributes:
                    if len(value) < 5:
                        continue
                    props, value_handle = struct.unpack_from("<BH", value)
                    found.append((decl, value_handle, props, UUID.from_bytes(bytes(value[3:]))))
                    last = max(last, decl)
                if not response.attributes:
                    break
                handle = last + 1
        except _Failed as failed:
            status = failed.status
        for i, (_decl, value_handle, props, char_uuid) in enumerate(found):
            char_end = found[i + 1][0] - 1 if i + 1 < len(found) else end
            if wanted is None or char_uuid == wanted:
                items = [connection.handle, char_end, value_handle, props, bytes(char_uuid.uuid_bytes)]
                self.owner.emit(11, items, "iiiiu")
        self.char_discovery = False
        self.owner.emit(12, [connection.handle, status], "ii")

    async def rpc_gattc_discover_descriptors(self, conn_handle: int, start: int, end: int) -> None:
        self.owner.require()
        connection = self.owner.link(conn_handle)
        self._start(self._descriptors(connection, int(start), int(end)))

    async def _descriptors(self, connection: Connection, start: int, end: int) -> None:
        status = 0
        handle = start + 1
        try:
            while handle <= end:
                response = await self._request(
                    connection, att.ATT_Find_Information_Request(starting_handle=handle, ending_handle=end)
                )
                code = self._att_status(response)
                if code is not None:
                    status = 0 if code == att.ATT_ATTRIBUTE_NOT_FOUND_ERROR else BLE_HS_ERR_ATT_BASE + code
                    break
                last = handle
                for dsc_handle, raw in response.information:
                    self.owner.emit(13, [connection.handle, dsc_handle, bytes(raw)], "iiu")
                    last = max(last, dsc_handle)
                if not response.information:
                    break
                handle = last + 1
        except _Failed as failed:
            status = failed.status
        self.owner.emit(14, [connection.handle, status], "ii")

    # ----------------------------------------------------------------------------------------------------------
    # Read / write / MTU

    async def rpc_gattc_read(self, conn_handle: int, value_handle: int) -> None:
        self.owner.require()
        connection = self.owner.link(conn_handle)
        self._start(self._read(connection, int(value_handle)))

    async def _read(self, connection: Connection, handle: int) -> None:
        def on_response(response: att.ATT_PDU) -> None:
            code = self._att_status(response)
            if code is None:
                self.owner.emit(15, [connection.handle, handle, bytes(response.attribute_value)], "iim")
            self.owner.emit(16, [connection.handle, handle, 0 if code is None else BLE_HS_ERR_ATT_BASE + code], "iii")

        try:
            await self._request(connection, att.ATT_Read_Request(attribute_handle=handle), on_response)
        except _Failed as failed:
            self.owner.emit(16, [connection.handle, handle, failed.status], "iii")

    async def rpc_gattc_write(self, conn_handle: int, value_handle: int, data: bytes, mode: int = 0) -> None:
        self.owner.require()
        connection = self.owner.link(conn_handle)
        value = bytes(data)[: connection.att_mtu - 3]  # NimBLE truncates a (short) write to MTU-3
        if mode == 0:
            pdu = att.ATT_Write_Command(attribute_handle=int(value_handle), attribute_value=value)
            await connection.gatt_client.send_command(pdu)
            return
        if mode != 1:
            raise Errno(EINVAL)
        self._start(self._write(connection, int(value_handle), value))

    async def _write(self, connection: Connection, handle: int, value: bytes) -> None:
        def on_response(response: att.ATT_PDU) -> None:
            code = self._att_status(response)
            self.owner.emit(17, [connection.handle, handle, 0 if code is None else BLE_HS_ERR_ATT_BASE + code], "iii")

        pdu = att.ATT_Write_Request(attribute_handle=handle, attribute_value=value)
        try:
            await self._request(connection, pdu, on_response)
        except _Failed as failed:
            self.owner.emit(17, [connection.handle, handle, failed.status], "iii")

    async def rpc_gattc_exchange_mtu(self, conn_handle: int) -> None:
        self.owner.require()
        connection = self.owner.link(conn_handle)
        client = connection.gatt_client
        if client.mtu_exchange_done:
            raise Errno(EALREADY)
        self._start(self._exchange_mtu(connection))

    async def _exchange_mtu(self, connection: Connection) -> None:
        with contextlib.suppress(Exception):
            await connection.gatt_client.request_mtu(self.owner.mtu)  # the MTU update emits MTU_EXCHANGED
