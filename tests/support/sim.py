"""Helpers of the simulator tests: a module-scoped simulator, esptool on its pty, reading its serial output."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import esptool
import serial

from pytool.sim import SimControl, SimRecord, running_sim


@contextlib.contextmanager
def module_sim(
    tmp_path_factory, board: str, name: str, image: Path | None = None, args: Sequence[str] = ()
) -> Iterator[tuple[SimRecord, Path, Path]]:
    """A simulator with its own state/data folders (usable from module-scoped fixtures): yields its record and
    those folders. With `image` it runs a copy of that flash image (else erased flash); `args` go to the daemon."""
    base = tmp_path_factory.mktemp(name)
    flash = None
    if image is not None:
        flash = base / "flash.bin"
        shutil.copyfile(image, flash)
    state, data = base / "state", base / "data"
    with running_sim(board, name=name, flash=flash, args=args, state_dir=state, data_dir=data) as rec:
        yield rec, state, data


def esptool_pty(rec: SimRecord, *args: str, stub: bool = True) -> None:
    """Real esptool (in-process) on the pty: reset into the ROM through the control socket first, since a pty
    has no DTR/RTS."""
    SimControl(rec.control).reset(bootloader=True)
    argv = ["--port", rec.pty, "--baud", "115200", "--before", "no-reset", "--after", "no-reset"]
    esptool.main([*argv, *([] if stub else ["--no-stub"]), *args])


def read_flash_file(rec: SimRecord, offset: int, length: int) -> bytes:
    """Bytes of the simulator's flash image, read from the file itself (not through the simulator)."""
    with open(rec.flash, "rb") as f:
        f.seek(offset)
        return f.read(length)


def read_until(port: serial.Serial, *needles: bytes, timeout: float = 20.0) -> bytes:
    """Read from `port` until every needle has appeared in order (AssertionError with the text on timeout)."""
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        buf += port.read(4096)
        pos = 0
        for needle in needles:
            pos = buf.find(needle, pos)
            if pos < 0:
                break
            pos += len(needle)
        else:
            return buf
    raise AssertionError(f"did not see {needles!r} within {timeout} s; got {buf[-2000:]!r}")


def open_port(rec: SimRecord) -> serial.Serial:
    """Open the board's pty and wait until the simulator has noticed (it drops output while the port is closed)."""
    port = serial.Serial(rec.pty, 115200, timeout=0.1)
    control = SimControl(rec.control)
    deadline = time.monotonic() + 10
    while not control.status()["port_open"]:
        if time.monotonic() > deadline:
            raise AssertionError("the simulator did not notice the port being opened")
        time.sleep(0.01)
    return port
