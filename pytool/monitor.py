"""A board whose every printed byte is recorded: one serial session plus a capture (over-the-air tests, deploy).

The board's serial port has one owner: this session. A reader thread moves every byte the board prints into a
`SerialCapture` (callback output of GATT handlers, boot text), and commands (`exec`, `reset`) find their
replies in that same capture, so output that interleaves with a command's reply (a handler printing "Client
disconnected" while the raw REPL answers, reference 4.7) is neither lost nor mistaken for the reply.
Commands never soft reset the board: on Pycom firmware a soft reset unregisters the GATT server (reference
4.10). Opening the session does not disturb the board; `exec` and `reset` interrupt a running main.py.
"""

from __future__ import annotations

import ast
import contextlib
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from pytool import port_lock, repl
from pytool.capture import SerialCapture
from pytool.errors import PytoolError

if TYPE_CHECKING:
    from pytool.ports import Target

#: The friendly REPL prompt after boot (boot.py and main.py done): the banner's last line, then ">>> ".
BOOT_PROMPT = re.compile(r'Type "help\(\)" for more information\.\n(?:.*\n)*?>>> ?')
#: The ESP32 ROM's first lines after any reset ("ets Jun  8 2016 00:22:57", "rst:0xc (SW_CPU_RESET)").
RESET_SIGN = re.compile(r"rst:0x[0-9a-f]+ \(|ets [A-Z][a-z]{2} ")


class MonitorError(PytoolError):
    """The monitored board did not do what was asked (exec raised, no answer, no reboot)."""


