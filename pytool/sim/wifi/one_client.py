"""What Pycom's telnet and FTP servers share (esp32/telnet/telnet.c, esp32/ftp/ftp.c): one client at a time, the
session dropped after the server timeout without input, a refused client reset (lwIP's abort) rather than closed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

GRACE_S = 0.5  # a new client waits this long for the previous one to be gone before it is refused


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (lwIP's abort), not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def read_idle(read: Awaitable[bytes], timeout: Callable[[], float]) -> bytes:
    """Await `read`, giving up (TimeoutError) once the client has been idle for the server timeout; the timeout
    is read again every second, so `network.Server(timeout=...)` applies to waiting sessions at once, as the
    board's servers task checks it on every pass."""
    task = asyncio.ensure_future(read)
    start = asyncio.get_running_loop().time()
    try:
        while True:
            left = timeout() - (asyncio.get_running_loop().time() - start)
            if left <= 0:
                raise TimeoutError
            done, _ = await asyncio.wait({task}, timeout=min(left, 1.0))
            if done:
                return task.result()
    finally:
        if not task.done():
            task.cancel()


class OneClientServer:
    """A server with one client at a time. A new client waits GRACE_S for the previous one to be gone (a client that
    has just left may not be noticed yet) and is reset if it is not. Subclasses make the session."""

    label = "server"  # for the log

    def __init__(self) -> None:
        self.session: Any = None
        self._idle = asyncio.Event()

    def new_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Any:
        """The session of a new client: `await session.run()` serves it, `session.close(abort=False)` drops it."""
        raise NotImplementedError

    def session_ended(self) -> None:
        """Called when a session is over, before the next client is let in."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A new connection: served if nobody else is connected, reset otherwise."""
        if self.session is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), GRACE_S)
        if self.session is not None:
            reset_connection(writer)
            return
        self._idle.clear()
        session = self.session = self.new_session(reader, writer)
        try:
            await session.run()
        except Exception:
            log.exception("%s session failed", self.label)
        finally:
            session.close()
            self.session_ended()
            if self.session is session:
                self.session = None
                self._idle.set()

    def close_sessions(self, abort: bool = False) -> None:
        """Drop the client: closed, or reset (`abort`: the link is lost)."""
        if self.session is not None:
            self.session.close(abort)
