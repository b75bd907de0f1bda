"""One Bumble host (Device + HCI transport) per (transport, event loop), shared by scanners and clients.

Bumble objects belong to the event loop that created them, so hosts are kept per loop. A host is opened by the
first scanner or client that needs it and closed when the last one lets go. When its transport is lost (the
dongle unplugged, the radio hub gone) the host is marked dead, its connections see a disconnection, and the next
`acquire()` opens a fresh one.

Closing is clean and awaited: on a stream transport (tcp-client, unix) the host half-closes its side and waits
until the other end has closed too, and `acquire()` waits for a host of the same transport that is still closing
before it opens a new one. An HCI server that serves one client at a time (Bumble's stock `tcp-server`, a serial
bridge) has then let go of the old connection before the new one arrives; closing and reopening at once used to
race there (scan, close, connect: the old connection's close detached the new one and its HCI_Reset went
unanswered).

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
from bumble.transport.common import Transport, TransportLostError

from pytool.ble.convert import address_str, bleak_errors
from pytool.ble.quiet_host import device_with_hci
from pytool.errors import PytoolError

logger = logging.getLogger(__name__)

POWER_ON_TIMEOUT = 10.0
CLOSE_GRACE = 2.0  # how long the other end of a stream transport may take to close its side
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
        device = device_with_hci(transport.source, transport.sink, "pytool", hci.Address.generate_static_address())
        try:
            await _power_on(device, transport)
        except Exception as error:
            cause, hint = _power_on_failure(error, transport)
            await _close_transport(transport)
            raise TransportUnavailableError(f"no Bluetooth controller answered on {name}: {cause}", hint) from error
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
        """Close the transport cleanly (connections, if any, end with it); a new host for the same transport
        waits in `acquire()` until this returns."""
        self.lost = True
        _forget(self)
        loop = asyncio.get_running_loop()
        closing = _closing.setdefault(loop, {})
        done = loop.create_future()
        closing[self.name] = done
        try:
            await _close_transport(self.transport)
        finally:
            done.set_result(None)
            if closing.get(self.name) is done:
                del closing[self.name]


# -- opening and closing transports -------------------------------------------------------------------------


async def _power_on(device: Device, transport: Transport) -> None:
    """Reset and power on the controller; give up when the transport closes or after POWER_ON_TIMEOUT."""
    powering = asyncio.ensure_future(device.power_on())
    terminated = asyncio.ensure_future(asyncio.shield(transport.source.terminated))
    try:
        done, _ = await asyncio.wait({powering, terminated}, timeout=POWER_ON_TIMEOUT, return_when="FIRST_COMPLETED")
        if powering in done:
            powering.result()
            return
        if terminated in done:
            raise ConnectionResetError("the other end closed the connection during the HCI reset")
        raise TimeoutError(f"HCI_Reset got no answer within {POWER_ON_TIMEOUT:g} s")
    finally:
        for future in (powering, terminated):
            future.cancel()
        await asyncio.gather(powering, terminated, return_exceptions=True)


def _power_on_failure(error: Exception, transport: Transport) -> tuple[str, str]:
    """What went wrong while powering on, and what to do about it (the message and hint of the error)."""
    if isinstance(error, (ConnectionResetError, TransportLostError)) or transport.source.terminated.done():
        return "the other end closed the connection during the HCI reset", (
            "the HCI server dropped this connection: does it serve one client at a time and is another one "
            "(another pytool, bumble app, or this process) attached? Check the PYTOOL_BLE transport"
        )
    if isinstance(error, TimeoutError):
        return str(error), (
            "the transport opened but no controller answers there (an HCI server busy with another client, "
            "or not an HCI transport); check the PYTOOL_BLE transport"
        )
    cause = str(error) or type(error).__name__
    return f"HCI error while powering on: {cause}", "the controller refused to start; check the PYTOOL_BLE transport"


def _stream(transport: Transport) -> asyncio.WriteTransport | None:
    """The asyncio stream under a Bumble transport (tcp-client, unix), if it can be half-closed."""
    sink = getattr(transport, "sink", None)
    for _ in range(3):  # through wrappers such as Bumble's SnoopingTransport.Sink
        stream = getattr(sink, "transport", None)
        if isinstance(stream, asyncio.WriteTransport):
            return stream if stream.can_write_eof() else None
        sink = getattr(sink, "sink", None)
    return None


async def _close_transport(transport: Transport) -> None:
    """Close a transport so that the other end has let go of it when this returns (as far as it can be known).

    On a stream: send EOF and wait (up to CLOSE_GRACE) until the other end closes its side, which an HCI server
    does after it has dropped this client; then close. Other transports are simply closed.
    """
    stream = _stream(transport)
    terminated = transport.source.terminated
    if stream is not None and not stream.is_closing() and not terminated.done():
        with contextlib.suppress(Exception):
            stream.write_eof()
            await asyncio.wait_for(asyncio.shield(terminated), CLOSE_GRACE)
    with contextlib.suppress(Exception):
        await transport.close()


# -- per-loop directory -------------------------------------------------------------------------------------

_hosts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, BumbleHost]] = weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
_closing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[None]]] = (
    weakref.WeakKeyDictionary()
)


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
            closing = _closing.get(loop, {}).get(transport)
            if closing is not None:  # the previous host of this transport is still letting go of it
                await closing
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
