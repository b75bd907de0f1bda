"""Byte counting on a board's serial link: traffic figures for `--json` summaries and bench/sync.py, and a
link that can be cut after N bytes sent (the sync interruption tests); mpremote's `read_until` without its naps."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import serial


@dataclass
class WireStats:
    """Traffic of one session."""

    tx: int = 0
    rx: int = 0
    round_trips: int = 0

    def to_json(self) -> dict:
        return asdict(self)


class LinkKilled(serial.SerialException):
    """The serial link was cut on purpose (`CountingSerial.kill_after_tx`)."""


@dataclass
class CountingSerial:
    """A pyserial port wrapper that counts bytes both ways; `kill_after_tx` cuts the link after N bytes sent."""

    port: Any
    stats: WireStats = field(default_factory=WireStats)
    kill_after_tx: int | None = None

    def write(self, data: bytes) -> int | None:
        if self.kill_after_tx is not None and self.stats.tx + len(data) > self.kill_after_tx:
            keep = max(0, self.kill_after_tx - self.stats.tx)
            if keep:
                self.port.write(data[:keep])
                self.port.flush()
            self.stats.tx += keep
            self.port.close()
            raise LinkKilled(f"link cut after {self.stats.tx} bytes")
        self.stats.tx += len(data)
        return self.port.write(data)

    def read(self, size: int = 1) -> bytes:
        data = self.port.read(size)
        self.stats.rx += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.port, name)


def waiting_read_until(
    transport: Any,
    min_num_bytes: int,
    ending: bytes,
    timeout: float | None = 10,
    data_consumer: Callable[[bytes], None] | None = None,
    timeout_overall: float | None = None,
) -> bytes:
    """mpremote's `SerialTransport.read_until`, same contract (what it returns, what `data_consumer` gets), but
    each read waits in the port for the next byte (up to the port's own timeout) instead of mpremote's 10 ms
    sleeps between polls, which it does on every port but /dev/pts/*: each sleep delays a reply by up to 10 ms,
    several per exec. Both timeouts are checked after every byte too, so a board that never stops printing
    cannot hold the read past `timeout_overall`."""
    del min_num_bytes  # obsolete in mpremote too
    data = bytearray()
    start = last = time.monotonic()
    while not data.endswith(ending):
        byte = transport.serial.read(1)
        now = time.monotonic()
        if byte:
            last = now
            if data_consumer is not None:
                data_consumer(byte)
                data[:] = byte
            else:
                data += byte
        elif timeout is not None and now >= last + timeout:
            break
        if timeout_overall is not None and now >= start + timeout_overall:
            break
    return bytes(data)
