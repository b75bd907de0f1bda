"""`--port labgrid:PLACE`: a board in a labgrid farm (docs/farm.md).

pytool talks to labgrid's coordinator with labgrid's own client (`labgrid.remote.client.ClientSession`, gRPC,
labgrid >= 25), run on an event loop in a background thread so that it never meets pytool's own asyncio use.

`open_place(name)` is the core: it acquires the place (or uses it when this user on this host already holds
it), waits for its `NetworkSerialPort`, and releases what it acquired on exit, also on Ctrl-C and errors. The
rest of pytool reaches it through three small entry points:

- `place_for(spec)`: the `FarmPlace` for `labgrid:PLACE`, acquired for the rest of the command (or, outside
  the CLI, until the process exits); `pytool.ports` turns it into a URL and reset strategy.
- `command_scope()`: the CLI wraps every command in it; places acquired during the command are released at
  its end.
- `ble_transport(spec)`: the Bumble HCI transport the place carries (for `pytool test` and the plugin).

The holder of a place is `HOST/USER`, as labgrid's client sets it (`LG_HOSTNAME`, `LG_USERNAME`, else the
host name and login). Reservations (`labgrid-client reserve`) are honoured: a place reserved for someone else is
refused in one line, and `labgrid:+TOKEN` (or `labgrid:+` with LG_TOKEN) names the place a reservation of
this user was allocated, as labgrid-client's `-p +TOKEN` does. The coordinator is `--lg-coordinator`, else
`LG_COORDINATOR`, else 127.0.0.1:20408 (labgrid's own default).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pytool import farm
from pytool.errors import PytoolError, UsageError
from pytool.farm import LABGRID_PREFIX
from pytool.farm.labgrid_reset import OUTPUT_DRIVERS, POWER_DRIVERS, PlaceResetter, strategy_for

DEFAULT_COORDINATOR = "127.0.0.1:20408"
CONNECT_TIMEOUT = 10.0  # s to reach the coordinator
CALL_TIMEOUT = 20.0  # s for one request (acquire, release)
PORT_TIMEOUT = 15.0  # s for the exporter to publish the serial port after an acquire (it starts ser2net)
HCI_RESOURCE = "hci"  # name of the NetworkService resource that carries the Bumble HCI transport
HCI_COMMENT_KEY = "hci="  # or, in the place's comment: `hci=tcp-client:HOST:PORT`
BLE_ENV = "PYTOOL_BLE"
TOKEN_ENV = "LG_TOKEN"  # a labgrid reservation token (`labgrid-client reserve --shell`)


@dataclass(frozen=True)
class FarmPlace:
    """An acquired labgrid place and how to reach the board in it."""

    name: str
    coordinator: str
    url: str  # pyserial URL of the board's serial port
    speed: int
    protocol: str  # rfc2217 or raw
    resource: str  # exporter/group/cls/name of the serial port
    ble: str | None  # Bumble HCI transport near the board, or None
    power: str | None  # name of a power resource, when the place has one
    outputs: tuple[str, ...]  # names of its digital outputs (`reset` = EN, `boot` = IO0; see labgrid_reset)
    holder: str  # HOST/USER
    acquired_here: bool  # True when pytool acquired it (and will release it)

    @property
    def reset(self) -> str:
        """The reset strategy: `labgrid` (the place's reset output or power switch), else DTR/RTS over RFC2217
        (a raw TCP port carries no lines: `none`)."""
        if strategy_for(dict.fromkeys(self.outputs, ""), self.power):
            return "labgrid"
        return "dtr-rts" if self.protocol == "rfc2217" else "none"

    @property
    def family(self) -> str:
        return f"labgrid place {self.name} ({self.resource})"


def parse_spec(spec: str) -> str:
    """The place name in `labgrid:PLACE`."""
    name = spec[len(LABGRID_PREFIX) :] if spec.startswith(LABGRID_PREFIX) else spec
    if not name or "/" in name or any(c.isspace() for c in name):
        raise UsageError(f"'{spec}' is not a labgrid place", "write it as labgrid:PLACE (`labgrid-client places`)")
    return name


def coordinator_address(explicit: str | None = None) -> str:
    """`explicit`, else LG_COORDINATOR (which `pytool --lg-coordinator` sets for its run), else labgrid's default
    127.0.0.1:20408."""
    return explicit or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def serial_url(params: dict[str, Any], extra: dict[str, Any]) -> str:
    """The pyserial URL of a NetworkSerialPort.

    ser2net serving a device without modem lines (a pty) never answers RFC2217's SET_CONTROL, so pyserial must
    not wait for it (`?ign_set_control`); a server that carries DTR/RTS (real USB bridges behind ser2net, the
    simulator's own RFC2217 server) gets the plain URL so that DTR/RTS resets are confirmed."""
    host, port = params["host"], params["port"]
    if params.get("protocol", "rfc2217") == "raw":
        return f"socket://{host}:{port}"
    path = str(extra.get("path") or "")
    no_modem_lines = path.startswith(("/dev/pts/", "/dev/pty")) or extra.get("modem_lines") is False
    return f"rfc2217://{host}:{port}" + ("?ign_set_control" if no_modem_lines else "")


def _quiet_labgrid_logs() -> None:
    """labgrid's client logs coordinator trouble on the root logger; pytool reports it in one line instead."""

    def drop(record: logging.LogRecord) -> bool:
        return "labgrid" not in record.pathname.replace("\\", "/")

    root = logging.getLogger()
    if not any(getattr(f, "_pytool_labgrid", False) for f in root.filters):
        drop._pytool_labgrid = True  # type: ignore[attr-defined]
        root.addFilter(drop)


def _import_labgrid() -> tuple[Any, Any]:
    try:
        from labgrid.remote import client as lg_client
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2
    except ImportError as exc:
        raise PytoolError(
            f"labgrid is not installed (needed for --port labgrid:PLACE): {exc}",
            "install it with `pip install 'pytool[labgrid]'`",
        ) from None
    _quiet_labgrid_logs()
    return lg_client, pb2


class Unreachable(PytoolError):
    """The coordinator cannot be reached (not running, wrong address, died meanwhile)."""


class Refused(Exception):
    """The coordinator answered a request with an error (not: could not be reached)."""


class _Coordinator:
    """A labgrid ClientSession on its own event loop thread; `call` runs one coroutine there."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.lg, self.pb2 = _import_labgrid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="labgrid-client", daemon=True)
        self.thread.start()
        self.session: Any = None
        try:
            self.session = self.call(self._start(), CONNECT_TIMEOUT)
        except BaseException:
            self.close()
            raise

    async def _start(self) -> Any:
        from labgrid.util.proxy import proxymanager

        address = proxymanager.get_grpc_address(self.address, default_port=20408)
        session = self.lg.ClientSession(address, self.loop)
        try:
            await session.start()
        except BaseException:
            await self._shutdown(session)
            raise
        return session

    def unreachable(self, what: str) -> Unreachable:
        return Unreachable(
            f"the labgrid coordinator at {self.address} is unreachable ({what})",
            "start labgrid-coordinator there, or point --lg-coordinator / LG_COORDINATOR at it",
        )

    def call(self, coro: Any, timeout: float = CALL_TIMEOUT) -> Any:
        """Run `coro` on the client loop. A coordinator that cannot be reached becomes one PytoolError; a
        request it refuses (grpc status other than UNAVAILABLE) is raised as `Refused`."""
        import grpc

        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise self.unreachable(f"no answer within {timeout:g} s") from None
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise self.unreachable(exc.details() or str(exc.code())) from None
            raise Refused(exc.details() or str(exc.code())) from None
        except self.lg.ServerError as exc:
            raise self.unreachable(" ".join(map(str, exc.args)) or "connection lost") from None

    def alive(self) -> bool:
        return self.session is not None and not self.session.stopping.is_set()

    @property
    def me(self) -> str:
        return f"{self.session.gethostname()}/{self.session.getuser()}"

    async def _shutdown(self, session: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.stop(), 5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.close(), 5)

    @staticmethod
    async def _cancel_pending() -> None:
        """Cancel what grpc still has running, so that closing the loop leaves no pending task behind."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)

    def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(self.session), self.loop).result(12)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._cancel_pending(), self.loop).result(6)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()

    # ------------------------------------------------------------------------------------------- requests

    def place(self, name: str) -> Any:
        """The place called `name` (or with that alias; `+TOKEN`/`+`: the one that reservation was allocated)."""
        if name.startswith("+"):
            return self._reserved_place(name[1:] or os.environ.get(TOKEN_ENV, ""))
        place = self.session.places.get(name)
        if place is None:
            for candidate in self.session.places.values():
                if name in candidate.aliases:
                    return candidate
            known = ", ".join(sorted(self.session.places)) or "none"
            raise PytoolError(
                f"labgrid place '{name}' does not exist on coordinator {self.address} (places: {known})",
                f"create it with `labgrid-client -p {name} create` and `add-match`, or pick another place",
            )
        return place

    def _reserved_place(self, token: str) -> Any:
        if not token:
            raise UsageError(
                f"labgrid:+ names the place of your reservation, but {TOKEN_ENV} is not set",
                "reserve one with `eval $(labgrid-client reserve --shell name=PLACE)`, or write labgrid:+TOKEN",
            )
        for place in self.session.places.values():
            if place.reservation == token:
                return place
        raise PytoolError(
            f"labgrid reservation {token} has no place allocated on coordinator {self.address}",
            f"it may still be waiting or have expired: `labgrid-client wait {token}`, `labgrid-client reservations`",
        )

    async def _reservations(self) -> list[Any]:
        from labgrid.remote.common import Reservation

        response = await self.session.stub.GetReservations(self.pb2.GetReservationsRequest())
        return [Reservation.from_pb2(x) for x in response.reservations]

    def reservation(self, token: str) -> Any | None:
        """labgrid's Reservation with this token, or None (gone meanwhile)."""
        return next((r for r in self.call(self._reservations()) if r.token == token), None)

    def check_reservation(self, place: Any) -> None:
        """PytoolError when the place is reserved for someone else (a reservation only its owner acquires)."""
        res = self.reservation(place.reservation) if place.reservation else None
        if res is not None and res.owner != self.me:
            host, _, user = str(res.owner).partition("/")
            since = datetime.fromtimestamp(res.created).strftime("%Y-%m-%d %H:%M:%S")
            raise PytoolError(
                f"labgrid place '{place.name}' is reserved for {user} on {host} since {since} (you are {self.me})",
                "wait until their reservation ends (`labgrid-client reservations`), or pick another place",
            )

    async def _acquire(self, name: str) -> None:
        await self.session.stub.AcquirePlace(self.pb2.AcquirePlaceRequest(placename=name))
        await self.session.sync_with_coordinator()

    async def _release(self, name: str) -> None:
        await self.session.stub.ReleasePlace(self.pb2.ReleasePlaceRequest(placename=name))
        await self.session.sync_with_coordinator()

    async def _sync(self) -> bool:
        return await self.session.sync_with_coordinator()

    def acquire(self, name: str) -> None:
        """Acquire the place; another client that was quicker is reported like any other holder."""
        try:
            self.call(self._acquire(name))
        except Refused as exc:
            self.sync()
            place = self.place(name)
            if place.acquired and place.acquired != self.me:
                raise _held_by_other(place, self.me) from None
            self.check_reservation(place)
            raise PytoolError(
                f"labgrid refused to acquire place '{name}': {exc}",
                "one of its resources is probably held through another place (`labgrid-client who`)",
            ) from None

    def release(self, name: str) -> None:
        try:
            self.call(self._release(name))
        except Refused as exc:  # e.g. someone released it with --kick meanwhile
            raise PytoolError(
                f"labgrid refused to release place '{name}': {exc}",
                f"someone may have taken it over during the command; check `labgrid-client -p {name} show`",
            ) from None

    def sync(self) -> None:
        if not self.call(self._sync()):
            raise self.unreachable("connection lost")


