"""pyserial URL handler for `telnet://HOST[:PORT][?user=NAME][&ftp=PORT]`: a Pycom board's telnet REPL as a serial port.

`open()` connects (port 23 by default), logs in the way Pymakr classic does (wait up to 7 s each for `Login as:`,
`Password:` and `Login succeeded!`; reference round2-facts.md section 3) and from then on reads and writes the REPL
with telnet's IAC commands taken out of the stream (0xFF bytes doubled on the wire). Failures are `TelnetError`
(a PytoolError, so it passes mpremote's `except OSError` with its message intact): one line saying what to do.
The password never appears in a message or a log; a password in the URL is refused for that reason.
DTR/RTS do nothing (a WiFi link has no reset lines): reset through the REPL (`machine.reset()`).
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import time
from urllib.parse import parse_qs, urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, Timeout

from pytool.errors import PytoolError, UsageError
from pytool.transports import credentials
from pytool.transports.telnet_iac import IacDecoder, escape

DEFAULT_PORT = 23
CONNECT_TIMEOUT_S = 5.0
PROMPT_TIMEOUT_S = 7.0  # Pymakr's authorize.js: each prompt
BUSY_RETRY_S = 3.0  # a board that resets the connection at once is tried again this long (one client at a time)
LOGIN_PROMPT = b"Login as:"
PASSWORD_PROMPT = b"Password:"
SUCCESS = b'Login succeeded!\r\nType "help()" for more information.\r\n'
INVALID = b"Invalid credentials"
NO_WIFI_HINT = (
    "join the board's WiFi (SSID <board>-wlan-xxxx, password www.pycom.io; the board is 192.168.4.1) or check its "
    "address; a simulated board lists its telnet port in `pytool sim list`"
)


class TelnetError(PytoolError):
    """Connecting or logging in failed (the message names the host, never the password)."""


class _Busy(Exception):
    """The board closed the connection at once: another client holds its only telnet session."""

    def __init__(self, error: TelnetError) -> None:
        super().__init__(str(error))
        self.error = error


def parse_url(url: str) -> tuple[str, int, str | None]:
    """`telnet://HOST[:PORT][?user=NAME][&ftp=PORT]` -> (host, port, user); `ftp` is read by `ftp_link`."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "telnet" or not parts.hostname:
        raise UsageError(f"'{url}' is not a telnet URL", "write it as telnet://HOST[:PORT], e.g. telnet://192.168.4.1")
    query = parse_qs(parts.query, keep_blank_values=True)
    if "password" in query or parts.password:
        raise UsageError(
            "a password in the telnet URL would be shown in messages and logs",
            "set it with PYTOOL_PASSWORD, or [wifi] password in pytool.toml",
        )
    unknown = sorted(set(query) - {"user", "ftp"})
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(unknown)} in the telnet URL", "the options are ?user=NAME and &ftp=PORT"
        )
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise UsageError(f"bad port in '{url}'", "write it as telnet://HOST[:PORT]") from exc
    user = (query.get("user") or [None])[0] or parts.username
    return parts.hostname, port, user


