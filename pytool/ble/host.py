"""One Bumble host (Device + HCI transport) per (transport, event loop), shared by scanners and clients.

Bumble objects belong to the event loop that created them, so hosts are kept per loop. A host is opened by the
first scanner or client that needs it and closed when the last one lets go. When its transport is lost (the
dongle unplugged, the radio hub gone) the host is marked dead, its connections see a disconnection, and the next
`acquire()` opens a fresh one.

Scanning is shared too: the controller scans while any scanner wants it (actively if any wants active), and
pauses while a connection is being created (initiating and scanning at once is optional for controllers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable

from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason
from bumble import hci
from bumble.device import Advertisement, Connection, Device
from bumble.transport import open_transport
from bumble.transport.common import Transport

from pytool.ble.convert import address_str, bleak_errors
from pytool.errors import PytoolError

logger = logging.getLogger(__name__)

POWER_ON_TIMEOUT = 10.0
CANCEL_GRACE = 2.0  # how long a controller may take to confirm LE Create Connection Cancel
AdvertisementListener = Callable[[Advertisement], None]


class TransportUnavailableError(BleakBluetoothNotAvailableError):
    """The Bumble transport could not be opened; also carries pytool's message + hint for the CLI."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message, BleakBluetoothNotAvailableReason.NO_BLUETOOTH)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} - {self.hint}"

    def as_pytool_error(self) -> PytoolError:
        return PytoolError(self.message, self.hint)