def _held_by_other(place: Any, me: str) -> PytoolError:
    host, _, user = str(place.acquired).partition("/")
    since = datetime.fromtimestamp(place.changed).strftime("%Y-%m-%d %H:%M:%S")
    return PytoolError(
        f"labgrid place '{place.name}' is held by {user} on {host} since {since} (you are {me})",
        f"wait until they release it (`labgrid-client -p {place.name} release`), or pick another place",
    )


def _resources(client: _Coordinator, place: Any) -> dict[tuple[str, str], tuple[str, Any]]:
    """(name, cls) -> (exporter/group/cls/name, ResourceEntry) of the resources the place holds."""
    found = {}
    for path in place.acquired_resources:
        exporter, group, cls, res_name = path
        match = place.getmatch(path)
        name = match.rename if match is not None and match.rename else res_name
        entry = client.session.resources.get(exporter, {}).get(group, {}).get(res_name)
        if entry is not None:
            found[(name, cls)] = (f"{exporter}/{group}/{cls}/{res_name}", entry)
    return found


def ble_from_place(place: Any, resources: dict[tuple[str, str], tuple[str, Any]]) -> str | None:
    """The Bumble HCI transport a place carries: a NetworkService named `hci` (address, port) becomes
    `tcp-client:ADDRESS:PORT`; else `hci=TRANSPORT` in the place's comment."""
    for (name, cls), (_path, entry) in sorted(resources.items()):
        if cls == "NetworkService" and name == HCI_RESOURCE:
            params = entry.args
            return f"tcp-client:{params['address']}:{params.get('port', 22)}"
    for word in str(place.comment or "").split():
        if word.startswith(HCI_COMMENT_KEY) and len(word) > len(HCI_COMMENT_KEY):
            return word[len(HCI_COMMENT_KEY) :]
    return None


