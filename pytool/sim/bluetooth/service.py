"""The board's Bluetooth stack: Pycom 1.20.2 `network.Bluetooth` semantics (reference section 4) on a Bumble Device
connected to the shared radio hub. Device code reaches it through the bridge service "bt"; callbacks go back as
bridge events, one at a time and in order, through a queue of 32 like Pycom's IRQ task (4.7).

The stack is brought up by the first `Bluetooth()` and stays up across soft resets (4.10): a soft reset
unregisters the GATT apps (services vanish; callbacks are gone) but keeps the link and the advertising; a later
`Bluetooth().service(...)` then hangs as on the board. `deinit()` and hard resets take the stack down: the board's
controller leaves the air and its peer sees the link drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Any

from bumble import att, hci
from bumble.device import Connection, Device
from bumble.gatt import GATT_DEVICE_NAME_CHARACTERISTIC
from bumble.pairing import PairingConfig, PairingDelegate

from pytool.ble.address import bt_mac
from pytool.ble.quiet_host import device_with_hci
from pytool.sim.bluetooth import pycom
from pytool.sim.bluetooth.bluedroid import install_profile_services
from pytool.sim.bluetooth.gattc import GattClient
from pytool.sim.bluetooth.gatts import Characteristic, Database
from pytool.sim.bluetooth.stack import join_radio, power_off, quietly, set_public_address

logger = logging.getLogger(__name__)

CALLBACK_TIMEOUT = 5.0  # a read callback that has not answered by then gets the client an ATT error
IRQ_QUEUE_LEN = 32  # mpirq.c: xQueueSend with 0 timeout on a queue of 32
EVENT_SERVICE = "bt"


class BluetoothService:
    """The bridge service "bt" of one simulated board."""

    name = EVENT_SERVICE

    def __init__(
        self,
        radio_transport: str,
        mac: bytes | None = None,
        board_name: str = "ESP32",
        callback_timeout: float = CALLBACK_TIMEOUT,
    ) -> None:
        self.radio_transport = radio_transport
        self.bt_mac = bt_mac(mac or b"\x24\x0a\xc4\x00\x00\x00")  # ESP-IDF: base MAC + 2 in the last octet
        self.board_name = board_name
        self.callback_timeout = callback_timeout
        self.conn: Any = None  # BridgeConnection of the running interpreter
        self.device: Device | None = None
        self._hci: Any = None
        self.db: Database | None = None
        self.gattc: GattClient | None = None
        self.apps_registered = False
        self._reset_state()
        self._irq: asyncio.Queue | None = None
        self._irq_task: asyncio.Task | None = None
        self.irq_dead = False
        self._hangs: list[asyncio.Future] = []
        self.faults: Any = None  # pytool.sim.faults.FaultInjector, set once a BLE fault is armed

    def _reset_state(self) -> None:
        self.mtu = pycom.MTU_MAX
        self.secure = False
        self.advertising = False  # advertise(True) flag: re-arms advertising after a client disconnects
        self.adv_data = pycom.advertising_data(None, pycom.TX_PWR_DBM[pycom.TX_PWR_DEFAULT_LEVEL])
        self.scan_rsp = b""
        self.tx_levels = dict.fromkeys(
            (pycom.TX_PWR_CONN, pycom.TX_PWR_ADV, pycom.TX_PWR_SCAN, pycom.TX_PWR_DEFAULT), pycom.TX_PWR_DEFAULT_LEVEL
        )
        self.bt_trigger = 0
        self.bt_events = 0
        self.client: Connection | None = None  # the one GATTS client
        self.mtu_exchanged = asyncio.Event() if self._has_loop() else None
        self.modem_sleep = True

    @staticmethod
    def _has_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    # ----------------------------------------------------------------------------------------------------------
    # BridgeService protocol

    async def call(self, method: str, args: list, conn: Any) -> Any:
        """A device call `_bridge.call("bt", method, *args)`."""
        if conn is not None:
            self.conn = conn
        name = f"rpc_{method}"
        handler = getattr(self, name, None)
        if handler is None and hasattr(GattClient, name):  # scanning and GATT client calls
            if self.gattc is None:
                raise OSError("Bluetooth not initialised")
            handler = getattr(self.gattc, name)
        if handler is None:
            raise AttributeError(f"Bluetooth has no method '{method}'")
        return await handler(*args)

    def interpreter_started(self, conn: Any) -> None:
        """A (soft or hard) boot: callbacks run again on a fresh IRQ thread."""
        self.conn = conn
        self.irq_dead = False

    def interpreter_stopped(self, hard: bool) -> None:
        """Soft reboot: GATT apps unregistered, link and advertising kept (4.10). Hard: stack down."""
        self.conn = None
        self._stop_irq()
        for hang in self._hangs:  # calls of the interpreter that is gone
            hang.cancel()
        self._hangs.clear()
        if hard:
            asyncio.get_running_loop().create_task(power_off(*self._detach()))
            return
        if self.device is not None:
            self.apps_registered = False
            if self.db is not None:
                self.db.clear()
            if self.gattc is not None:
                self.gattc.reset_callbacks()
            self.bt_trigger = 0

    # ----------------------------------------------------------------------------------------------------------
    # The IRQ queue: device callbacks, one at a time, in order

    def _queue_event(self, name: str, payload: list, char: Characteristic | None = None) -> bool:
        """Queue a callback for the device's IRQ thread; False if it cannot run (no interpreter, dead, full)."""
        if self.conn is None or self.irq_dead:
            return False
        if self._irq is None:
            self._irq = asyncio.Queue(IRQ_QUEUE_LEN)
            self._irq_task = asyncio.get_running_loop().create_task(self._irq_worker(self._irq, self.conn))
        try:
            self._irq.put_nowait((name, payload, char))
        except asyncio.QueueFull:
            return False
        return True

    async def _irq_worker(self, queue: asyncio.Queue, conn: Any) -> None:
        while True:
            name, payload, char = await queue.get()
            if self.irq_dead or conn is not self.conn:
                result = None
            else:
                try:
                    result = await conn.event(EVENT_SERVICE, name, payload, self.callback_timeout)
                except Exception as exc:  # timed out, or the handler failed: no answer
                    logger.debug("bt event %s %s: %r", name, payload, exc)
                    result = _NO_ANSWER
            if char is not None and char.pending_read is not None and not char.pending_read.done():
                # modbt answers a deferred read after ANY callback of that characteristic (4.5 race)
                char.pending_read.set_result(result)

    def _stop_irq(self) -> None:
        if self._irq_task is not None:
            self._irq_task.cancel()
        self._irq, self._irq_task = None, None
        if self.db is not None:
            for char in self.db.characteristics.values():
                if char.pending_read is not None and not char.pending_read.done():
                    char.pending_read.set_result(_NO_ANSWER)

    async def rpc_irq_died(self) -> None:
        """The device's IRQ thread is about to die (a handler raised): every later callback is lost."""
        self.irq_dead = True
        self._stop_irq()

    # ----------------------------------------------------------------------------------------------------------
    # Stack up / down

    async def _stack_up(self) -> None:
        self.radio_transport, self._hci = await join_radio(self.radio_transport)
        device = device_with_hci(self._hci.source, self._hci.sink, self.board_name, hci.Address("C0:00:00:00:00:00"))
        install_profile_services(device.gatt_server, self.board_name.encode())  # Bluedroid's, not Bumble's
        await device.power_on()
        await set_public_address(device, self.bt_mac)
        device.gatt_server.max_mtu = self.mtu
        device.on("connection", self._on_connection)
        self.device = device
        self.db = Database(device.gatt_server, self._on_read, self._on_write, self._on_cccd)
        self.gattc = GattClient(self, device)
        self.apps_registered = True
        self.mtu_exchanged = asyncio.Event()

    async def _stack_down(self) -> None:
        await power_off(*self._detach())

    def _detach(self) -> tuple[Device | None, Any]:
        """Forget the stack at once (a new Bluetooth() may come before the old radio is off)."""
        device, transport = self.device, self._hci
        self.device, self._hci = None, None
        if self.db is not None:
            self.db.clear()
        if self.gattc is not None:
            self.gattc.close()
        self.db, self.gattc, self.apps_registered = None, None, False
        self._reset_state()
        return device, transport

    def _require_stack(self) -> Device:
        if self.device is None:
            raise OSError("Bluetooth not initialised")  # pragma: no cover - the device module inits first
        return self.device

    async def close(self) -> None:
        """Board power off / simulator exit."""
        self._stop_irq()
        await self._stack_down()

    # ----------------------------------------------------------------------------------------------------------
    # Bluetooth: init / deinit / misc (4.1, 4.2)

    async def rpc_init(self, options: dict) -> None:
        if self.device is not None and not options.get("explicit", True):
            return  # Bluetooth() without arguments on a running stack: nothing to do
        if options.get("mode", 0) != 0:
            raise ValueError("invalid Bluetooth mode")
        self.mtu = max(23, min(int(options.get("mtu", pycom.MTU_MAX)), pycom.MTU_MAX))  # BT_MTU_SIZE_MAX
        if options.get("pin") is not None:
            self.secure = True
        if self.device is None:
            await self._stack_up()
        else:
            self.device.gatt_server.max_mtu = self.mtu
        if options.get("pin") is not None:
            self._require_pin(int(options["pin"]), bool(options.get("secure_connections", True)))
        if options.get("modem_sleep") is not None:
            self.modem_sleep = bool(options["modem_sleep"])

    async def rpc_deinit(self) -> None:
        await self._stack_down()

    async def rpc_modem_sleep(self, enable: bool | None = None) -> bool | None:
        if enable is None:
            return self.modem_sleep
        self.modem_sleep = bool(enable)
        return None

    async def rpc_tx_power(self, kind: int, level: int | None = None) -> int | None:
        if kind not in self.tx_levels:
            raise ValueError("invalid TX power type")
        if level is None:
            return pycom.TX_PWR_DBM[self.tx_levels[kind]]
        pycom.tx_power_dbm(level)
        self.tx_levels[kind] = level
        return None

    async def rpc_set_pin(self, pin: int) -> None:
        self.secure = True
        self._require_pin(int(pin), True)

    def _require_pin(self, pin: int, secure_connections: bool) -> None:
        """4.1 pin=: a secure GATT server with a static passkey, bonding, SC+MITM if secure_connections."""
        device = self._require_stack()

        class StaticPasskey(PairingDelegate):
            async def generate_passkey(self) -> int:
                return pin

        delegate = StaticPasskey(io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY)
        device.pairing_config_factory = lambda connection: PairingConfig(
            sc=secure_connections, mitm=True, bonding=True, delegate=delegate
        )

    async def rpc_nvram_erase(self) -> None:
        return None

    async def rpc_callback(self, trigger: int) -> None:
        self.bt_trigger = trigger or 0

    async def rpc_events(self) -> int:
        events, self.bt_events = self.bt_events, 0
        return events

    async def rpc_gatts_mtu(self) -> int | None:
        """4.8: with a client, wait up to 1 s for the MTU-exchange bit and clear it: the MTU once per exchange."""
        if self.client is None or self.mtu_exchanged is None:
            return None
        try:
            await asyncio.wait_for(self.mtu_exchanged.wait(), 1.0)
        except TimeoutError:
            return None
        self.mtu_exchanged.clear()
        return self.client.att_mtu & 0xFF

    async def rpc_disconnect_client(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.disconnect()

    # ----------------------------------------------------------------------------------------------------------
    # Advertising (4.2)

    async def rpc_set_advertisement(
        self, name: bytes | None, manufacturer_data: bytes | None, service_data: bytes | None, service_uuid: Any
    ) -> None:
        if isinstance(service_uuid, int):
            # 4.2: an int service_uuid advertises 16 bytes from a 4-byte stack variable: int LE + stack garbage
            service_uuid = (service_uuid & 0xFFFFFFFF).to_bytes(4, "little") + bytes(12)
        tx = pycom.TX_PWR_DBM[self.tx_levels[pycom.TX_PWR_ADV]]
        self.adv_data = pycom.advertising_data(name.decode("utf-8", "replace") if name else None, tx)
        self.scan_rsp = pycom.scan_response_data(manufacturer_data, service_data, service_uuid)
        self._set_device_name(bytes(name) if name else b" ")  # esp_ble_gap_set_device_name: " " without a name
        await self._refresh_advertising()

    def _set_device_name(self, name: bytes) -> None:
        """The GAP Device Name characteristic (0x2A00) follows the advertised name, as on the board."""
        device = self._require_stack()
        for attribute in device.gatt_server.attributes:
            if attribute.type == GATT_DEVICE_NAME_CHARACTERISTIC:
                attribute.value = name

    async def rpc_set_advertisement_raw(self, data: bytes) -> None:
        self.adv_data = bytes(data)[: pycom.RAW_ADV_MAX]
        await self._refresh_advertising()

    async def rpc_set_advertisement_params(self, options: dict) -> None:
        return None  # intervals, channel map and filter policy have no observable effect on the virtual link

    async def rpc_advertise(self, enable: bool) -> None:
        device = self._require_stack()
        self.advertising = bool(enable)
        await asyncio.sleep(0.05)  # modbt sleeps 50 ms
        if self.advertising:
            await self._start_advertising()
        else:
            await device.stop_advertising()

    async def _start_advertising(self) -> None:
        device = self._require_stack()
        if self.faults is not None and not self.faults.ble_advertising_allowed():
            return
        await device.start_advertising(
            own_address_type=hci.OwnAddressType.PUBLIC,
            advertising_data=self.adv_data,
            scan_response_data=self.scan_rsp,
            advertising_interval_min=20,
            advertising_interval_max=40,
        )

    async def _refresh_advertising(self) -> None:
        device = self.device
        if device is not None and (device.legacy_advertising_set or device.legacy_advertiser):
            await self._start_advertising()

    # ----------------------------------------------------------------------------------------------------------
    # Connections (4.8)

    def _on_connection(self, connection: Connection) -> None:
        if connection.role != hci.Role.PERIPHERAL:
            return  # our own GATTC connection (gattc.py)
        if self.faults is not None and self.faults.ble_refuse(connection):
            return
        if not self.apps_registered:
            return  # after a soft reset no GATTS app hears ESP_GATTS_CONNECT_EVT (4.10): the link is all there is
        if self.client is not None:
            # one GATTS client: a second connection is closed immediately (ESP_GATTS_CONNECT_EVT)
            asyncio.get_running_loop().create_task(connection.disconnect())
            return
        self.client = connection
        if self.mtu_exchanged is not None:
            self.mtu_exchanged.clear()
        connection.on("connection_att_mtu_update", self._on_mtu)
        connection.on("disconnection", lambda reason: self._on_disconnection(connection))
        self._bt_event(pycom.CLIENT_CONNECTED)

    def _on_mtu(self) -> None:
        if self.mtu_exchanged is not None:
            self.mtu_exchanged.set()

    def _on_disconnection(self, connection: Connection) -> None:
        if connection is not self.client:
            return
        self.client = None
        self._bt_event(pycom.CLIENT_DISCONNECTED)
        if self.advertising and self.device is not None:
            asyncio.get_running_loop().create_task(self._start_advertising())

    def _bt_event(self, event: int) -> None:
        self.bt_events |= event
        if self.bt_trigger & event:
            self._queue_event("bt", [event])

    # ----------------------------------------------------------------------------------------------------------
    # GATT server (4.3-4.6)

    async def rpc_service(self, uuid: Any, isprimary: bool, nbr_chars: int, start: bool) -> int:
        self._require_stack()
        key = pycom.uuid_from_pycom(uuid)
        if not self.apps_registered:
            # 4.10: after a soft reset the GATTS app is unregistered; Bluedroid never answers and modbt waits
            # with portMAX_DELAY: the call never returns (hard reset, or deinit() before the soft reset)
            hang = asyncio.get_running_loop().create_future()
            self._hangs.append(hang)
            await hang
        assert self.db is not None
        return self.db.add_service(key, bool(isprimary), int(nbr_chars), bool(start)).id

    def _service(self, sid: int):
        assert self.db is not None
        for service in self.db.services:
            if service.id == sid:
                return service
        raise OSError("service no longer exists")

    def _char(self, cid: int) -> Characteristic:
        char = self.db.characteristics.get(cid) if self.db is not None else None
        if char is None:
            raise OSError("characteristic no longer exists")
        return char

    async def rpc_service_start(self, sid: int) -> None:
        assert self.db is not None
        self.db.start(self._service(sid))

    async def rpc_service_stop(self, sid: int) -> None:
        assert self.db is not None
        self.db.stop(self._service(sid))

    async def rpc_characteristic(
        self, sid: int, uuid: Any, permissions: int | None, properties: int | None, value: Any
    ) -> int:
        assert self.db is not None
        service = self._service(sid)
        if permissions is None:
            permissions = pycom.SECURE_PERMISSIONS if self.secure else pycom.DEFAULT_PERMISSIONS
        if properties is None:
            properties = pycom.DEFAULT_PROPERTIES
        key = pycom.uuid_from_pycom(uuid)
        stored = pycom.constructor_value(value)
        return self.db.add_characteristic(service, key, int(permissions), int(properties), stored).id

    async def rpc_char_value(self, cid: int, *value: Any) -> bytes | None:
        char = self._char(cid)
        if not value:
            return char.value
        char.value = pycom.setter_value(value[0])
        # 4.4: value(v) ALWAYS notifies (indicates with PROP_INDICATE) the connected client, CCCD or not;
        # with no client IDF returns ESP_FAIL and value() raises, after storing
        client = self.client
        attribute = self.db.value_attribute(char) if self.db is not None else None
        if client is None or attribute is None:
            raise OSError(pycom.NOTIFY_ERROR)
        self._send_value(client, char, attribute)
        return None

    def _send_value(self, client: Connection, char: Characteristic, attribute: att.Attribute) -> None:
        assert self.device is not None
        payload = char.value[: client.att_mtu - 3]
        if char.properties & pycom.PROP_INDICATE:
            task = self.device.indicate_subscriber(client, attribute, payload, force=True)
            asyncio.get_running_loop().create_task(quietly(task))
        else:
            pdu = att.ATT_Handle_Value_Notification(attribute_handle=char.handle, attribute_value=payload)
            self.device.gatt_server.send_gatt_pdu(client, bytes(pdu))

    async def rpc_char_callback(self, cid: int, trigger: int | None) -> None:
        self._char(cid).trigger = trigger or 0

    async def rpc_char_events(self, cid: int) -> int:
        char = self._char(cid)
        events, char.events = char.events, 0
        return events

    async def rpc_char_config(self, cid: int) -> int:
        return self._char(cid).config

    async def _on_read(self, char: Characteristic, connection: Any) -> bytes:
        _check_permission(char.permissions, connection, read=True)
        char.events |= pycom.CHAR_READ_EVENT
        if not char.trigger & pycom.CHAR_READ_EVENT:
            return char.value  # no read callback: immediate response with the stored value
        future = char.pending_read
        if future is None or future.done():
            # modbt: read_request = True, trans_id saved, handler queued; one pending read per characteristic
            future = char.pending_read = asyncio.get_running_loop().create_future()
            if not self._queue_event("char", [char.id, pycom.CHAR_READ_EVENT, None], char):
                char.pending_read = None
                raise att.ATT_Error(att.ATT_UNLIKELY_ERROR_ERROR)  # the callback cannot run: no 30 s stall
        try:
            result = await asyncio.wait_for(asyncio.shield(future), self.callback_timeout)
        except TimeoutError:
            result = _NO_ANSWER
        finally:
            if char.pending_read is future:
                char.pending_read = None
        if result is _NO_ANSWER:
            raise att.ATT_Error(att.ATT_UNLIKELY_ERROR_ERROR)
        return pycom.read_return_value(result, char.value)

    async def _on_write(self, char: Characteristic, connection: Any, value: bytes) -> None:
        _check_permission(char.permissions, connection, read=False)
        char.value = bytes(value)[: pycom.VALUE_MAX]
        char.events |= pycom.CHAR_WRITE_EVENT
        if char.trigger & pycom.CHAR_WRITE_EVENT:
            self._queue_event("char", [char.id, pycom.CHAR_WRITE_EVENT, char.value], char)
        # the write response goes out now, not after the callback (4.6)

    async def _on_cccd(self, char: Characteristic, connection: Any, value: bytes) -> None:
        raw = bytes(value) + b"\x00\x00"
        char.config = struct.unpack_from("<H", raw)[0]
        char.events |= pycom.CHAR_SUBSCRIBE_EVENT
        if char.trigger & pycom.CHAR_SUBSCRIBE_EVENT:
            self._queue_event("char", [char.id, pycom.CHAR_SUBSCRIBE_EVENT, None], char)
        attribute = self.db.value_attribute(char) if self.db is not None else None
        if char.config == pycom.CHAR_CONFIG_NOTIFY and self.client is not None and attribute is not None:
            self._send_value(self.client, char, attribute)


class _NoAnswer:
    def __repr__(self) -> str:
        return "<no answer>"


_NO_ANSWER = _NoAnswer()


def _check_permission(permissions: int, connection: Any, read: bool) -> None:
    """Bluedroid's attribute permission check: a missing permission is an ATT error, never a hang."""
    allowed = pycom.READ_PERMS if read else pycom.WRITE_PERMS
    if not permissions & allowed:
        raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR if read else att.ATT_WRITE_NOT_PERMITTED_ERROR)
    if permissions & (pycom.PERM_READ if read else pycom.PERM_WRITE):
        return
    encrypted = bool(getattr(connection, "encryption", 0))
    if permissions & (pycom.PERM_READ_ENCRYPTED if read else pycom.PERM_WRITE_ENCRYPTED) and encrypted:
        return
    if encrypted and getattr(connection, "authenticated", False):
        return  # the MITM (and signed) variants: an authenticated, encrypted link
    raise att.ATT_Error(att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR)
