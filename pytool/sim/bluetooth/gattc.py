"""The board as a GATT client and scanner (reference 4.2, 4.8): start_scan / get_adv, connect, services,
characteristics read / write / notify, so two simulated boards can talk to each other."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, Protocol

from bumble import hci
from bumble.device import Advertisement, Device, Peer
from bumble.gatt import GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
from bumble.gatt_client import CharacteristicProxy, ServiceProxy

from pytool.sim.bluetooth import pycom

ADV_QUEUE_LEN = 32
ADV_DATA_LEN = 62  # IDF scan_rst.ble_adv[31 + 31]


class EventSink(Protocol):
    """Where the client's events go: the board's Bluetooth service (`pytool.sim.bluetooth.service`)."""

    def _bt_event(self, event: int) -> None: ...
    def _queue_event(self, name: str, payload: list, char: Any = None) -> bool: ...


class GattClient:
    """Scanning and GATTC connections of one board's stack."""

    def __init__(self, owner: EventSink, device: Device) -> None:
        self.owner = owner
        self.device = device
        self.adverts: deque[list] = deque()
        self.scanning = False
        self._scan_stop: asyncio.TimerHandle | None = None
        self.connections: dict[int, Peer] = {}
        self.services: dict[int, tuple[int, ServiceProxy]] = {}
        self.chars: dict[int, tuple[int, CharacteristicProxy]] = {}
        self.values: dict[int, bytes] = {}
        self.triggers: dict[int, int] = {}
        self.subscribed: set[int] = set()
        self._ids = 0
        device.on("advertisement", self._on_advertisement)

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    def reset_callbacks(self) -> None:
        """Soft reset: the GATTC app is unregistered, its callbacks are gone."""
        self.triggers.clear()

    def close(self) -> None:
        self.device.remove_listener("advertisement", self._on_advertisement)
        if self._scan_stop is not None:
            self._scan_stop.cancel()

    # ----------------------------------------------------------------------------------------------------------
    # Scanning

    async def rpc_start_scan(self, timeout: int) -> None:
        if timeout == 0:
            raise ValueError("invalid scan timeout")
        if self.scanning:
            await self.rpc_stop_scan()
        self.adverts.clear()
        await self.device.start_scanning(active=True, scan_interval=50, scan_window=30, filter_duplicates=False)
        self.scanning = True
        if timeout > 0:
            loop = asyncio.get_running_loop()
            self._scan_stop = loop.call_later(timeout, lambda: loop.create_task(self.rpc_stop_scan()))

    async def rpc_stop_scan(self) -> None:
        if self._scan_stop is not None:
            self._scan_stop.cancel()
            self._scan_stop = None
        if self.scanning:
            self.scanning = False
            with contextlib.suppress(Exception):
                await self.device.stop_scanning()

    async def rpc_isscanning(self) -> bool:
        return self.scanning

    def _on_advertisement(self, adv: Advertisement) -> None:
        if not self.scanning:
            return
        data = bytes(adv.data)[:ADV_DATA_LEN].ljust(ADV_DATA_LEN, b"\x00")
        adv_type = pycom.CONN_ADV if adv.is_connectable else pycom.DISC_ADV if adv.is_scannable else pycom.NON_CONN_ADV
        if adv.is_scan_response:
            adv_type = pycom.SCAN_RSP & 3  # modbt reports evt_type & 3: SCAN_RSP(4) becomes 0 ("FIXME")
        record = [bytes(adv.address)[::-1], adv.address.address_type & 3, adv_type, adv.rssi, data]
        if len(self.adverts) < ADV_QUEUE_LEN:
            self.adverts.append(record)
        self.owner._bt_event(pycom.NEW_ADV_EVENT)

    async def rpc_get_adv(self) -> list | None:
        return self.adverts.popleft() if self.adverts else None

    async def rpc_get_advertisements(self) -> list:
        out = list(self.adverts)
        self.adverts.clear()
        return out

    # ----------------------------------------------------------------------------------------------------------
    # Connections

    async def rpc_connect(self, addr: bytes, timeout_ms: int | None, addr_type: int) -> int:
        if len(addr) != 6:
            raise ValueError("invalid address")
        kind = hci.Address.PUBLIC_DEVICE_ADDRESS if addr_type in (0, 2) else hci.Address.RANDOM_DEVICE_ADDRESS
        address = hci.Address(bytes(addr)[::-1], kind)  # Bumble keeps addresses little-endian
        if self.scanning:
            await self.rpc_stop_scan()
        try:
            connection = await self.device.connect(
                address,
                own_address_type=hci.OwnAddressType.PUBLIC,
                timeout=None if timeout_ms is None else timeout_ms / 1000,
            )
        except TimeoutError:
            raise TimeoutError("timed out") from None
        except Exception as exc:
            if "timeout" in type(exc).__name__.lower():
                raise TimeoutError("timed out") from None
            raise OSError("connection refused") from None
        peer = Peer(connection)
        cid = self._new_id()
        self.connections[cid] = peer
        return cid

    def _peer(self, conn_id: int) -> Peer:
        peer = self.connections.get(conn_id)
        if peer is None:
            raise OSError("connection closed")
        return peer

    async def rpc_gattc_isconnected(self, conn_id: int) -> bool:
        peer = self.connections.get(conn_id)
        return bool(peer and peer.connection.handle in self.device.connections)

    async def rpc_gattc_disconnect(self, conn_id: int) -> None:
        peer = self.connections.pop(conn_id, None)
        if peer is not None:
            with contextlib.suppress(Exception):
                await peer.connection.disconnect()

    async def rpc_gattc_mtu(self, conn_id: int) -> int:
        return self._peer(conn_id).connection.att_mtu

    async def rpc_gattc_services(self, conn_id: int) -> list:
        peer = self._peer(conn_id)
        services = await peer.discover_services()
        out = []
        for instance, service in enumerate(services):
            sid = self._new_id()
            self.services[sid] = (conn_id, service)
            out.append([sid, pycom.uuid_to_pycom(service.uuid), instance])
        return out

    async def rpc_gattc_characteristics(self, sid: int) -> list:
        conn_id, service = self.services[sid]
        self._peer(conn_id)
        chars = await service.discover_characteristics()
        out = []
        for char in chars:
            cid = self._new_id()
            self.chars[cid] = (conn_id, char)
            out.append([cid, pycom.uuid_to_pycom(char.uuid), int(char.properties)])
        return out

    def _proxy(self, cid: int) -> CharacteristicProxy:
        conn_id, char = self.chars[cid]
        self._peer(conn_id)
        return char

    async def rpc_gattc_read(self, cid: int) -> bytes:
        char = self._proxy(cid)
        value = bytes(await char.read_value(no_long_read=True))
        self.values[cid] = value
        return value

    async def rpc_gattc_read_descriptor(self, cid: int, uuid16: int) -> bytes | None:
        char = self._proxy(cid)
        for descriptor in await char.discover_descriptors():
            if descriptor.type == pycom.uuid_from_pycom(uuid16):
                return bytes(await descriptor.read_value())
        return None

    async def rpc_gattc_write(self, cid: int, data: bytes) -> None:
        await self._proxy(cid).write_value(bytes(data), with_response=True)

    async def rpc_gattc_value(self, cid: int) -> bytes:
        return self.values.get(cid, b"")

    async def rpc_gattc_callback(self, cid: int, trigger: int | None) -> None:
        """Trigger must be exactly CHAR_NOTIFY_EVENT; subscribing writes 0x0001 to the CCCD (4.8)."""
        char = self._proxy(cid)
        if not trigger:
            self.triggers.pop(cid, None)
            return
        if trigger != pycom.CHAR_NOTIFY_EVENT:
            raise ValueError("invalid trigger")
        self.triggers[cid] = trigger

        def on_value(value: bytes, event: int) -> None:
            self.values[cid] = bytes(value)
            if cid in self.triggers:
                self.owner._queue_event("gattc", [cid, event, bytes(value)])

        if cid not in self.subscribed:
            self.subscribed.add(cid)
            client = char.client
            notify = client.notification_subscribers.setdefault(char.handle, set())
            notify.add(lambda value: on_value(value, pycom.CHAR_NOTIFY_EVENT))
            indicate = client.indication_subscribers.setdefault(char.handle, set())
            indicate.add(lambda value: on_value(value, pycom.CHAR_INDICATE_INTERNAL))
        # modbt writes 0x0001 to the CCCD whatever the characteristic's properties; indications still arrive
        await char.discover_descriptors()
        cccd = char.get_descriptor(GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR)
        if cccd is not None:
            await cccd.write_value(b"\x01\x00", with_response=True)