def _serial_port(client: _Coordinator, name: str) -> tuple[str, Any, dict]:
    """Wait until the place's NetworkSerialPort is published with a TCP port (ser2net starts on acquire)."""
    deadline = time.monotonic() + PORT_TIMEOUT
    while True:
        place = client.place(name)
        resources = _resources(client, place)
        ports = [(path, e) for (_n, cls), (path, e) in sorted(resources.items()) if cls == "NetworkSerialPort"]
        ready = [(path, e) for path, e in ports if e.avail and e.params.get("port")]
        if ready:
            return ready[0][0], ready[0][1], resources
        if time.monotonic() > deadline:
            what = "has no NetworkSerialPort" if not ports else "serial port was not published by its exporter"
            raise PytoolError(
                f"labgrid place '{name}' {what}",
                f"check its matches (`labgrid-client -p {name} show`) and that its exporter is running",
            )
        time.sleep(0.2)
        client.sync()


@contextlib.contextmanager
def open_place(name: str, coordinator: str | None = None) -> Iterator[FarmPlace]:
    """Acquire labgrid place `name` (or use it when this user already holds it) for the `with` block.

    Nothing reaches the board before the place is ours. On exit (also on errors and Ctrl-C) the place is
    released if this call acquired it; a coordinator that went away meanwhile is reported in one line."""
    client = _Coordinator(coordinator_address(coordinator))
    acquired_here = False
    key = name  # as the user wrote it (an alias, +TOKEN); labgrid's requests need the place's own name
    try:
        place = client.place(key)
        name = place.name
        me = client.me
        if place.acquired and place.acquired != me and me not in place.allowed:
            raise _held_by_other(place, me)
        if not place.acquired:
            client.check_reservation(place)
            try:
                client.acquire(name)
                acquired_here = True
            except BaseException:
                # an acquire interrupted by Ctrl-C may still have happened: look once more
                with contextlib.suppress(Exception):
                    client.sync()
                    acquired_here = client.place(name).acquired == me
                raise
        path, entry, resources = _serial_port(client, name)
        params = entry.params
        outputs = {n: c for (n, c) in sorted(resources) if c in OUTPUT_DRIVERS}
        power = next(((n, c) for (n, c) in sorted(resources) if c in POWER_DRIVERS), None)
        farm = FarmPlace(
            name=name,
            coordinator=client.address,
            url=serial_url(params, entry.extra),
            speed=int(params.get("speed") or 115200),
            protocol=str(params.get("protocol") or "rfc2217"),
            resource=path,
            ble=ble_from_place(client.place(name), resources),
            power=power[0] if power else None,
            outputs=tuple(outputs),
            holder=me,
            acquired_here=acquired_here,
        )
        _resetters[key] = PlaceResetter(client.session, name, outputs, power)
        try:
            yield farm
        finally:
            _resetters.pop(key, None)
    except BaseException:
        if acquired_here:
            with contextlib.suppress(Exception):
                client.release(name)
        client.close()
        raise
    else:
        try:
            if acquired_here:
                try:
                    client.release(name)
                except Unreachable as exc:
                    raise PytoolError(
                        f"could not release labgrid place '{name}': {exc.message}",
                        f"the work itself finished; release it with `labgrid-client -p {name} release` "
                        "once the coordinator is back",
                    ) from None
        finally:
            client.close()


