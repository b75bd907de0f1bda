"""The board's networked power switch: an HTTP endpoint on 127.0.0.1, as a farm's switchable socket would be.

It speaks the protocol of labgrid's `NetworkPowerPort` model `simplerest` (labgrid/driver/power/simplerest.py):
`GET {url}/1` switches the supply on (the board boots from flash, as `SimBoard.power(True)`), `GET {url}/0`
switches it off (UART silent, firmware and radio gone), `GET {url}` answers `1` or `0`. `pytool sim export
--power` puts it in the place as `NetworkPowerPort: {model: simplerest, host: "{url}/{value}"}`, so labgrid's
own NetworkPowerDriver (and `labgrid-client power cycle`) drive the simulated board's power.

The control operation `power-switch` reports what the switch did (`switched`: the states it was set to, in
order; `on`: the current state), for tests and `pytool sim` users.

The HTTP server is Python's `http.server` in a thread; a switch is handed to the board's event loop and the
answer waits until the board has finished the transition (after a switch-on: booted).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("pytool.sim")

PATH = "/power"
SWITCH_TIMEOUT = 60.0  # s for one transition (a boot starts the MicroPython interpreter)


class PowerSwitch:
    """A simplerest power switch for one board, served on 127.0.0.1 (an ephemeral port)."""

    def __init__(self, board: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.board = board
        self.loop = loop
        self.switched: list[bool] = []
        self._lock = threading.Lock()  # one transition at a time, in request order
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="power-switch", daemon=True)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT/power` (append `/1`, `/0` to switch)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{PATH}"

    def start(self) -> None:
        self.thread.start()
        if self.board.control is not None:
            self.board.control.add_handler("power-switch", self._report)

    def close(self) -> None:
        if self.thread.is_alive():  # shutdown() waits for serve_forever, which never ran otherwise
            self.server.shutdown()
            self.thread.join(5)
        self.server.server_close()

    def is_on(self) -> bool:
        return str(self.board.mode) != "off"

    def switch(self, on: bool) -> None:
        """Set the supply (from the HTTP thread); returns when the board has finished the transition."""
        with self._lock:
            self.switched.append(on)
            log.info("power switch: %s", "on" if on else "off")
            asyncio.run_coroutine_threadsafe(self._apply(on), self.loop).result(SWITCH_TIMEOUT)

    async def _apply(self, on: bool) -> None:
        await self.board.power(on)

    async def _report(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"switched": list(self.switched), "on": self.is_on()}


def _handler(switch: PowerSwitch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path in (f"{PATH}/1", f"{PATH}/0"):
                try:
                    switch.switch(path.endswith("1"))
                except Exception as exc:  # the board did not finish: the driver sees an HTTP error
                    log.warning("power switch failed: %s", exc)
                    self._answer(500, b"")
                    return
            elif path != PATH:
                self._answer(404, b"")
                return
            self._answer(200, b"1" if switch.is_on() else b"0")

        def _answer(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
