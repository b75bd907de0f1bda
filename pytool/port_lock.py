"""One pytool process per board at a time: a lock per port that names its holder, and the other programs
(mpremote, a terminal) that have the port open.

A lock is a file in `state_dir()/locks/`, held with `flock` for as long as a command talks to the board, and
holding the holder's pid, command line and start time. The kernel drops the lock when the holder dies, so a
crashed pytool never leaves a port locked. Within one process the lock is re-entrant (`deploy` holds the port
and the sync inside it takes it again).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytool.errors import PytoolError
from pytool.paths import state_dir

POLL_S = 0.1
WAIT_ENV = "PYTOOL_WAIT"  # seconds to wait for a busy port (`pytool --wait SECONDS` sets it for its children too)


@dataclass(frozen=True)
class Holder:
    """A process that holds or has opened a port."""

    pid: int
    command: str
    since: float | None = None  # time.time() when it took the port, if known

    def describe(self) -> str:
        age = f", for {time.time() - self.since:.0f} s" if self.since else ""
        return f"pid {self.pid}: {self.command}{age}"


class PortBusy(PytoolError):
    """The port is held by another process."""

    def __init__(self, port: str, holder: Holder, pytool: bool) -> None:
        who = "another pytool" if pytool else "another program"
        hint = "wait for it to finish, or pass --wait SECONDS" if pytool else "close that program, then try again"
        super().__init__(f"{port} is in use by {who} ({holder.describe()})", hint)
        self.holder = holder


def port_key(port: str) -> str:
    """What identifies a port across spellings: the real device path for a path, else the spec itself."""
    return os.path.realpath(port) if port.startswith("/") else port


def _lock_file(key: str) -> Path:
    folder = state_dir() / "locks"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".lock")


def _read_holder(path: Path) -> Holder | None:
    try:
        raw = json.loads(path.read_text() or "null")
        return Holder(int(raw["pid"]), str(raw["command"]), float(raw["since"])) if raw else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _command_line(pid: int) -> str:
    try:
        parts = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [p.decode(errors="replace") for p in parts if p]
    if len(words) > 1 and Path(words[0]).name.startswith("python"):
        words = words[1:]  # `python -m pytool ...` / `python /path/to/mpremote ...`: the program is what matters
    if words and words[0] == "-m":
        words = words[1:]
    if words:
        words[0] = Path(words[0]).name
    return " ".join(" ".join(words).split())[:120] or "?"  # one line, even for `python -c "...\n..."`


_held: dict[str, list[int]] = {}  # key -> [fd, depth] for the locks this process holds
#: Keys held by this process, passed down to its children (`pytool test` runs pytest, whose plugin opens the port
#: the parent holds): a child does not wait for its own parent.
INHERITED_ENV = "PYTOOL_HELD_PORTS"


_FROM_PARENT = frozenset(k for k in os.environ.get(INHERITED_ENV, "").split("\n") if k)


def _publish() -> None:
    keys = sorted(_FROM_PARENT | set(_held))
    if keys:
        os.environ[INHERITED_ENV] = "\n".join(keys)
    else:
        os.environ.pop(INHERITED_ENV, None)


@contextlib.contextmanager
def hold(port: str, wait: float | None = None) -> Iterator[None]:
    """Hold `port` for this process; wait up to `wait` seconds (default: PYTOOL_WAIT, which `pytool --wait`
    sets, else 0) for another pytool to let go, else PortBusy.

    Re-entrant: the port is released when the last of this process's holds ends, in whatever order they end
    (a session closed after the deploy that opened it)."""
    key = port_key(port)
    if key in _FROM_PARENT:  # our parent holds it for us
        yield
        return
    if key in _held:
        _held[key][1] += 1
    else:
        _held[key] = [_acquire(port, key, wait), 1]
        _publish()
    try:
        yield
    finally:
        entry = _held[key]
        entry[1] -= 1
        if entry[1] == 0:
            del _held[key]
            _publish()
            _release(entry[0])


def _acquire(port: str, key: str, wait: float | None) -> int:
    """The locked file descriptor of `key`'s lock file, with this process recorded as the holder."""
    if wait is None:
        try:
            wait = float(os.environ.get(WAIT_ENV) or 0)
        except ValueError:
            wait = 0.0
    path = _lock_file(key)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(path) or Holder(0, "unknown pytool")
                    raise PortBusy(port, holder, pytool=True) from None
                time.sleep(POLL_S)
        me = {"pid": os.getpid(), "command": _command_line(os.getpid()), "since": time.time(), "port": port}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def other_openers(device: str) -> list[Holder]:
    """Processes other than this one that have the device file open (Linux: /proc; elsewhere nothing is known)."""
    if not sys.platform.startswith("linux") or not device.startswith("/"):
        return []
    try:
        target = os.stat(device).st_rdev
    except OSError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                st = fd.stat()
            except OSError:
                continue
            if st.st_rdev == target and (st.st_mode & 0o170000) == 0o020000:  # the same character device
                found.append(Holder(int(entry.name), _command_line(int(entry.name))))
                break
    return found


def refuse_if_open_elsewhere(port: str) -> None:
    """PortBusy naming the first other program that has the device `port` open (a serial port is not shared)."""
    others = other_openers(port_key(port))
    if others:
        raise PortBusy(port, others[0], pytool=False)
