"""The board under test, for over-the-air tests: one serial session that also records everything printed.

The board's serial port has one owner: this session. Between commands a reader thread drains the port into a
`SerialCapture`, so callback output (`print` in a GATT handler) is kept while the tests talk over the air;
commands (`exec`, `reset`) take the port, and what they read lands in the same capture. Commands never soft
reset the board: on Pycom firmware a soft reset unregisters the GATT server (reference 4.10).
"""

from __future__ import annotations

import ast
import contextlib
import re
import threading
import time
from typing import Any

from pytool.errors import PytoolError
from pytool.hil.capture import SerialCapture, TappedSerial

#: The friendly REPL prompt after boot (boot.py and main.py done): the banner's last line, then ">>> ".
BOOT_PROMPT = re.compile(r'Type "help\(\)" for more information\.\n(?:.*\n)*?>>> ?')
#: Any sign that the chip restarted: the ROM's reset line or a firmware banner.
RESET_SIGN = re.compile(r"rst:0x|MicroPython v|Pycom MicroPython")


class BoardError(PytoolError):
    """The board did not do what a test asked (exec raised, no answer, no reboot)."""


class HilBoard:
    """A serial session on the board under test with a capture of all its output (see module docstring)."""

    def __init__(self, port: str | None, poll_interval: float = 0.02) -> None:
        """Open `port` (device path, URL, sim:NAME, None = the single attached board) without disturbing it."""
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        from pytool.ports import resolve_port

        self.resolved = resolve_port(port)
        self.port = self.resolved.spec
        self.device = self.resolved.url
        self.capture = SerialCapture()
        self._transport_error = TransportError
        try:
            self._transport = SerialTransport(self.device, baudrate=115200)
        except (TransportError, OSError) as exc:
            raise BoardError(
                f"cannot open the board's serial port {self.port}: {exc}",
                "check --board-port (a device path, URL or sim:NAME) and that no other program holds the port",
            ) from exc
        self._transport.serial.timeout = 1.0  # mpremote reads a pty without timeout: never block forever
        self._transport.serial = TappedSerial(self._transport.serial, self.capture)
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._poll_interval = poll_interval
        self._test_start = 0
        self._cursor = 0
        self._reader = threading.Thread(target=self._drain, name=f"hil-serial-{self.port}", daemon=True)
        self._reader.start()

    # -- capture ---------------------------------------------------------------------------------------------

    def _drain(self) -> None:
        serial = self._transport.serial
        while not self._closed.is_set():
            with self._lock:
                try:
                    waiting = serial.in_waiting
                    if waiting:
                        serial.read(waiting)
                except (OSError, ValueError, TypeError) as exc:  # the port went away (board unplugged, sim killed)
                    if not self._closed.is_set():
                        self.capture.feed(f"\n[pytool: serial port lost: {exc}]\n".encode())
                    return
            time.sleep(self._poll_interval)

    def begin_test(self) -> None:
        """Mark the start of a test: `output`, `count` and `expect` look at what is printed from now on."""
        self._test_start = self._cursor = self.capture.position

    @property
    def test_start(self) -> int:
        return self._test_start

    @property
    def output(self) -> str:
        """Everything the board printed since the current test started."""
        return self.capture.text(self._test_start)

    def tail(self, lines: int = 30) -> str:
        """The last lines the board printed since the current test started."""
        return self.capture.tail(lines, self._test_start)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until the board prints a line matching the regular expression `pattern`; return the match.

        Searches from the end of the previous `expect` match (or the start of the test), so expecting the
        same line twice needs it printed twice. Fails the test, showing the board's last lines, on timeout.
        """
        found = self.capture.search(pattern, self._cursor, timeout)
        if found is None:
            raise AssertionError(
                f"the board did not print /{pattern}/ within {timeout:g} s; its last lines:\n{self.tail(15)}"
            )
        match, self._cursor = found
        return match

    def count(self, pattern: str) -> int:
        """How many times `pattern` occurs in what the board printed since the test started."""
        return len(re.findall(pattern, self.output))

    # -- commands --------------------------------------------------------------------------------------------

    def exec(self, code: str, timeout: float = 10.0) -> str:
        """Run `code` in the raw REPL (no soft reset) and return what it printed; raise BoardError if it raised."""
        with self._lock:
            transport = self._transport
            try:
                transport.enter_raw_repl(soft_reset=False, timeout_overall=timeout)
                try:
                    out, err = transport.exec_raw(code, timeout=timeout)
                finally:
                    transport.exit_raw_repl()
            except self._transport_error as exc:
                raise BoardError(
                    f"the board did not answer on {self.port}: {exc}", "is main.py blocking the REPL?"
                ) from exc
        if err:
            raise BoardError(f"board code raised: {err.decode(errors='replace').strip().splitlines()[-1]}")
        return out.decode(errors="replace").replace("\r\n", "\n")

    def eval(self, expression: str, timeout: float = 10.0) -> Any:
        """Evaluate a Python literal-valued expression on the board."""
        return ast.literal_eval(self.exec(f"print(repr({expression}))", timeout).strip())

    def write(self, data: bytes) -> None:
        """Send raw bytes to the board (e.g. b"\\x03" to interrupt main.py); what it prints lands in the capture."""
        with self._lock:
            self._transport.serial.write(data)

    def reset(self, hard: bool = True, boot_timeout: float = 20.0, main_timeout: float | None = None) -> bool:
        """Reset the board (`machine.reset()`, or Ctrl-D for a soft reset) and wait for it to boot.

        Returns True once the REPL prompt is back (boot.py and main.py done), False if the board restarted
        but main.py still runs `main_timeout` s (default `boot_timeout`) after the restart (a main loop).
        Raises BoardError if it did not restart within `boot_timeout` s.
        A soft reset leaves Pycom's Bluetooth stack unusable (reference 4.10): over-the-air tests want hard.
        """
        with self._lock:
            transport = self._transport
            try:
                if hard:
                    transport.enter_raw_repl(soft_reset=False)
                    mark = self.capture.position  # the REPL may print a banner on Ctrl-C: look after it
                    transport.exec_raw_no_follow("import machine\nmachine.reset()")
                else:
                    transport.serial.write(b"\r\x03\x03\x02")  # interrupt, friendly REPL
                    time.sleep(0.2)
                    mark = self.capture.position
                    transport.serial.write(b"\x04")  # soft reset
            except self._transport_error as exc:
                raise BoardError(f"the board did not take the reset command: {exc}") from exc
            finally:
                transport.in_raw_repl = False
        restarted = self.capture.search(RESET_SIGN if hard else "soft reboot", mark, boot_timeout)
        if restarted is None:
            raise BoardError(
                f"the board did not restart within {boot_timeout:g} s after a {'hard' if hard else 'soft'} reset",
                f"its last lines:\n{self.capture.tail(10, mark)}",
            )
        wait = boot_timeout if main_timeout is None else main_timeout
        return self.capture.search(BOOT_PROMPT, restarted[1], wait) is not None

    def close(self) -> None:
        """Stop the reader and release the port."""
        self._closed.set()
        self._reader.join(timeout=2)
        with contextlib.suppress(Exception):
            self._transport.close()

    def __enter__(self) -> HilBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