class Serial(SerialBase):
    """A logged-in telnet session with the serial API mpremote and pytool use."""

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        host, port, url_user = parse_url(self.portstr)
        self._where = f"{host}:{port}"
        deadline = time.monotonic() + BUSY_RETRY_S
        while True:
            try:
                self._connect(host, port, url_user)
                return
            except _Busy as exc:  # our own previous session may still be closing on the board: a moment's grace
                if time.monotonic() > deadline:
                    raise exc.error from None
                time.sleep(0.25)

    def _connect(self, host: str, port: int, url_user: str | None) -> None:
        self._buffer = bytearray()
        self._decoder = IacDecoder()
        self._eof = False
        try:
            self._socket = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        except ConnectionRefusedError as exc:
            raise TelnetError(
                f"{self._where} refused the telnet connection",
                "is the board's server on? (`network.Server().isrunning()`; it runs while WiFi is up)",
            ) from exc
        except (TimeoutError, OSError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise TelnetError(f"cannot reach {self._where} ({what})", NO_WIFI_HINT) from exc
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.setblocking(False)
        self.is_open = True
        try:
            self._login(*credentials(url_user))
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ login
    def _login(self, user: str, password: str) -> None:
        self._expect([LOGIN_PROMPT], "the login prompt")
        self._send_raw(user.encode() + b"\r\n")
        self._expect([PASSWORD_PROMPT], "the password prompt")
        time.sleep(0.05)  # as Pymakr: "to be sure the board is ready"
        self._send_raw(password.encode() + b"\r\n")
        if self._expect([SUCCESS, INVALID], "the login result") == INVALID:
            raise TelnetError(
                f"{self._where} refused the login of user '{user}' (wrong user or password)",
                "set them with PYTOOL_USER / PYTOOL_PASSWORD or [wifi] user/password in pytool.toml "
                "(the board's defaults are micro/python; it drops the connection after 3 wrong tries)",
            )

    def _expect(self, markers: list[bytes], what: str) -> bytes:
        """Read until one of `markers`; drop everything up to its end and return it."""
        deadline = time.monotonic() + PROMPT_TIMEOUT_S
        while True:
            hits = [(self._buffer.find(m), m) for m in markers]
            hits = [(i, m) for i, m in hits if i >= 0]
            if hits:
                i, marker = min(hits)
                del self._buffer[: i + len(marker)]
                return marker
            left = deadline - time.monotonic()
            try:
                got = left > 0 and self._fill(left)
            except SerialException as exc:
                error = TelnetError(
                    f"{self._where} closed the telnet connection before {what}",
                    "the board serves one telnet client at a time: close the other session (Pymakr, a terminal) "
                    "and try again",
                )
                if markers == [LOGIN_PROMPT] and not self._buffer:
                    raise _Busy(error) from exc
                raise error from exc
            if not got:
                raise TelnetError(
                    f"no {what} from {self._where} within {PROMPT_TIMEOUT_S:.0f} s",
                    "is it a Pycom board with its telnet server on? another client may hold its only session",
                )

    # ------------------------------------------------------------------ socket
    def _fill(self, timeout: float | None) -> bool:
        """Wait up to `timeout` for bytes from the board (None: forever); False on timeout."""
        if self._eof:
            raise SerialException(self._closed_message())
        try:
            ready, _, _ = select.select([self._socket], [], [], timeout)
            if not ready:
                return False
            raw = self._socket.recv(65536)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._eof = True
            raise SerialException(f"telnet connection to {self._where} lost: {exc}") from exc
        if not raw:
            self._eof = True
            raise SerialException(self._closed_message())
        self._buffer += self._decoder.feed(raw)[0]
        return True

    def _closed_message(self) -> str:
        return (
            f"the board at {self._where} closed the telnet connection (it was reset, lost WiFi, or the session "
            "was idle for longer than the server timeout, 300 s unless network.Server(timeout=) says otherwise)"
        )

    def _send_raw(self, data: bytes) -> None:
        timeout = Timeout(self._write_timeout)
        view = memoryview(data)
        while view:
            try:
                n = self._socket.send(view)
                view = view[n:]
            except BlockingIOError:
                left = None if timeout.is_infinite else timeout.time_left()
                _, ready, _ = select.select([], [self._socket], [], left)
                if not ready:
                    raise SerialException(f"write to {self._where} timed out") from None
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                self._eof = True
                raise SerialException(f"telnet connection to {self._where} lost: {exc}") from exc

    # ------------------------------------------------------------------ serial API
    def close(self) -> None:
        if getattr(self, "_socket", None) is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None
        self.is_open = False

    def _reconfigure_port(self, *args: object) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        while self._fill(0):
            pass
        return len(self._buffer)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        timeout = Timeout(self._timeout)
        while len(self._buffer) < size:
            if not self._fill(None if timeout.is_infinite else timeout.time_left()) or timeout.expired():
                break
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        data = bytes(data)
        self._send_raw(escape(data))
        return len(data)

    def flush(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        while self._fill(0):
            pass
        self._buffer.clear()

    def reset_output_buffer(self) -> None:
        pass

    @property
    def fd(self) -> int:
        """The socket, for select() (mpremote's console waits on it)."""
        return self._socket.fileno()

    def fileno(self) -> int:
        return self._socket.fileno()

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
