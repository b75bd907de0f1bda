"""Host side of the bridge between the simulator process and device code (contract: pytool/sim/README.md).

One set of connections per running interpreter, JSON lines, bytes as `{"$b": "<hex>"}`: socketpairs whose
device ends the supervisor hands to the interpreter as file descriptors (`socketpairs()`; the confined
interpreter cannot create sockets), or a listening AF_UNIX socket (`path`). Device code uses one "calls"
connection per thread (synchronous `{"id", "call"}` -> `{"id", "result"|"error"}`) and one "events" connection
served by its IRQ thread (`{"eid", "event"}` -> `{"eid", "result"|"error"}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


class BridgeService(Protocol):
    """A host service that device code reaches with `_bridge.call(name, method, *args)`."""

    name: str

    async def call(self, method: str, args: list, conn: BridgeConnection) -> Any: ...

    def interpreter_started(self, conn: BridgeConnection) -> None: ...

    def interpreter_stopped(self, hard: bool) -> None: ...


class BridgeError(Exception):
    """An event the device answered with an error (`kind` is the device's exception type name)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def encode(value: Any) -> Any:
    """Python value -> JSON-able value with bytes as {"$b": hex}."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": bytes(value).hex()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(value: Any) -> Any:
    """Inverse of `encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and "$b" in value:
            return bytes.fromhex(value["$b"])
        return {k: decode(v) for k, v in value.items()}
    return value


def _line(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class BridgeConnection:
    """One running interpreter, as seen by host services: send events to its IRQ thread."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._next = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self.closed = False

    async def event(self, service: str, name: str, payload: Any, timeout: float) -> Any:
        """Run the device handler of `service` with (name, payload) on the IRQ thread and return its result.

        Raises TimeoutError when the device does not answer in time (e.g. its IRQ thread died), BridgeError
        when the device answered with an error, ConnectionError when the interpreter is gone."""
        if self.closed:
            raise ConnectionError("the interpreter is not running")
        self._next += 1
        eid = self._next
        future = asyncio.get_running_loop().create_future()
        self._waiting[eid] = future
        try:
            self._writer.write(_line({"eid": eid, "event": [service, name, encode(payload)]}))
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(eid, None)

    def release(self) -> None:
        """Tell the device's IRQ thread to stop reading (the interpreter is about to exit)."""
        if not self.closed:
            self._writer.write(_line({"bye": True}))

    def _reply(self, msg: dict) -> None:
        future = self._waiting.get(msg.get("eid"))
        if future is None or future.done():
            return
        if "error" in msg:
            kind, message = msg["error"]
            future.set_exception(BridgeError(kind, message))
        else:
            future.set_result(decode(msg.get("result")))

    def _close(self) -> None:
        self.closed = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the interpreter stopped"))
        with contextlib.suppress(Exception):
            self._writer.close()


class BridgeServer:
    """Listens on `path` for one interpreter's connections and dispatches calls to `services`."""

    def __init__(
        self,
        path: Path | None,
        services: Mapping[str, BridgeService],
        on_started: Callable[[BridgeConnection], None] | None = None,
    ) -> None:
        self.path = path
        self.services = services
        self.connection: BridgeConnection | None = None
        self._on_started = on_started
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen on `path` (nothing to do without one: connections come from `socketpairs()`)."""
        if self.path is None:
            return
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=1 << 20)
        os.chmod(self.path, 0o600)

    async def socketpairs(self, n: int) -> list[socket.socket]:
        """`n` connections served like accepted ones; returns their device ends (close them once handed over)."""
        device_ends = []
        for _ in range(n):
            host, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            reader, writer = await asyncio.open_unix_connection(sock=host, limit=1 << 20)
            task = asyncio.ensure_future(self._serve(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            device_ends.append(device)
        return device_ends

    async def close(self) -> None:
        """Stop listening and drop every connection (the interpreter is gone)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.connection is not None:
            self.connection._close()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            hello = json.loads(await reader.readline() or b"{}")
            if hello.get("hello") == "events":
                await self._serve_events(reader, writer)
            elif hello.get("hello") == "calls":
                await self._serve_calls(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # device code is untrusted: a malformed message ends its connection, nothing more
            log.debug("bridge connection dropped on a malformed message", exc_info=True)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve_events(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self.connection = BridgeConnection(writer)
        if self._on_started is not None:
            self._on_started(conn)
        try:
            while line := await reader.readline():
                conn._reply(json.loads(line))
        finally:
            conn._close()

    async def _serve_calls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            msg = json.loads(line)
            service_name, method, args = msg["call"]
            reply: dict[str, Any] = {"id": msg["id"]}
            service = self.services.get(service_name)
            try:
                if service is None:
                    raise OSError(f"no host service '{service_name}'")
                if self.connection is None:
                    raise OSError("bridge not ready")
                reply["result"] = encode(await service.call(method, decode(args), self.connection))
            except Exception as exc:  # raised on the device as the same type (OSError if it has no such type)
                log.debug("bridge call %s.%s failed", service_name, method, exc_info=True)
                reply["error"] = [type(exc).__name__, str(exc)]
            writer.write(_line(reply))
            await writer.drain()
