"""The stock ESP32 board's Bluetooth stack: MicroPython's `bluetooth.BLE` as the ESP32 port builds it (NimBLE, bindings
only, sync events, central mode, pairing/bonding compiled in, no L2CAP channels) on a Bumble Device connected to the
shared radio hub. Device code (firmware/device/bluetooth.py) reaches it through the bridge service "ble".

Errors come back as `["err", errno]` (the device raises `OSError(errno)` like modbluetooth's
`bluetooth_handle_errno`), results as `["ok", value]`. IRQ events go to the device one at a time and in order, each
waiting for its handler as the NimBLE host task does with sync events (a read request's answer is the handler's
return value). The stack is taken down by `active(False)`, soft reset (main.c calls `mp_bluetooth_deinit`) and hard
reset; `gap_name` survives soft resets (a static of NimBLE's GAP service).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from bumble import hci
from bumble.device import Advertisement, AdvertisingType, Connection, Device, DeviceConfiguration

from pytool.ble.quiet_host import device_with_hci
from pytool.sim.bluetooth.nimble_errno import EALREADY, EINVAL, EIO, ENODEV, ENOMEM, ENOTCONN, Errno
from pytool.sim.bluetooth.nimble_gattc import NimbleClient
from pytool.sim.bluetooth.nimble_gatts import NimbleDatabase
from pytool.sim.bluetooth.nimble_security import BoardSecrets, PairingCalls
from pytool.sim.bluetooth.nimble_server import GattServerCalls
from pytool.sim.bluetooth.stack import colon, join_radio, power_off, quietly, set_public_address

logger = logging.getLogger(__name__)

EVENT_SERVICE = "ble"
EVENT_TIMEOUT = 30.0  # a handler that has not returned by then: the stack moves on (the ATT client times out too)

# IRQ event codes (extmod/modbluetooth.h)
IRQ_CENTRAL_CONNECT, IRQ_CENTRAL_DISCONNECT, IRQ_GATTS_WRITE, IRQ_GATTS_READ_REQUEST = 1, 2, 3, 4
IRQ_SCAN_RESULT, IRQ_SCAN_DONE, IRQ_PERIPHERAL_CONNECT, IRQ_PERIPHERAL_DISCONNECT = 5, 6, 7, 8
IRQ_GATTC_SERVICE_RESULT, IRQ_GATTC_SERVICE_DONE = 9, 10
IRQ_GATTC_CHARACTERISTIC_RESULT, IRQ_GATTC_CHARACTERISTIC_DONE = 11, 12
IRQ_GATTC_DESCRIPTOR_RESULT, IRQ_GATTC_DESCRIPTOR_DONE = 13, 14
IRQ_GATTC_READ_RESULT, IRQ_GATTC_READ_DONE, IRQ_GATTC_WRITE_DONE = 15, 16, 17
IRQ_GATTC_NOTIFY, IRQ_GATTC_INDICATE, IRQ_GATTS_INDICATE_DONE, IRQ_MTU_EXCHANGED = 18, 19, 20, 21
IRQ_CONNECTION_UPDATE = 27

DEFAULT_GAP_NAME = b"MPY ESP32"  # ports/esp32/boards/sdkconfig.ble CONFIG_BT_NIMBLE_SVC_GAP_DEVICE_NAME
GAP_NAME_MAX = 31  # CONFIG_BT_NIMBLE_GAP_DEVICE_NAME_MAX_LEN
DEFAULT_MTU = 256  # CONFIG_BT_NIMBLE_ATT_PREFERRED_MTU
MTU_MIN, MTU_MAX = 23, 527  # ble_att_set_preferred_mtu bounds
ADV_DATA_MAX = 31
MAX_CONNECTIONS = 4  # ports/esp32/boards/sdkconfig.ble CONFIG_BT_NIMBLE_MAX_CONNECTIONS
CONN_HANDLE_NONE = 0xFFFF
BLE_HS_ETIMEOUT, BLE_HS_ERR_ATT_BASE = 13, 0x100


def _addr_be(address: hci.Address) -> bytes:
    return bytes(address)[::-1]  # Bumble keeps addresses little-endian; modbluetooth hands them out big-endian


class NimbleService(GattServerCalls, PairingCalls):
    """The bridge service "ble" of one simulated stock ESP32 board (GATT server calls: nimble_server.py, pairing and
    bonding: nimble_security.py)."""

    name = EVENT_SERVICE

    def __init__(self, radio_transport: str, mac: bytes | None = None, event_timeout: float = EVENT_TIMEOUT) -> None:
        self.radio_transport = radio_transport
        base = mac or b"\x24\x0a\xc4\x00\x00\x00"
        # ESP-IDF's esp_read_mac(ESP_MAC_BT): the base MAC with 2 added to its last byte only (no carry)
        self.bt_mac = base[:5] + bytes([(base[5] + 2) & 0xFF])
        self.event_timeout = event_timeout
        self.conn: Any = None  # BridgeConnection of the running interpreter
        self.device: Device | None = None
        self._hci: Any = None
        self.db: NimbleDatabase | None = None
        self.gattc: NimbleClient | None = None
        self.gap_name = DEFAULT_GAP_NAME
        self.security: dict[str, Any] = {}  # bond/mitm/io/le_secure: ble_hs_cfg, kept across active() and soft resets
        self.irq_dead = False  # the device stopped answering IRQ events (until the next boot)
        self._idle = asyncio.Event()  # no IRQ batch in flight (see call())
        self._idle.set()
        self._events: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._reset_state()

    def _reset_state(self) -> None:
        self.addr_mode = 0
        self.random_address: bytes | None = None
        self.mtu = DEFAULT_MTU
        self.adv_data = b""
        self.resp_data = b""
        self.scanning = False
        self._scan_stop: asyncio.TimerHandle | None = None
        self.connecting: asyncio.Task | None = None
        self.links: dict[int, Connection] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._reset_security()

    @property
    def active(self) -> bool:
        return self.device is not None

    # ----------------------------------------------------------------------------------------------------------
    # BridgeService protocol

    async def call(self, method: str, args: list, conn: Any) -> Any:
        """A device call `_bridge.call("ble", method, from_irq, *args)`: ["ok", result] or ["err", errno].

        A call from the main thread waits while IRQ handlers run and until the stack has finished what their
        results started (a write response, say): on the board the main task cannot run then (the NimBLE task
        holds the GIL and keeps the CPU). Calls made by the handlers themselves (`from_irq`) go at once."""
        if conn is not None:
            self.conn = conn
        from_irq, args = bool(args[0]) if args else False, args[1:]
        if not from_irq:
            await self._idle.wait()
        handler = getattr(self, f"rpc_{method}", None)
        if handler is None and self.gattc is not None:
            handler = getattr(self.gattc, f"rpc_{method}", None)
        if handler is None and method.startswith("gattc_"):
            return ["err", ENODEV]  # the stack is not active
        if handler is None:
            raise AttributeError(f"BLE has no method '{method}'")
        try:
            return ["ok", await handler(*args)]
        except Errno as exc:
            return ["err", exc.errno]

    def interpreter_started(self, conn: Any) -> None:
        self.conn = conn
        self.irq_dead = False

    def interpreter_stopped(self, hard: bool) -> None:
        """Soft and hard reset both run mp_bluetooth_deinit(): the stack goes down, links drop."""
        self.conn = None
        self._stop_events()
        if hard:
            self.gap_name = DEFAULT_GAP_NAME
            self.security = {}
        self._spawn(self._stack_down())

    async def close(self) -> None:
        """Board power off / simulator exit."""
        self._stop_events()
        await self._stack_down()

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ----------------------------------------------------------------------------------------------------------
    # IRQ events: one at a time, in order, each waiting for its handler (sync events)

    def emit(self, code: int, items: list, kinds: str) -> asyncio.Future:
        """Queue IRQ `code` with its data tuple (`kinds`: i int, m memoryview, u UUID, per item); the future gets
        the handler's return value (None when nobody handled it)."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        if self.conn is None or not self.active or self.irq_dead:
            future.set_result(None)
            return future
        if self._events is None:
            self._events = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._deliver(self._events, self.conn))
        self._events.put_nowait(([code, items, kinds], future))
        return future

    async def _deliver(self, queue: asyncio.Queue, conn: Any) -> None:
        """Send what is queued as one batch: events the stack raises together (READ_RESULT then READ_DONE, say) run
        back to back on the device, as the NimBLE task runs them without letting the main task in between."""
        while True:
            batch = [await queue.get()]
            self._idle.clear()
            while not queue.empty():
                batch.append(queue.get_nowait())
            results: list = [None] * len(batch)
            if conn is self.conn:
                try:
                    answer = await conn.event(EVENT_SERVICE, "irqs", [p for p, _ in batch], self.event_timeout)
                    if isinstance(answer, list) and len(answer) == len(batch):
                        results = answer
                except TimeoutError:
                    # a handler that never returns, or the bridge's IRQ thread is gone (another service's
                    # callback raised, pytool/sim/README.md): later events are dropped, not waited for
                    logger.debug("ble irqs %s: no answer, IRQs off until the next boot", [p[0] for p, _ in batch])
                    self.irq_dead = True
                except Exception as exc:  # the interpreter is gone
                    logger.debug("ble irqs %s: %r", [p[0] for p, _ in batch], exc)
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            for _ in range(3):  # let the waiters act on the results (send the ATT responses) first
                await asyncio.sleep(0)
            if queue.empty():
                self._idle.set()

    def _stop_events(self) -> None:
        self._idle.set()
        if self._worker is not None:
            self._worker.cancel()
        if self._events is not None:
            while not self._events.empty():
                _, future = self._events.get_nowait()
                if not future.done():
                    future.set_result(None)
        self._events, self._worker = None, None

    # ----------------------------------------------------------------------------------------------------------
    # Stack up / down

    async def _stack_up(self) -> None:
        self.radio_transport, self._hci = await join_radio(self.radio_transport)
        config = DeviceConfiguration(name="ESP32", gap_service_enabled=False, gatt_service_enabled=False)
        device = device_with_hci(self._hci.source, self._hci.sink, config=config)
        device.keystore = BoardSecrets(self)  # bonds live in the application (_IRQ_GET_SECRET / _IRQ_SET_SECRET)
        await device.power_on()
        await set_public_address(device, self.bt_mac)
        device.gatt_server.max_mtu = self.mtu
        device.on("connection", self._on_connection)
        device.pairing_config_factory = self._pairing_config
        # raw reports: Bumble's accumulator holds back a scannable advertisement until its scan response and merges
        # the two; NimBLE reports each PDU as it comes, with its own data
        device.host.on("advertising_report", self._on_report)
        self.device = device
        self.db = NimbleDatabase(device.gatt_server, self._on_read, self._on_write, lambda: self.gap_name)
        self.db.reset()
        self.gattc = NimbleClient(self)
        await self.load_secrets()

    async def _stack_down(self) -> None:
        device, transport = self.device, self._hci
        self.device, self._hci = None, None
        if self._scan_stop is not None:
            self._scan_stop.cancel()
        if self.connecting is not None:
            self.connecting.cancel()
        if self.db is not None:
            self.db.clear()
        self.db, self.gattc = None, None
        self._reset_state()
        await power_off(device, transport)

    def require(self) -> Device:
        if self.device is None:
            raise Errno(ENODEV)  # ERRNO_BLUETOOTH_NOT_ACTIVE
        return self.device

    def own_address_type(self) -> hci.OwnAddressType:
        return hci.OwnAddressType.RANDOM if self.addr_mode else hci.OwnAddressType.PUBLIC

    # ----------------------------------------------------------------------------------------------------------
    # active / config

    async def rpc_active(self, enable: bool | None = None) -> bool:
        if enable is not None:
            # mp_bluetooth_init() starts with mp_bluetooth_deinit(): active(True) on a running stack restarts it
            await self._stack_down()
            if enable:
                await self._stack_up()
        return self.active

    async def rpc_config_get(self, key: str) -> Any:
        if key == "gap_name":
            return self.gap_name
        if key == "mac":
            device = self.require()
            if self.addr_mode in (2, 3) and self.random_address is None:
                raise Errno(EINVAL)
            if self.addr_mode:
                return [1, self.random_address]
            return [0, _addr_be(device.public_address)]
        if key == "mtu":
            self.require()
            return self.mtu
        raise ValueError("unknown config param")  # rxbuf too: the ESP32 port uses sync events (no ring buffer)

    async def rpc_config_set(self, options: dict) -> None:
        for key, value in options.items():
            if key == "gap_name":
                name = bytes(value)
                if len(name) > GAP_NAME_MAX:
                    raise Errno(EINVAL)
                self.gap_name = name
            elif key == "mtu":
                mtu = int(value)
                device = self.require()
                if not MTU_MIN <= mtu <= MTU_MAX:
                    raise Errno(EINVAL)
                self.mtu = device.gatt_server.max_mtu = mtu
            elif key == "addr_mode":
                await self._set_addr_mode(int(value))
            elif key in ("bond", "mitm", "le_secure", "io"):
                self.security[key] = value  # ble_hs_cfg.sm_*: used by the next pairing (nimble_security.py)
            else:
                raise ValueError("unknown config param")

    async def _set_addr_mode(self, mode: int) -> None:
        device = self.require()
        if mode == 0:
            self.addr_mode = 0
            return
        if mode not in (1, 2, 3):
            return  # modbluetooth ignores other values
        raw = bytearray(os.urandom(6))
        raw[0] = (raw[0] & 0x3F) | (0xC0 if mode != 3 else 0x00)  # static random; NRPA: top bits 00
        self.random_address = bytes(raw)
        address = hci.Address(colon(self.random_address), hci.Address.RANDOM_DEVICE_ADDRESS)
        await device.host.send_sync_command(hci.HCI_LE_Set_Random_Address_Command(random_address=address))
        device.random_address = address
        if mode == 1:
            device.static_address = address  # the identity address pairing distributes (nimble_security.py)
        # RPA (2) uses NimBLE's resolvable addresses, which config('mac') cannot report (EINVAL); modelled as the
        # static random identity address (pytool/sim/README.md)
        self.addr_mode = 1 if mode in (1, 3) else 2
        if mode == 2:
            self.random_address = None

    # ----------------------------------------------------------------------------------------------------------
    # GAP: advertising

    async def rpc_gap_advertise(
        self, interval_us: int | None, adv_data: bytes | None, resp_data: bytes | None, connectable: bool
    ) -> None:
        if interval_us is None:
            if self.device is not None:
                await self._stop_advertising()
            return
        device = self.require()
        await self._stop_advertising()
        if adv_data is not None:
            if len(adv_data) > ADV_DATA_MAX:
                raise Errno(EINVAL)
            self.adv_data = bytes(adv_data)
        if resp_data is not None:
            if len(resp_data) > ADV_DATA_MAX:
                raise Errno(EINVAL)
            self.resp_data = bytes(resp_data)
        if connectable and len(self.links) >= MAX_CONNECTIONS:
            raise Errno(ENOMEM)  # ble_gap_adv_start: no connection object left for the link it would make
        # ble_gap_adv_type(): connectable -> ADV_IND; non-connectable with disc_mode GEN (always here) -> ADV_SCAN_IND
        kind = AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE if connectable else AdvertisingType.UNDIRECTED_SCANNABLE
        interval_ms = max(20.0, min(10240.0, int(interval_us) / 1000))
        try:
            await device.start_advertising(
                advertising_type=kind,
                own_address_type=self.own_address_type(),
                advertising_data=self.adv_data,
                scan_response_data=self.resp_data,
                advertising_interval_min=interval_ms,
                advertising_interval_max=interval_ms,
            )
        except hci.HCI_Error as exc:
            raise Errno(EIO) from exc

    def advertising(self) -> bool:
        device = self.device
        return bool(device is not None and (device.legacy_advertising_set or device.legacy_advertiser))

    async def _stop_advertising(self) -> None:
        if self.advertising() and self.device is not None:
            with contextlib.suppress(Exception):
                await self.device.stop_advertising()

    # ----------------------------------------------------------------------------------------------------------
    # GAP: scanning

    async def rpc_gap_scan(self, duration_ms: int | None, interval_us: int, window_us: int, active: bool) -> None:
        device = self.require()
        if duration_ms is None:
            await self._stop_scan()
            return
        if self.scanning:
            raise Errno(EALREADY)  # ble_gap_disc while discovering: BLE_HS_EALREADY
        interval = max(2.5, min(10240.0, interval_us / 1000))
        window = max(2.5, min(interval, window_us / 1000))
        await device.start_scanning(
            legacy=True,
            active=bool(active),
            scan_interval=interval,
            scan_window=window,
            own_address_type=self.own_address_type(),
            filter_duplicates=False,
        )
        self.scanning = True
        if duration_ms > 0:
            loop = asyncio.get_running_loop()
            self._scan_stop = loop.call_later(duration_ms / 1000, lambda: self._spawn(self._stop_scan()))

    async def _stop_scan(self) -> None:
        if self._scan_stop is not None:
            self._scan_stop.cancel()
            self._scan_stop = None
        if not self.scanning:
            return
        self.scanning = False
        if self.device is not None:
            with contextlib.suppress(Exception):
                await self.device.stop_scanning()
        self.emit(IRQ_SCAN_DONE, [], "")

    def _on_report(self, report: Any) -> None:
        if not self.scanning or self.device is None:
            return
        adv = Advertisement.from_advertising_report(report)
        if adv is None:
            return
        if adv.is_scan_response:
            adv_type = 4  # SCAN_RSP
        elif adv.is_directed:
            adv_type = 1  # ADV_DIRECT_IND
        elif adv.is_connectable:
            adv_type = 0  # ADV_IND
        elif adv.is_scannable:
            adv_type = 2  # ADV_SCAN_IND
        else:
            adv_type = 3  # ADV_NONCONN_IND
        address = adv.address
        items = [address.address_type & 1, _addr_be(address), adv_type, adv.rssi, bytes(adv.data_bytes)]
        self.emit(IRQ_SCAN_RESULT, items, "imiim")

    # ----------------------------------------------------------------------------------------------------------
    # GAP: connections

    async def rpc_gap_connect(self, addr_type: int | None, addr: bytes | None = None, scan_ms: int = 2000) -> None:
        device = self.require()
        if addr_type is None:
            if self.connecting is None or self.connecting.done():
                raise Errno(EALREADY)  # ble_gap_conn_cancel without a pending connection
            self.connecting.cancel()
            return
        if addr is None or len(addr) != 6:
            raise ValueError("invalid addr")
        if self.connecting is not None and not self.connecting.done():
            raise Errno(EALREADY)
        if len(self.links) >= MAX_CONNECTIONS:
            raise Errno(ENOMEM)  # ble_gap_connect: ble_hs_conn_can_alloc() fails
        if self.scanning:
            await self._stop_scan()
        kind = hci.Address.RANDOM_DEVICE_ADDRESS if addr_type & 1 else hci.Address.PUBLIC_DEVICE_ADDRESS
        address = hci.Address(colon(bytes(addr)), kind)
        timeout = None if not scan_ms or scan_ms < 0 else scan_ms / 1000
        self.connecting = self._spawn(self._connect(device, address, timeout))

    async def _connect(self, device: Device, address: hci.Address, timeout: float | None) -> None:
        try:
            await device.connect(address, own_address_type=self.own_address_type(), timeout=timeout)
        except asyncio.CancelledError:
            self.emit(IRQ_PERIPHERAL_DISCONNECT, [CONN_HANDLE_NONE, 0xFF, bytes(6)], "iim")
            raise
        except Exception as exc:  # timeout (BLE_HS_ETIMEOUT) or refused: "Connection failed"
            logger.debug("gap_connect %s: %r", address, exc)
            self.emit(IRQ_PERIPHERAL_DISCONNECT, [CONN_HANDLE_NONE, 0xFF, bytes(6)], "iim")
        finally:
            self.connecting = None

    async def rpc_gap_disconnect(self, conn_handle: int) -> bool:
        self.require()
        connection = self.links.get(conn_handle)
        if connection is None:
            return False  # ENOTCONN -> False
        self._spawn(self._terminate(connection))
        return True

    @staticmethod
    async def _terminate(connection: Connection) -> None:
        # ble_gap_terminate() returns at once; LL_TERMINATE_IND goes out at the next connection event, so the
        # disconnect event never comes before the call has returned
        await asyncio.sleep(0.03)
        await quietly(connection.disconnect())

    def _on_connection(self, connection: Connection) -> None:
        central = connection.role == hci.Role.CENTRAL  # we connected out: PERIPHERAL_* events
        if len(self.links) >= MAX_CONNECTIONS:
            # NimBLE has no connection object for it (ble_gap_rx_conn_complete): the link goes, the app hears nothing
            reason = hci.HCI_REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_LOW_RESOURCES_ERROR
            self._spawn(quietly(connection.disconnect(reason)))
            return
        self.links[connection.handle] = connection
        peer = connection.peer_address
        items = [connection.handle, peer.address_type & 1, _addr_be(peer)]
        connection.on("disconnection", lambda reason: self._on_disconnection(connection, central))
        connection.on("connection_att_mtu_update", lambda: self._on_mtu(connection))
        connection.on("connection_parameters_update", lambda: self._on_conn_update(connection, 0))
        connection.on("connection_parameters_update_failure", lambda *_: self._on_conn_update(connection, 1))
        self.watch_security(connection)
        if self.gattc is not None:
            self.gattc.attach(connection)
        self.emit(IRQ_PERIPHERAL_CONNECT if central else IRQ_CENTRAL_CONNECT, items, "iim")

    def _on_disconnection(self, connection: Connection, central: bool) -> None:
        if self.links.get(connection.handle) is connection:
            del self.links[connection.handle]
            self._locks.pop(connection.handle, None)
            self.drop_security(connection.handle)
        if self.db is not None:
            self.db.drop_connection(connection.handle)
        if self.gattc is not None:
            self.gattc.detach(connection)
        peer = connection.peer_address
        items = [connection.handle, peer.address_type & 1, _addr_be(peer)]
        self.emit(IRQ_PERIPHERAL_DISCONNECT if central else IRQ_CENTRAL_DISCONNECT, items, "iim")

    def _on_conn_update(self, connection: Connection, status: int) -> None:
        # BLE_GAP_EVENT_CONN_UPDATE: the link's parameters now (units of 1.25 ms, events, 10 ms), status 0 or 1
        params = connection.parameters
        interval, timeout = round(params.connection_interval / 1.25), round(params.supervision_timeout / 10)
        items = [connection.handle, interval, params.peripheral_latency, timeout, status]
        self.emit(IRQ_CONNECTION_UPDATE, items, "iiiii")

    def _on_mtu(self, connection: Connection) -> None:
        self.emit(IRQ_MTU_EXCHANGED, [connection.handle, connection.att_mtu], "ii")

    def link(self, conn_handle: int) -> Connection:
        connection = self.links.get(conn_handle)
        if connection is None:
            raise Errno(ENOTCONN)
        return connection