# ---------------------------------------------------------------------------------- entry points for pytool

_process_scope: contextlib.ExitStack | None = None  # places opened outside a command, released at exit
_held: dict[str, FarmPlace] = {}
_resetters: dict[str, PlaceResetter] = {}  # place name -> its reset drivers, while open_place holds it


def _release_process_scope() -> None:
    if _process_scope is not None:
        with contextlib.suppress(Exception):
            _process_scope.close()


command_scope = farm.command_scope  # the CLI's (kept here for callers of this module)


def _set_ble_env(place: FarmPlace) -> Iterator[None]:
    """While the place is held, bleak code in this process and its children gets the place's radio."""
    if not place.ble or os.environ.get(BLE_ENV):
        yield
        return
    os.environ[BLE_ENV] = place.ble
    try:
        yield
    finally:
        if os.environ.get(BLE_ENV) == place.ble:
            os.environ.pop(BLE_ENV, None)


def place_for(spec: str) -> FarmPlace:
    """The place named by `labgrid:PLACE`, acquired until the command ends (or the process exits)."""
    global _process_scope
    name = parse_spec(spec)
    if name in _held:
        return _held[name]
    stack = farm.command_places
    if stack is None:
        if _process_scope is None:
            _process_scope = contextlib.ExitStack()
            atexit.register(_release_process_scope)
        stack = _process_scope
    place = stack.enter_context(open_place(name))
    stack.enter_context(contextlib.contextmanager(_set_ble_env)(place))
    _held[name] = place
    stack.callback(_held.pop, name, None)  # forgotten when released
    return place