class BumbleHost:
    """A powered-on Bumble Device on one HCI transport, with shared scanning and a directory of seen addresses."""

    def __init__(self, name: str, transport: Transport, device: Device) -> None:
        self.name = name
        self.transport = transport
        self.device = device
        self.users = 0
        self.lost = False
        self.addresses: dict[str, hci.Address] = {}  # 'AA:BB:..' -> typed address, from advertisements
        self._listeners: dict[object, tuple[AdvertisementListener, bool]] = {}
        self._scanning: bool | None = None  # None: not scanning; else: active?
        self._connecting = 0
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()  # controllers initiate one connection at a time
        device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        transport.source.terminated.add_done_callback(lambda _: self._on_transport_lost())

    @classmethod
    async def open(cls, name: str) -> BumbleHost:
        """Open the transport `name` and power on a host on it."""
        try:
            transport = await open_transport(name)
        except Exception as error:
            raise TransportUnavailableError(
                f"cannot open Bluetooth transport {name}: {error}",
                "check the PYTOOL_BLE transport (is the radio or simulator running, the dongle plugged in?)",
            ) from error
        device = Device.with_hci("pytool", hci.Address.generate_static_address(), transport.source, transport.sink)
        try:
            await asyncio.wait_for(device.power_on(), POWER_ON_TIMEOUT)
        except Exception as error:
            await transport.close()
            raise TransportUnavailableError(
                f"no Bluetooth controller answered on {name}: {error or type(error).__name__}",
                "the transport opened but nothing speaks HCI there; check the PYTOOL_BLE transport",
            ) from error
        logger.debug("bumble host up on %s (%s)", name, device.public_address)
        return cls(name, transport, device)

    # -- advertisements and scanning ------------------------------------------------------------------------

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        self.addresses[address_str(advertisement.address)] = advertisement.address
        for listener, _active in list(self._listeners.values()):
            listener(advertisement)

    async def add_listener(self, token: object, listener: AdvertisementListener, active: bool) -> None:
        """Start receiving advertisements (scanning starts if needed)."""
        self._listeners[token] = (listener, active)
        await self._update_scanning()

    async def remove_listener(self, token: object) -> None:
        """Stop receiving advertisements (scanning stops when nobody listens)."""
        if self._listeners.pop(token, None) is not None:
            await self._update_scanning()

    async def _update_scanning(self) -> None:
        async with self._scan_lock:
            wanted: bool | None = None
            if self._listeners and not self._connecting and not self.lost:
                wanted = any(active for _, active in self._listeners.values())
            if wanted == self._scanning:
                return
            if self._scanning is not None:
                self._scanning = None
                if not self.lost:
                    with bleak_errors("stopping the scan"):
                        await self.device.stop_scanning()
            if wanted is not None:
                with bleak_errors("starting a scan"):
                    await self.device.start_scanning(active=wanted, filter_duplicates=False)
                self._scanning = wanted

    async def find_address(self, address: str, timeout: float) -> hci.Address | None:
        """The typed address of `address` ('AA:BB:...'), scanning up to `timeout` seconds if not seen yet."""
        address = address.upper()
        if address in self.addresses:
            return self.addresses[address]
        found: asyncio.Future[hci.Address] = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Advertisement) -> None:
            if address_str(advertisement.address) == address and not found.done():
                found.set_result(advertisement.address)

        token = object()
        await self.add_listener(token, on_advertisement, active=False)
        try:
            return await asyncio.wait_for(found, timeout)
        except TimeoutError:
            return None
        finally:
            await self.remove_listener(token)

    # -- connections ----------------------------------------------------------------------------------------

    async def connect(self, address: hci.Address, timeout: float) -> Connection:
        """Create an LE connection to `address` (one at a time; scanning pauses meanwhile).

        On timeout Bumble cancels the initiation and waits for the controller to confirm. A controller that never
        confirms (Bumble's virtual one) would hang here and keep initiating: after CANCEL_GRACE the host is retired
        (no new users; closed when its last user leaves) and TimeoutError raised.
        """
        async with self._connect_lock:
            self._connecting += 1
            try:
                await self._update_scanning()
                try:
                    return await asyncio.wait_for(self.device.connect(address, timeout=timeout), timeout + CANCEL_GRACE)
                except TimeoutError:  # ours: Bumble's own (after a confirmed cancel) is core.TimeoutError
                    logger.warning("controller on %s did not confirm a connection cancel: retiring it", self.name)
                    self.retire()
                    raise TimeoutError(f"no connection to {address_str(address)} within {timeout:g} s") from None
            finally:
                self._connecting -= 1
                if not self.lost:
                    await self._update_scanning()

    # -- lifecycle --------------------------------------------------------------------------------------------

    def retire(self) -> None:
        """Hand this host to no new user (acquire() opens a fresh one); it closes when its last user leaves."""
        _forget(self)

    def _on_transport_lost(self) -> None:
        if self.lost:
            return
        self.lost = True
        self._scanning = None
        logger.warning("Bluetooth transport %s lost", self.name)
        _forget(self)

    async def close(self) -> None:
        """Close the transport (connections, if any, end with it)."""
        self.lost = True
        _forget(self)
        with contextlib.suppress(Exception):
            await self.transport.close()


# -- per-loop directory -------------------------------------------------------------------------------------

_hosts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, BumbleHost]] = weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _forget(host: BumbleHost) -> None:
    for hosts in list(_hosts.values()):
        if hosts.get(host.name) is host:
            del hosts[host.name]


async def acquire(transport: str) -> BumbleHost:
    """The live host for `transport` on the running loop (opened if needed); pair with `release()`."""
    loop = asyncio.get_running_loop()
    lock = _locks.setdefault(loop, asyncio.Lock())
    async with lock:
        hosts = _hosts.setdefault(loop, {})
        host = hosts.get(transport)
        if host is None or host.lost:
            host = await BumbleHost.open(transport)
            hosts[transport] = host
        host.users += 1
        return host


async def release(host: BumbleHost) -> None:
    """Let go of a host from `acquire()`; the last user closes it."""
    host.users -= 1
    if host.users <= 0:
        await host.close()


def open_hosts() -> list[BumbleHost]:
    """Hosts currently open on the running loop (for diagnostics and tests)."""
    return list(_hosts.get(asyncio.get_running_loop(), {}).values())
