"""`network.Server` of the simulated Pycom board: the bridge service "wifi" that starts and stops the telnet and
FTP servers, holds their login and timeout, and carries FTP's file operations into the board.

As on the board (esp32/mods/modnetwork.c, serverstask.c): the servers come up with the firmware (the default
access point is up at boot) with login micro/python and a 300 s timeout, survive soft resets, and are gone with
a hard reset or power off; `Server(...)`/`init(login=, timeout=)` set the login and (re)start them, `deinit()`
stops them and drops their clients. Only Pycom firmware has them: on stock MicroPython the ports refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from pytool.sim.runtime.bridge import BridgeConnection
from pytool.sim.wifi.ftp import FtpServer
from pytool.sim.wifi.telnet import TelnetServer

log = logging.getLogger(__name__)

DEFAULT_USER = "micro"
DEFAULT_PASSWORD = "python"
DEFAULT_TIMEOUT_S = 300
MIN_TIMEOUT_S = 5  # serverstask.h SERVERS_MIN_TIMEOUT_MS
MAX_LOGIN = 32  # SERVERS_USER_PASS_LEN_MAX
FS_TIMEOUT_S = 10.0  # one file operation on the board (its IRQ thread)
BOOT_WAIT_S = 10.0  # an FTP operation during a soft reset waits this long for the next interpreter


class Listener:
    """A TCP server on 127.0.0.1 that can stop and start again on the same port (closed = connection refused)."""

    def __init__(self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]) -> None:
        self.handler = handler
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self.handler, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


class WifiService:
    """The bridge service "wifi" (device API: firmware/device/network.py `Server`)."""

    name = "wifi"

    def __init__(self, board: Any) -> None:
        self.board = board
        self.user = DEFAULT_USER
        self.password = DEFAULT_PASSWORD
        self.timeout_s = DEFAULT_TIMEOUT_S
        self.running = False
        self.conn: BridgeConnection | None = None
        self._conn_ready = asyncio.Event()
        self._booted = False  # the servers came up with this hard boot
        self.telnet = TelnetServer(board, self)
        self.ftp = FtpServer(self, self.fs, lambda: self.data.port)
        self.telnet_listener = Listener(self.telnet.handle)
        self.ftp_listener = Listener(self.ftp.handle)
        self.data = Listener(self.ftp.handle_data)
        self._tasks: set[asyncio.Task] = set()
        self.drop_after: int | None = None  # "wifi-drop" fault: cut every client after this many more bytes
        self.bytes_received = 0  # from all WiFi clients since the simulator started
        self.drops = 0  # links cut by the fault

    def _listeners(self) -> tuple[Listener, ...]:
        return (self.telnet_listener, self.ftp_listener, self.data)

    async def reserve_ports(self) -> dict[str, Any]:
        """Choose the three ports once (bound and released: they stay this simulator's for its life)."""
        for listener in self._listeners():
            await listener.start()
        for listener in self._listeners():
            listener.stop()
        return self.endpoints()

    def endpoints(self) -> dict[str, Any]:
        return {
            "telnet": f"telnet://127.0.0.1:{self.telnet_listener.port}",
            "ftp": f"ftp://127.0.0.1:{self.ftp_listener.port}",
            "ftp_data_port": self.data.port,
        }

    # ------------------------------------------------------------------ on / off
    async def start(self) -> None:
        """Listen (servers enabled)."""
        for listener in self._listeners():
            try:
                await listener.start()
            except OSError as exc:
                log.error("wifi: cannot listen on 127.0.0.1:%d again: %s", listener.port, exc)
        self.running = True

    def stop(self) -> None:
        """Stop listening and drop every client."""
        self.running = False
        for listener in self._listeners():
            listener.stop()
        self.telnet.close_sessions()
        self.ftp.close_sessions()

    # ------------------------------------------------------------------ link faults
    def received(self, n: int) -> bool:
        """`n` bytes came from a WiFi client; True when the link is cut here (every client reset, the chunk lost)."""
        self.bytes_received += n
        if self.drop_after is None:
            return False
        self.drop_after -= n
        if self.drop_after > 0:
            return False
        self.drop_after = None
        self.drops += 1
        self.telnet.close_sessions(abort=True)
        self.ftp.close_sessions(abort=True)
        return True

    async def fault(self, request: dict[str, Any]) -> dict[str, Any]:
        """Control op "wifi-drop": `{"after": N}` cuts the WiFi link (all clients reset, as when the board leaves the
        access point) once N more bytes have come from clients; `{"after": null}` cancels it. The servers keep
        listening. Without "after": the status (bytes received from clients so far, links cut)."""
        if "after" not in request:  # a status request
            return {"wifi_drop_after": self.drop_after, "received": self.bytes_received, "drops": self.drops}
        after = request.get("after")
        if after is not None and (not isinstance(after, int) or after < 0):
            raise ValueError("after must be a byte count >= 0 or null")
        self.drop_after = after
        if after == 0:
            self.received(0)
        return {"wifi_drop_after": self.drop_after, "received": self.bytes_received, "drops": self.drops}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ bridge service
    async def call(self, method: str, args: list, conn: BridgeConnection) -> Any:
        if method == "init":
            # checked on the device too (firmware/device/network.py); device code is untrusted: again here
            self.user, self.password = str(args[0])[:MAX_LOGIN], str(args[1])[:MAX_LOGIN]
            self.timeout_s = max(MIN_TIMEOUT_S, int(args[2]))
            if not self.running:
                await self.start()
            return None
        if method == "deinit":
            # answered first: the caller may be typing on the telnet session that is about to go
            asyncio.get_running_loop().call_soon(self.stop)
            return None
        if method == "isrunning":
            return self.running
        if method == "timeout":
            if args:
                self.timeout_s = max(MIN_TIMEOUT_S, int(args[0]))
                return None
            return self.timeout_s
        raise ValueError(f"unknown wifi method {method}")

    def interpreter_started(self, conn: BridgeConnection) -> None:
        self.conn = conn
        self._conn_ready.set()
        identity = getattr(self.board, "identity", None)
        if not self._booted and getattr(identity, "flavour", None) == "pycom":
            self._booted = True
            self._spawn(self.start())

    def interpreter_stopped(self, hard: bool) -> None:
        self.conn = None
        self._conn_ready.clear()
        if hard:  # WiFi goes down with the chip; the next boot starts over with the defaults
            self._booted = False
            self.stop()
            self.user, self.password, self.timeout_s = DEFAULT_USER, DEFAULT_PASSWORD, DEFAULT_TIMEOUT_S

    async def close(self) -> None:
        self.stop()
        for task in list(self._tasks):
            task.cancel()

    # ------------------------------------------------------------------ the board's files, for FTP
    async def fs(self, op: str, *args: Any) -> Any:
        """Run one file operation on the board (see firmware/device/_netfs.py); OSError when it fails."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._conn_ready.wait(), BOOT_WAIT_S)
        conn = self.conn
        if conn is None or conn.closed:
            raise OSError("the board is not running")
        try:
            status, value = await conn.event("wifi", op, list(args), FS_TIMEOUT_S)
        except (TimeoutError, ConnectionError, ValueError, TypeError) as exc:
            raise OSError(f"board file operation {op} failed: {exc}") from exc
        except Exception as exc:  # BridgeError: no handler yet (the firmware is still loading)
            raise OSError(str(exc)) from exc
        if status != "ok":
            raise OSError(value)
        return value
