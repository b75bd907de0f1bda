"""The simulated Pycom telnet server (SIG esp32/telnet/telnet.c; reference round2-facts.md section 3).

One client at a time (a second one is reset at once), Pycom's banner, option negotiation and login prompts
byte for byte, three login attempts before the connection is reset, IAC AYT echoed, the session dropped after
the server timeout without input. After the login the session is a second terminal on the board's REPL (Pycom's
dupterm): it sees what the UART sends and its input goes where the UART's goes, raw REPL included.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pytool.sim.wifi.one_client import OneClientServer, read_idle, reset_connection
from pytool.transports.telnet_iac import AYT, IAC, WILL, WONT, IacDecoder, escape

ECHO, SGA, LINEMODE = 1, 3, 34
NEGOTIATE_USER = bytes([IAC, WONT, ECHO, IAC, WONT, SGA, IAC, WILL, LINEMODE])
NEGOTIATE_PASSWORD = bytes([IAC, WILL, ECHO, IAC, WONT, SGA, IAC, WILL, LINEMODE])
NEGOTIATE_SESSION = bytes([IAC, WILL, ECHO, IAC, WILL, SGA, IAC, WONT, LINEMODE])
LOGIN_PROMPT = b"Login as: "
PASSWORD_PROMPT = b"Password: "
INVALID = b"\r\nInvalid credentials, try again.\r\n"
SUCCESS = b'\r\nLogin succeeded!\r\nType "help()" for more information.\r\n'
LOGIN_TRIES = 3
RX_BUFFER = 256  # telnet.c's receive buffer: a longer login line is cut
TX_LIMIT = 4 << 20  # a client that does not read loses output beyond this, as a UART would


class TelnetSession:
    """One connected client: login, then a terminal on the REPL (one of the board's `terminals` while attached)."""

    def __init__(self, server: TelnetServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.decoder = IacDecoder(nvt_cr=True)
        self.attached = False
        self._pending = bytearray()
        self._closed = False

    # a terminal of the board (SimBoard.terminals): the firmware's output
    def write(self, data: bytes) -> None:
        if self._closed or self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > TX_LIMIT:
            return
        self.writer.write(escape(data))

    def close(self, abort: bool = False) -> None:
        """Drop the client: closed (idle timeout, server stopped) or reset (`abort`: the link is lost)."""
        if not self._closed:
            self._closed = True
            self.server.detach(self)
            with contextlib.suppress(Exception):
                reset_connection(self.writer) if abort else self.writer.close()

    async def _read(self) -> bytes:
        """The next data bytes from the client (answers IAC AYT); b"" when it left or stayed idle too long."""
        while True:
            try:
                raw = await read_idle(self.reader.read(RX_BUFFER), self.server.timeout)
            except (TimeoutError, ConnectionError):
                return b""
            if not raw or self.server.config.received(len(raw)):
                return b""
            data, ayt = self.decoder.feed(raw)
            if ayt:
                self.writer.write(bytes([IAC, AYT]) * ayt)
            if data:
                return data

    async def _line(self) -> bytes | None:
        """One login line (without its end); None when the client left."""
        while True:
            for end in (b"\r", b"\n"):
                i = self._pending.find(end)
                if i >= 0:
                    line = bytes(self._pending[:i])
                    del self._pending[: i + 1]
                    if line or end == b"\r":
                        return line[:RX_BUFFER]
                    break  # the "\n" of a "\r\n": look again
            data = await self._read()
            if not data:
                return None
            self._pending += data
            while self._pending[:1] in (b"\n", b"\0"):
                del self._pending[:1]

    async def run(self) -> None:
        self.writer.write(self.server.banner())
        for attempt in range(LOGIN_TRIES):
            self.writer.write(NEGOTIATE_USER + LOGIN_PROMPT)
            user = await self._line()
            if user is None:
                return
            self.writer.write(NEGOTIATE_PASSWORD + PASSWORD_PROMPT)
            password = await self._line()
            if password is None:
                return
            if self.server.check_login(user, password):
                break
            self.writer.write(INVALID)
            if attempt == LOGIN_TRIES - 1:
                with contextlib.suppress(ConnectionError):
                    await self.writer.drain()
                await asyncio.sleep(0.05)
                reset_connection(self.writer)
                return
        self.writer.write(NEGOTIATE_SESSION + SUCCESS)
        self.server.attach(self)
        self.attached = True
        if self._pending:
            self.server.terminal_input(bytes(self._pending))
            self._pending.clear()
        while not self._closed:
            data = await self._read()
            if not data:
                return
            self.server.terminal_input(data)


class TelnetServer(OneClientServer):
    """Pycom's telnet server on 127.0.0.1 (the port is the simulator's choice)."""

    label = "telnet"
    session: TelnetSession | None

    def __init__(self, board: Any, config: Any) -> None:
        super().__init__()
        self.board = board
        self.config = config  # the WifiService: login, timeout

    def banner(self) -> bytes:
        ident = self.board.identity
        if ident is None:
            return b"MicroPython\r\n"
        return f"MicroPython {ident.micropython} on {ident.build_date}; {ident.board_name} with ESP32\r\n".encode()

    def timeout(self) -> float:
        return float(self.config.timeout_s)

    def check_login(self, user: bytes, password: bytes) -> bool:
        return user.decode(errors="replace") == self.config.user and password.decode(errors="replace") == (
            self.config.password
        )

    def new_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> TelnetSession:
        return TelnetSession(self, reader, writer)

    def attach(self, session: TelnetSession) -> None:
        """The session becomes a terminal of the REPL: it gets the firmware's output from now on (not through
        the serial wire: a pulled USB cable or line noise does not touch WiFi)."""
        self.board.terminals.append(session.write)
        self.board.port_open(session, True)

    def detach(self, session: TelnetSession) -> None:
        if session.write in self.board.terminals:
            self.board.terminals.remove(session.write)
            self.board.port_open(session, False)

    def terminal_input(self, data: bytes) -> None:
        """Bytes typed on the telnet terminal. Ctrl-F (when armed) is Pycom's telnet.c: set the safe-boot flag and
        soft-reset (Ctrl-D); it takes effect at the next hard reset."""
        runtime = self.board.runtime
        if runtime is None:
            return
        if 6 in data and getattr(runtime, "_reset_char", True):
            data = data.replace(b"\x06", b"\x04")
            self.board._safe_boot_next = True
        runtime.feed(data)
