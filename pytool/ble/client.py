"""`BumbleClient`: bleak's client backend on a Bumble host (GATT client over one LE connection)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal, TypedDict

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from bumble import att, gatt, hci
from bumble.device import Connection, Peer
from bumble.gatt_client import CharacteristicProxy

from pytool.ble import host as hosts
from pytool.ble.convert import bleak_errors, uuid_str
from pytool.ble.transport import resolve_transport

logger = logging.getLogger(__name__)

DEFAULT_MTU = 517  # what we offer in the MTU exchange (the largest ATT allows); the server's answer decides
_NOTIFY_OR_INDICATE = gatt.Characteristic.Properties.NOTIFY | gatt.Characteristic.Properties.INDICATE


class BumbleClientArgs(TypedDict, total=False):
    """Backend-specific arguments: `BleakClient(address, bumble={"transport": "usb:0", "mtu": 247})`."""

    transport: str  # Bumble transport or sim:NAME; default: $PYTOOL_BLE
    mtu: int  # MTU offered in the exchange right after connecting (default 517)
    checks: Literal["bluez", "strict"]  # client-side property checks (default "bluez"), see check_write()


# What bleak raises on BlueZ for StartNotify on a characteristic with neither notify nor indicate: BlueZ answers
# org.bluez.Error.NotSupported "Operation is not supported" before any ATT traffic (src/gatt-client.c
# characteristic_start_notify) and bleak's assert_gatt_reply(start_notify=True) raises it as BleakDBusError.
BLUEZ_NOT_SUPPORTED = ("org.bluez.Error.NotSupported", "Operation is not supported")


def _property_names(properties: int) -> list[Any]:
    return [name for bit, name in sorted(CHARACTERISTIC_PROPERTIES.items()) if properties & bit]


class BumbleClient(BaseBleakClient):
    """A GATT client on a shared Bumble host.

    `connect()` creates the LE connection, exchanges the MTU (Bumble never starts one), discovers every service,
    characteristic and descriptor, and pairs first when asked. The disconnected callback runs on every
    disconnection (like BlueZ's backend): `disconnect()`, the peer going away, or the transport being lost.
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        services: set[str] | None = None,
        *,
        bumble: BumbleClientArgs | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, **kwargs)
        self.address = self.address.upper()
        self._typed_address: hci.Address | None = None
        self._device_name: str | None = None
        if isinstance(address_or_ble_device, BLEDevice):
            self._device_name = address_or_ble_device.name
            if isinstance(address_or_ble_device.details, hci.Address):
                self._typed_address = address_or_ble_device.details
        self._service_filter = services
        options = bumble or {}
        self._transport = options.get("transport")
        self._mtu_offer = int(options.get("mtu", DEFAULT_MTU))
        self._checks = options.get("checks", "bluez")
        if self._checks not in ("bluez", "strict"):
            raise ValueError(f"bumble checks must be 'bluez' or 'strict', not {self._checks!r}")
        self._host: hosts.BumbleHost | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        self._release_tasks: set[asyncio.Task] = set()

    # -- identity and state -----------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # -- connecting ---------------------------------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect (timeout: the client's `timeout`, or `timeout=` here), exchange MTU, discover services."""
        if self._connection is not None:
            return
        timeout = float(kwargs.get("timeout", self._timeout))
        host = await hosts.acquire(resolve_transport(self._transport))
        self._host = host
        try:
            address = self._typed_address or await host.find_address(self.address, timeout)
            if address is None:
                raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found.")
            with bleak_errors(f"connecting to {self.address}", f" within {timeout:g} s"):
                connection = await host.connect(address, timeout)
            self._connection = connection
            connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
            self._peer = Peer(connection)
            async with asyncio.timeout(timeout):
                with bleak_errors("MTU exchange"):
                    await self._peer.request_mtu(self._mtu_offer)
                if pair:
                    await self.pair()
                self.services = await self._discover()
        except BaseException:
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        """Undo a half-made connection."""
        connection = self._connection
        if connection is not None:
            connection.remove_listener(Connection.EVENT_DISCONNECTION, self._on_disconnection)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.disconnect(), 5.0)
        self._connection = self._peer = None
        await self._release_host()

    async def _release_host(self) -> None:
        host, self._host = self._host, None
        if host is not None:
            await hosts.release(host)

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("%s disconnected (reason 0x%02X)", self.address, reason)
        self._connection = self._peer = None
        self.services = None
        self._subscribers.clear()
        if self._host is not None:
            task = asyncio.get_running_loop().create_task(self._release_host())
            self._release_tasks.add(task)
            task.add_done_callback(self._release_tasks.discard)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        """Disconnect (no-op when not connected); the disconnected callback runs."""
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):  # already gone, or the transport with it: fine either way
                await asyncio.wait_for(connection.disconnect(), 10.0)
            if self._connection is connection:  # no disconnection event came: the link is gone anyway
                connection.remove_listener(Connection.EVENT_DISCONNECTION, self._on_disconnection)
                self._on_disconnection(hci.HCI_CONNECTION_TERMINATED_BY_LOCAL_HOST_ERROR)
        await self._release_host()
        if self._release_tasks:
            await asyncio.gather(*self._release_tasks, return_exceptions=True)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair (LE Secure Connections, Just Works unless the host's pairing config says otherwise)."""
        connection = self._require_connection()
        with bleak_errors(f"pairing with {self.address}"):
            await connection.pair()

    async def unpair(self) -> None:
        """Forget the pairing keys (if the host keeps any) and disconnect."""
        host = self._host
        if host is not None and host.device.keystore is not None and self._connection is not None:
            with contextlib.suppress(Exception):  # no keys for this peer
                await host.device.keystore.delete(str(self._connection.peer_address))
        await self.disconnect()

    # -- services -------------------------------------------------------------------------------------------------

    async def _discover(self) -> BleakGATTServiceCollection:
        peer = self._require_peer()
        collection = BleakGATTServiceCollection()
        with bleak_errors("service discovery"):
            await peer.discover_services()
            for service in peer.services:
                if self._service_filter and uuid_str(service.uuid) not in self._service_filter:
                    continue
                bleak_service = BleakGATTService(service, service.handle, uuid_str(service.uuid))
                collection.add_service(bleak_service)
                for characteristic in await peer.discover_characteristics(service=service):
                    await peer.discover_descriptors(characteristic=characteristic)
                    characteristic.descriptors_discovered = True
                    bleak_char = BleakGATTCharacteristic(
                        characteristic,
                        characteristic.handle,
                        uuid_str(characteristic.uuid),
                        _property_names(int(characteristic.properties)),
                        self._max_write_without_response_size,
                        bleak_service,
                    )
                    collection.add_characteristic(bleak_char)
                    for descriptor in characteristic.descriptors:
                        collection.add_descriptor(
                            BleakGATTDescriptor(descriptor, descriptor.handle, uuid_str(descriptor.type), bleak_char)
                        )
        return collection

    def _max_write_without_response_size(self) -> int:
        return self.mtu_size - 3

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError("Not connected")
        return self._connection

    def _require_peer(self) -> Peer:
        self._require_connection()
        assert self._peer is not None
        return self._peer

    # -- I/O ------------------------------------------------------------------------------------------------------

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(characteristic.handle, use_cached, f"reading characteristic {characteristic.uuid}")

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(descriptor.handle, use_cached, f"reading descriptor {descriptor.uuid}")

    async def _read(self, handle: int, use_cached: bool, what: str) -> bytearray:
        peer = self._require_peer()
        if use_cached and handle in peer.gatt_client.cached_values:
            return bytearray(peer.gatt_client.cached_values[handle][1])
        with bleak_errors(what):
            return bytearray(await peer.read_value(handle))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool) -> None:
        peer = self._require_peer()
        check_write(characteristic, response, self._checks)
        value = bytes(data)
        if not response and len(value) > self._max_write_without_response_size():
            raise BleakError(
                f"{len(value)} bytes do not fit one write without response "
                f"(max_write_without_response_size is {self._max_write_without_response_size()})"
            )
        with bleak_errors(f"writing characteristic {characteristic.uuid}"):
            await peer.write_value(characteristic.handle, value, with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        peer = self._require_peer()
        with bleak_errors(f"writing descriptor {descriptor.uuid}"):
            await peer.write_value(descriptor.handle, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Subscribe: notifications when the characteristic has them, else indications (confirmed by Bumble)."""
        peer = self._require_peer()
        proxy: CharacteristicProxy = characteristic.obj
        if not proxy.properties & _NOTIFY_OR_INDICATE:
            raise BleakDBusError(BLUEZ_NOT_SUPPORTED[0], [BLUEZ_NOT_SUPPORTED[1]])
        if proxy.get_descriptor(gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR) is None:
            raise BleakError(f"characteristic {characteristic.uuid} has no CCCD: cannot subscribe")
        if characteristic.handle in self._subscribers:
            raise BleakError(f"notifications on {characteristic.uuid} are already started")

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        try:
            with bleak_errors(f"subscribing to {characteristic.uuid}"):
                await peer.subscribe(proxy, on_value, prefer_notify=True)
        except BaseException:
            self._subscribers.pop(characteristic.handle, None)
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if subscriber is None:
            return
        with bleak_errors(f"unsubscribing from {characteristic.uuid}"):
            await peer.unsubscribe(characteristic.obj, subscriber)


def check_write(characteristic: BleakGATTCharacteristic, response: bool, checks: str) -> None:
    """The client-side check of a write against the characteristic's properties.

    "bluez" (the default) does what bleak does on BlueZ: bleak always passes the write type ("request" or
    "command") to WriteValue, and BlueZ then sends that PDU whatever the properties say (src/gatt-client.c
    characteristic_write_value, since BlueZ 5.51): the peripheral's answer decides. "strict" refuses what some
    stack refuses: a write with response without the "write" property raises BleakGATTProtocolError
    WRITE_NOT_PERMITTED (CoreBluetooth refuses it so, and bleak raises that), a write without response without
    "write-without-response" raises BleakError (CoreBluetooth drops it silently).
    """
    if checks != "strict":
        return
    if response and "write" not in characteristic.properties:
        raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED)
    if not response and "write-without-response" not in characteristic.properties:
        raise BleakError(
            f"characteristic {characteristic.uuid} has no write-without-response property "
            "(CoreBluetooth drops such a write silently; use response=True if it has 'write')"
        )
