"""The simulated board's serial front ends: a pty (fast path) and an RFC2217 server on 127.0.0.1 (DTR/RTS).

Both carry the same UART. A front end calls `sink.feed(data)` with bytes from the host, `sink.port_open(...)`
when a client opens or closes it, and (RFC2217 only) `sink.set_lines(dtr, rts, when)`; the board writes its
output with `write()`, which is dropped while nobody has the port open, as a UART's output is.

With pacing on, bytes move at the line rate (baud / 10 bytes per second) in both directions: the host's rate
for what it sends, the board's UART rate (`sink.line_rate()`, pytool.sim.uart) for what the board sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import queue
import select
import socket
import termios
import threading
import time
import tty
from pathlib import Path
from typing import Protocol

import serial
import serial.rfc2217 as rfc2217

log = logging.getLogger(__name__)

_POLL_CLOSED_S = 0.02  # how often a closed pty is checked for a new client
_PACE_TICK_S = 0.01
_TX_LIMIT = 4 << 20  # a client that does not read loses the oldest output beyond this, as a UART would
_BAUDS = {getattr(termios, f"B{b}"): b for b in serial.Serial.BAUDRATES if hasattr(termios, f"B{b}")}
for _extra in (230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 3000000):
    if hasattr(termios, f"B{_extra}"):
        _BAUDS[getattr(termios, f"B{_extra}")] = _extra


class UartSink(Protocol):
    """What a front end talks to (the board)."""

    def feed(self, data: bytes) -> None: ...
    def port_open(self, front_end: FrontEnd, is_open: bool) -> None: ...
    def set_lines(self, dtr: bool, rts: bool, when: float) -> None: ...
    def line_rate(self) -> int | None: ...  # the board's transmit rate; None: it follows the host's


def _tx_rate(sink: UartSink, host: int) -> int:
    """The rate the board's output takes on the wire."""
    rate = getattr(sink, "line_rate", None)
    return (rate() if rate is not None else None) or host


class FrontEnd(Protocol):
    is_open: bool

    def write(self, data: bytes) -> None: ...
    def baud(self) -> int: ...
    def close(self) -> None: ...


class PtyPort:
    """A pty whose slave side (/dev/pts/N) is the board's serial port. The slave is not held open here, so the
    master sees when a client opens (POLLHUP clears) and closes it (read -> EIO).

    With `link`, clients are given that symlink to the pty (`port`), like udev's /dev/serial/by-id names: it
    is removed before the pty closes, so a client that reopens it after a cable pull never lands on whatever
    the kernel gives the freed /dev/pts/N number to next (another simulator, another program)."""

    def __init__(
        self, sink: UartSink, loop: asyncio.AbstractEventLoop, pacing: bool = False, link: Path | None = None
    ) -> None:
        self._sink = sink
        self._loop = loop
        self._pacing = pacing
        self._master, slave = os.openpty()
        self.path = os.ttyname(slave)
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.close(slave)
        self._link = link
        if link is not None:  # published once the pty is set up
            tmp = link.with_name(f".{link.name}.{os.getpid()}")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.path)
            tmp.replace(link)
        os.set_blocking(self._master, False)
        self.is_open = False
        self._closed = False
        self._tx = bytearray()
        self._writer_on = False
        self._timer: asyncio.TimerHandle | None = None
        self._poll = select.poll()
        self._poll.register(self._master, select.POLLIN | select.POLLHUP)
        self._watch_for_open()

    # -- open/close detection --

    def _watch_for_open(self) -> None:
        if self._closed:
            return
        if not any(ev & select.POLLHUP for _, ev in self._poll.poll(0)):
            self._set_open(True)
            self._loop.add_reader(self._master, self._on_readable)
            return
        self._timer = self._loop.call_later(_POLL_CLOSED_S, self._watch_for_open)

    def _set_open(self, is_open: bool) -> None:
        if is_open == self.is_open:
            return
        self.is_open = is_open
        if not is_open:
            self._tx.clear()
            self._stop_writer()
        self._sink.port_open(self, is_open)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:  # the last client closed the slave
            self._loop.remove_reader(self._master)
            self._set_open(False)
            self._watch_for_open()
            return
        self._sink.feed(data)
        if self._pacing:  # hold further input back for the time these bytes take on the wire
            self._loop.remove_reader(self._master)
            self._timer = self._loop.call_later(len(data) * 10 / self.baud(), self._resume_reading)

    def _resume_reading(self) -> None:
        if not self._closed and self.is_open:
            self._loop.add_reader(self._master, self._on_readable)

    # -- output --

    def baud(self) -> int:
        """The baud rate the client set (tcgetattr on the master sees the slave's settings)."""
        try:
            return _BAUDS.get(termios.tcgetattr(self._master)[5], 115200)
        except termios.error:
            return 115200

    def write(self, data: bytes) -> None:
        """Queue `data` for the client (dropped while nobody has the port open)."""
        if not self.is_open or self._closed or not data:
            return
        self._tx += data
        if len(self._tx) > _TX_LIMIT:
            del self._tx[: len(self._tx) - _TX_LIMIT]
        if not self._writer_on:
            self._writer_on = True
            if self._pacing:
                self._loop.call_soon(self._paced_flush)
            else:
                self._loop.add_writer(self._master, self._flush)

    def _send(self, limit: int) -> None:
        try:
            n = os.write(self._master, self._tx[:limit])
        except BlockingIOError:
            return
        except OSError:  # client vanished
            self._tx.clear()
            return
        del self._tx[:n]

    def _flush(self) -> None:
        self._send(len(self._tx))
        if not self._tx:
            self._stop_writer()

    def _paced_flush(self) -> None:
        if not self._writer_on:
            return
        self._send(max(1, int(_tx_rate(self._sink, self.baud()) / 10 * _PACE_TICK_S)))
        if self._tx:
            self._loop.call_later(_PACE_TICK_S, self._paced_flush)
        else:
            self._writer_on = False

    def _stop_writer(self) -> None:
        if self._writer_on and not self._pacing:
            self._loop.remove_writer(self._master)
        self._writer_on = False

    @property
    def port(self) -> str:
        """What clients open: the link, or the pty itself."""
        return str(self._link) if self._link is not None else self.path

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._link is not None and os.path.realpath(self._link) == self.path:
            self._link.unlink(missing_ok=True)  # before the pty number is freed
        if self._timer:
            self._timer.cancel()
        self._loop.remove_reader(self._master)
        self._stop_writer()
        os.close(self._master)


