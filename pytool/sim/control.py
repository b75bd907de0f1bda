"""The simulator's control socket: JSON lines over a unix socket, one request -> one reply.

Requests are objects with an "op": `status`, `reset` (`"bootloader": bool`, `"safe_boot": bool`), `power`
(`"on": bool`), `stop`. Replies are
`{"ok": true, ...}` or `{"ok": false, "error": "..."}` (with `"hint"` and `"exit_code"` when the simulator refused
with a `PytoolError`, which the client raises again). Other components add operations with
`ControlServer.add_handler(op, async_fn)` (e.g. fault injection). `SimControl` is the blocking client pytool
and tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pytool.errors import PytoolError, UsageError

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlServer:
    """Serves the control API of one board on a unix socket at `path`."""

    def __init__(self, board: Any, path: Path, on_stop: Callable[[], None]) -> None:
        self.board = board
        self.path = Path(path)
        self._on_stop = on_stop
        self._server: asyncio.AbstractServer | None = None
        self.handlers: dict[str, Handler] = {
            "status": self._status,
            "reset": self._reset,
            "power": self._power,
            "stop": self._stop,
            "fault": self._fault,
        }

    def add_handler(self, op: str, handler: Handler) -> None:
        """Register another operation (`handler(request) -> reply fields`)."""
        self.handlers[op] = handler

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._client, path=str(self.path))
        self.path.chmod(0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self.path.unlink(missing_ok=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(await self._dispatch(line)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            handler = self.handlers.get(request.get("op")) if isinstance(request, dict) else None
            if handler is None:
                return {"ok": False, "error": f"unknown request {line.decode(errors='replace').strip()[:80]}"}
            return {"ok": True} | await handler(request)
        except PytoolError as exc:  # a refusal the user can act on: relayed as pytool would say it
            return {"ok": False, "error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}
        except ValueError as exc:
            return {"ok": False, "error": f"bad request: {exc}"}
        except Exception as exc:  # reported to the client, the simulator keeps running
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    async def _status(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"status": self.board.status()}

    async def _reset(self, request: dict[str, Any]) -> dict[str, Any]:
        await self.board.reset(
            bootloader=bool(request.get("bootloader", False)), safe_boot=bool(request.get("safe_boot", False))
        )
        return {"status": self.board.status()}

    async def _power(self, request: dict[str, Any]) -> dict[str, Any]:
        await self.board.power(bool(request.get("on", True)))
        return {"status": self.board.status()}

    async def _fault(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.board.faults.handle(request)  # pytool.sim.faults

    async def _stop(self, request: dict[str, Any]) -> dict[str, Any]:
        asyncio.get_running_loop().call_soon(self._on_stop)
        return {}


class SimControl:
    """Blocking client of a simulator's control socket (`SimRecord.control`)."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        if not path:
            raise PytoolError("this simulator has no control socket", "restart it with `pytool sim start`")
        self.path = str(path)
        self.timeout = timeout

    def request(self, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send one request and return the reply (PytoolError when the simulator reports a failure)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout or self.timeout)
                sock.connect(self.path)
                sock.sendall(json.dumps(request).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except TimeoutError as exc:
            raise PytoolError(
                f"the simulator did not answer '{request.get('op')}' in time", "check it with `pytool sim list`"
            ) from exc
        except OSError as exc:
            raise PytoolError(
                f"cannot reach the simulator's control socket {self.path}: {exc.strerror or exc}",
                "is it still running? see `pytool sim list`",
            ) from exc
        try:
            reply = json.loads(data)
        except ValueError as exc:
            raise PytoolError("the simulator closed the control connection", "see `pytool sim list`") from exc
        if not reply.get("ok"):
            if "exit_code" in reply:
                error = UsageError if reply["exit_code"] == UsageError.exit_code else PytoolError
                raise error(reply["error"], reply.get("hint"))
            raise PytoolError(f"simulator: {reply.get('error', 'request failed')}")
        return reply

    def reset(self, bootloader: bool = False, safe_boot: bool = False) -> dict[str, Any]:
        """Press reset (into the ROM download mode with `bootloader`, into Pycom's safe boot with `safe_boot`);
        returns the board status once the board has booted."""
        return self.request({"op": "reset", "bootloader": bootloader, "safe_boot": safe_boot})["status"]

    def power(self, on: bool) -> dict[str, Any]:
        """Switch the board's supply off or on (on = boot from flash); returns the board status."""
        return self.request({"op": "power", "on": on})["status"]

    def status(self) -> dict[str, Any]:
        """The board's status (mode, boot reason, firmware, port state, ...)."""
        return self.request({"op": "status"})["status"]

    def stop(self) -> None:
        """Ask the simulator process to exit."""
        self.request({"op": "stop"})
