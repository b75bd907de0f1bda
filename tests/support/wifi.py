"""A flashed simulated LoPy4 with its WiFi servers, for the telnet/FTP tests (tests/sim, tests/transports)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
from collections.abc import Iterator

import pytest

from pytool.sim import SimRecord
from support.flashed import flashed_image

IAC, WILL, WONT, AYT = 255, 251, 252, 246


@contextlib.contextmanager
def wifi_sim(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[SimRecord]:
    """A fresh simulator on a copy of the flashed image; yields its record once its telnet server listens."""
    from pytool.sim import running_sim

    image = flashed_image(tmp_path_factory)
    base = tmp_path_factory.mktemp(name)
    copy = base / "flash.bin"
    shutil.copyfile(image, copy)
    with running_sim("lopy4", name=name, flash=copy, state_dir=base / "state", data_dir=base / "data") as rec:
        wait_listening(telnet_port(rec))
        yield rec


def telnet_port(rec: SimRecord) -> int:
    return int(rec.wifi["telnet"].rsplit(":", 1)[1])


def ftp_port(rec: SimRecord) -> int:
    return int(rec.wifi["ftp"].rsplit(":", 1)[1])


def wait_listening(port: int, timeout: float = 60.0) -> None:
    """Until the board has booted and its server accepts connections (probe: connect and leave at once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.settimeout(5)
                if s.recv(100).startswith(b"MicroPython"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")
        time.sleep(0.2)


class RawTelnet:
    """A plain socket telnet client that shows every byte (no IAC handling)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.buf = b""

    def read_until(self, marker: bytes, timeout: float = 7.0) -> bytes:
        """Everything up to and including `marker` (TimeoutError if it does not come, EOFError if closed)."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{marker!r} not received; got {self.buf[-200:]!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def closed_by_peer(self, timeout: float = 15.0) -> bool:
        """True once the server closes or resets the connection (within `timeout`)."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(4096):
                pass
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return True

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def login(self, user: bytes = b"micro", password: bytes = b"python") -> None:
        self.read_until(b"Login as: ")
        self.send(user + b"\r\n")
        self.read_until(b"Password: ")
        self.send(password + b"\r\n")
        self.read_until(b'Type "help()" for more information.\r\n')

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawTelnet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