class _LineState:
    """The 'serial port' pyserial's RFC2217 PortManager drives: records settings, forwards DTR/RTS."""

    def __init__(self, server: Rfc2217Port) -> None:
        self._server = server
        self.baudrate = 115200
        self.bytesize, self.parity, self.stopbits = 8, "N", 1
        self.xonxoff = self.rtscts = self.break_condition = False
        self._dtr = self._rts = False
        self.cts = self.dsr = self.ri = self.cd = False

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, value: bool) -> None:
        self._dtr = bool(value)
        self._server.lines_changed(self._dtr, self._rts)

    @property
    def rts(self) -> bool:
        return self._rts

    @rts.setter
    def rts(self, value: bool) -> None:
        self._rts = bool(value)
        self._server.lines_changed(self._dtr, self._rts)

    def reset_input_buffer(self) -> None:
        self._server.purge_output()

    def reset_output_buffer(self) -> None:
        pass


class Rfc2217Port:
    """RFC2217 (telnet COM-port control) server on 127.0.0.1: one client at a time, like a USB-UART bridge.
    The socket work runs in threads; everything reaching the board is handed to the loop thread."""

    def __init__(self, sink: UartSink, loop: asyncio.AbstractEventLoop, pacing: bool = False, port: int = 0) -> None:
        self._sink = sink
        self._loop = loop
        self._pacing = pacing
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self.url = f"rfc2217://127.0.0.1:{self.port}"
        self.is_open = False
        self._closed = False
        self._lines = _LineState(self)
        self._conn: socket.socket | None = None
        self._tx: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._accept_loop, name="rfc2217-accept", daemon=True).start()

    def baud(self) -> int:
        return self._lines.baudrate

    def lines_changed(self, dtr: bool, rts: bool) -> None:
        when = time.monotonic()
        self._loop.call_soon_threadsafe(self._sink.set_lines, dtr, rts, when)

    def purge_output(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._tx.get_nowait()

    def write(self, data: bytes) -> None:
        """Queue board output for the client (dropped while no client is connected)."""
        if self.is_open and data:
            self._tx.put(data)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._conn is not None:  # one client at a time: the port is busy
                conn.close()
                continue
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        self._lines = _LineState(self)
        self._tx = tx = queue.Queue()
        out = _SocketWriter(conn)
        manager = rfc2217.PortManager(self._lines, out, logger=None)
        self.is_open = True
        self._loop.call_soon_threadsafe(self._sink.port_open, self, True)
        writer = threading.Thread(target=self._write_loop, args=(out, tx), daemon=True)
        writer.start()
        try:
            while not self._closed:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                if manager.mode == rfc2217.M_NORMAL and manager.suboption is None and b"\xff" not in data:
                    plain = data
                else:
                    plain = b"".join(manager.filter(data))
                if plain:
                    self._loop.call_soon_threadsafe(self._sink.feed, plain)
                    if self._pacing:
                        time.sleep(len(plain) * 10 / self.baud())
        finally:
            self.is_open = False
            self._conn = None
            tx.put(None)
            with contextlib.suppress(OSError):
                conn.close()
            if not self._closed:
                self._loop.call_soon_threadsafe(self._sink.port_open, self, False)

    def _write_loop(self, out: _SocketWriter, tx: queue.Queue[bytes | None]) -> None:
        while True:
            data = tx.get()
            if data is None:
                return
            data = data.replace(b"\xff", b"\xff\xff")  # telnet IAC escaping
            if not self._pacing:
                out.write(data)
                continue
            step = max(1, int(_tx_rate(self._sink, self.baud()) / 10 * _PACE_TICK_S))
            for i in range(0, len(data), step):
                out.write(data[i : i + step])
                time.sleep(_PACE_TICK_S)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.shutdown(socket.SHUT_RDWR)
        self._tx.put(None)


class _SocketWriter:
    """Telnet negotiation replies from PortManager (called in the reader thread)."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._conn.sendall(data)
