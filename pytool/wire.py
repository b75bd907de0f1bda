"""Byte counting on a board's serial link: traffic figures for `--json` summaries and bench/sync.py, and a
link that can be cut after N bytes sent (the sync interruption tests)."""

from __future__ import annotations

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
