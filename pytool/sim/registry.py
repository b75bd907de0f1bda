"""Registry of running simulators: one JSON file per simulator in `state_dir()/sims/`.

A simulator process writes its record when its ports are ready and removes it when it exits; records of dead
processes are ignored and cleaned up. Everything outside `pytool.sim` finds simulators only through here
(`--port sim:NAME`, `PYTOOL_BLE=sim:NAME`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytool.errors import PytoolError
from pytool.paths import state_dir


@dataclass
class SimRecord:
    """How to reach one running simulated board."""

    name: str
    board: str  # catalogue key, e.g. "lopy4"
    pid: int  # simulator process
    pty: str  # the serial port (a stable link to its /dev/pts/N; fast path for esptool, mpremote); "" = unplugged
    rfc2217: str | None = None  # rfc2217://127.0.0.1:PORT (carries DTR/RTS resets)
    control: str | None = None  # unix socket path of the control API (reset, faults)
    hci: str | None = None  # Bumble transport for testers, e.g. tcp-client:127.0.0.1:PORT
    bt_address: str | None = None  # the board's Bluetooth address on that radio (base MAC + 2, pytool.ble.address)
    flash: str | None = None  # flash image file
    # Pycom network.Server: {"telnet": "telnet://127.0.0.1:P", "ftp": "ftp://127.0.0.1:P", "ftp_data_port": P}
    wifi: dict | None = None
    paced: bool = False  # bytes move at the line rate (--baud-pacing): a faster rate pays (pytool.baud)
    power: str | None = None  # its power switch, http://127.0.0.1:PORT/power (labgrid simplerest; power_switch.py)
    started: float = field(default_factory=time.time)

    def to_json(self) -> dict:
        return asdict(self)


def _dir() -> Path:
    path = state_dir() / "sims"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def register(record: SimRecord) -> Path:
    """Publish a simulator's record (atomically: readers never see a half-written file)."""
    path = _dir() / f"{record.name}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record.to_json(), indent=2))
    os.replace(tmp, path)
    return path


def unregister(name: str, pid: int | None = None) -> None:
    """Remove a simulator's record (only if it still belongs to `pid`, when given)."""
    path = _dir() / f"{name}.json"
    try:
        if pid is not None and json.loads(path.read_text()).get("pid") != pid:
            return
        path.unlink()
    except (FileNotFoundError, json.JSONDecodeError):
        pass


def running() -> list[SimRecord]:
    """Records of simulators whose process is alive (stale records are deleted)."""
    records = []
    for path in sorted(_dir().glob("*.json")):
        try:
            record = SimRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if process_alive(record.pid):
            records.append(record)
        else:
            path.unlink(missing_ok=True)
    return records


def find(name: str) -> SimRecord:
    """The running simulator called `name`, or a PytoolError saying how to start it."""
    for record in running():
        if record.name == name:
            return record
    raise PytoolError(
        f"no simulator named '{name}' is running",
        f"start one with `pytool sim start --name {name}` or list them with `pytool sim list`",
    )