class BoardMonitor:
    """A serial session on a board with a capture of all its output (see module docstring)."""

    def __init__(self, target: Target | str | None, baudrate: int = 115200, busy_timeout: float = 5.0) -> None:
        """Open the target board's port (a Target, or a port value resolved here: device path, URL, sim:NAME,
        None = the single attached board) without disturbing it.

        A port another program holds is retried for `busy_timeout` s before giving up."""
        import serial

        from pytool.ports import Target, resolve_port

        self.target = target if isinstance(target, Target) else resolve_port(target)
        self.port = self.target.spec
        self.capture = SerialCapture()
        self._port_hold = port_lock.hold(self.target.url)  # one pytool per port (`pytool test`'s pytest inherits it)
        self._port_hold.__enter__()
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._serial = serial.serial_for_url(self.target.url, do_not_open=True, baudrate=baudrate, timeout=0.05)
                if "://" not in self.target.url:
                    self._serial.exclusive = True
                self._serial.open()
                break
            except (serial.SerialException, OSError, ValueError) as exc:
                if "exclusively lock" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.2)  # another tool (esptool, mpremote) is just letting go of the port
                    continue
                self._port_hold.__exit__(None, None, None)
                raise MonitorError(
                    f"cannot open the board's serial port {self.port}: {exc}",
                    "check --board-port (a device path, URL or sim:NAME) and that no other program holds the port",
                ) from exc
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._test_start = 0
        self._cursor = 0
        self._reader = threading.Thread(target=self._drain, name=f"hil-serial-{self.port}", daemon=True)
        self._reader.start()

    # -- capture ---------------------------------------------------------------------------------------------

    def _drain(self) -> None:
        port = self._serial
        while not self._closed.is_set():
            try:
                self.capture.feed(port.read(port.in_waiting or 1))
            except Exception as exc:  # OSError, SerialException: board unplugged, simulator killed
                if not self._closed.is_set():
                    self.capture.feed(f"\n[pytool: serial port lost: {exc}]\n".encode())
                return

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
        __tracebackhide__ = True  # pytest shows the test's line, not this helper
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

    def write(self, data: bytes) -> None:
        """Send raw bytes to the board (e.g. `pytool.repl.CTRL_C` to stop main.py); its output lands in the capture."""
        with self._lock:
            self._serial.write(data)

    def _wait(self, pattern: bytes, since: int, timeout: float, doing: str) -> re.Match[bytes]:
        found = self.capture.search_bytes(pattern, since, timeout)
        if found is None:
            raise MonitorError(
                f"the board did not answer on {self.port} while {doing} (waited {timeout:g} s)",
                f"is main.py blocking the REPL? its last lines:\n{self.capture.tail(8, since)}",
            )
        return found

    def exec(self, code: str, timeout: float = 10.0) -> str:
        """Run `code` in the raw REPL (no soft reset) and return what it printed; MonitorError if it raised.

        Interrupts whatever runs (Ctrl-C) first, and leaves the board at the friendly prompt afterwards."""
        payload = code.encode()
        repl.check_payload(payload)
        with self._lock:
            out, err = repl.raw_exec(
                self._serial.write,
                lambda pattern, since: self._wait(pattern, since, timeout, "running code"),
                self.capture.position,
                payload,
            )
        if err:
            text = err.decode("utf-8", "replace").replace("\r\n", "\n").strip()
            raise MonitorError(f"board code raised {text.splitlines()[-1] if text else 'an error'}", text)
        return out.decode("utf-8", "replace").replace("\r\n", "\n")

    def eval(self, expression: str, timeout: float = 10.0) -> Any:
        """Evaluate a Python literal-valued expression on the board."""
        return ast.literal_eval(self.exec(f"print(repr({expression}))", timeout).strip().splitlines()[-1])

    def reset(self, hard: bool = True, boot_timeout: float = 20.0, main_timeout: float | None = None) -> bool:
        """Reset the board (`machine.reset()`, or Ctrl-D for a soft reset) and wait for it to boot.

        Returns True once the REPL prompt is back (boot.py and main.py done), False if the board restarted
        but main.py still runs `main_timeout` s (default `boot_timeout`) after the restart (a main loop).
        Raises MonitorError if it did not restart within `boot_timeout` s.
        A soft reset leaves Pycom's Bluetooth stack unusable (reference 4.10): over-the-air tests want hard.
        """
        with self._lock:
            self._serial.write(repl.ASK_BANNER)  # interrupt whatever runs, friendly REPL
            time.sleep(0.2)  # an interrupted main.py prints its traceback and the banner
            mark = self.capture.position
            if hard:
                self._serial.write(repl.HARD_RESET_LINE)
            else:
                repl.soft_reset(self._serial.write)
        if hard and self.target.url.lower().startswith("telnet://"):
            return self._reconnect_after_reset(mark, boot_timeout)
        restarted = self.capture.search(RESET_SIGN if hard else repl.SOFT_REBOOT.decode(), mark, boot_timeout)
        if restarted is None:
            raise MonitorError(
                f"the board did not restart within {boot_timeout:g} s after a {'hard' if hard else 'soft'} reset",
                f"its last lines:\n{self.capture.tail(10, mark)}",
            )
        wait = boot_timeout if main_timeout is None else main_timeout
        return self.capture.search(BOOT_PROMPT, restarted[1], wait) is not None

    def _reconnect_after_reset(self, mark: int, boot_timeout: float) -> bool:
        """Over telnet (WiFi) a hard reset ends the session and the boot text goes to the UART only: wait for the
        link to drop, then log in again once the board's server is back (True: the board is up again)."""
        if self.capture.search(r"\[pytool: serial port lost", mark, boot_timeout) is None:
            raise MonitorError(f"the board did not reset within {boot_timeout:g} s", self.capture.tail(10, mark))
        self._reader.join(timeout=2)
        deadline = time.monotonic() + boot_timeout
        while True:
            with contextlib.suppress(Exception):
                self._serial.close()
            try:
                self._serial.open()  # connects and logs in again
                break
            except Exception as exc:  # refused or no prompt yet: the board is still booting
                if time.monotonic() > deadline:
                    raise MonitorError(
                        f"the board's telnet server did not come back within {boot_timeout:g} s: {exc}"
                    ) from exc
                time.sleep(0.5)
        self._reader = threading.Thread(target=self._drain, name=f"hil-serial-{self.port}", daemon=True)
        self._reader.start()
        return True

    def close(self) -> None:
        """Stop the reader and release the port."""
        self._closed.set()
        self._reader.join(timeout=2)
        with contextlib.suppress(Exception):
            self._serial.close()
        hold, self._port_hold = self._port_hold, None
        if hold is not None:
            hold.__exit__(None, None, None)

    def __enter__(self) -> BoardMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