def place_names(pattern: str = "*", coordinator: str | None = None) -> list[str]:
    """The names of the coordinator's places that match the shell-style `pattern`, sorted (`test --all --places`)."""
    import fnmatch

    client = _Coordinator(coordinator_address(coordinator))
    try:
        return sorted(name for name in client.session.places if fnmatch.fnmatchcase(name, pattern))
    finally:
        client.close()


def ble_transport(spec: str | None) -> str | None:
    """The Bumble HCI transport of the place `spec` names (`labgrid:PLACE`), or None (no place, no radio)."""
    from pytool.farm import is_farm_port

    return place_for(str(spec)).ble if is_farm_port(spec) else None


def reset_means(spec: str) -> str:
    """How `reset_board` resets the board of place `spec` (`reset output` or `power cycle`)."""
    name = parse_spec(spec)
    return (_resetters.get(name) or (place_for(spec) and _resetters[name])).means


def reset_board(spec: str, bootloader: bool = False) -> bool:
    """Reset the board of a held place through its own resources (strategy `labgrid`).

    Returns False, touching nothing, when entering the bootloader needs DTR/RTS instead (no `boot` output)."""
    name = parse_spec(spec)
    resetter = _resetters.get(name) or (place_for(spec) and _resetters[name])
    if bootloader and not resetter.can_enter_bootloader():
        return False
    resetter.reset(bootloader)
    return True
