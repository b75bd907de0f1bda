"""device_lib's test probe (`pytool_probe` on the board), read over the board's serial session.

The probe records every callback the board ran in a ring buffer; `Probe` reads it as JSON through
`board.exec`, so a test asserts "the write callback ran once with b'x'" instead of parsing prints.
See device_lib/README.md ("The test probe") for the format.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytool.monitor import BoardMonitor


@dataclass(frozen=True)
class ProbeEvent:
    """One recorded event: `data` is bytes for write/read/notify (None if absent), else as recorded."""

    seq: int
    t: int
    event: str
    char: str | None
    data: Any

    @classmethod
    def from_json(cls, raw: dict) -> ProbeEvent:
        data = raw.get("data")
        if raw["event"] in ("write", "read", "notify") and isinstance(data, str):
            data = bytes.fromhex(data)
        return cls(raw["seq"], raw["t"], raw["event"], raw.get("char"), data)


class Probe:
    """The probe on the board; `events()` returns what was recorded since this object was made (or `mark()`)."""

    def __init__(self, board: BoardMonitor) -> None:
        self.board = board
        self.since = self.read(0)["seq"]

    def read(self, since: int) -> dict:
        """The probe's raw dump after sequence number `since`."""
        out = self.board.exec(f"import pytool_probe\npytool_probe.show({int(since)})")  # no big block
        return json.loads(out.strip().splitlines()[-1])

    def mark(self) -> int:
        """Forget earlier events: later `events()` calls return only what happens from now on."""
        self.since = self.read(self.since)["seq"]
        return self.since

    def events(self, event: str | None = None, char: str | None = None) -> list[ProbeEvent]:
        """Events since the mark, oldest first, optionally only of one kind and/or characteristic."""
        dump = self.read(self.since)
        if dump.get("dropped"):
            raise AssertionError(f"the probe dropped {dump['dropped']} events: read it more often or resize it")
        found = [ProbeEvent.from_json(raw) for raw in dump["events"]]
        return [e for e in found if (event is None or e.event == event) and (char is None or e.char == char)]

    def wait_for(self, event: str, char: str | None = None, timeout: float = 10.0, count: int = 1) -> ProbeEvent:
        """Wait until the probe has recorded `count` `event`s (on `char`) after the mark; return the count-th."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(event, char)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"the probe recorded {len(found)} {event!r} event(s) on {char!r} within {timeout:g} s, "
                    f"expected {count}: {found}"
                )
            time.sleep(0.1)
