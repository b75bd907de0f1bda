"""A simulated LoPy4 shared by the escape attempts of a module (tests/security), host canaries, a raw-REPL runner."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from pytool.sim.registry import SimRecord
from pytool.sim.testing import running_sim
from support.firmware import pycom_flash_image

BOARD = "lopy4"
FIRMWARE = "1.20.2.r4"


@dataclass
class Host:
    """What device code must not touch: a canary file and folder, and the path a host command would create."""

    root: Path

    @property
    def canary(self) -> Path:
        return self.root / "canary.txt"

    @property
    def canary_dir(self) -> Path:
        return self.root / "canary_dir"

    @property
    def pwned(self) -> Path:
        return self.root / "pwned"

    def plant(self) -> None:
        self.canary.write_text("canary\n")
        self.canary_dir.mkdir(exist_ok=True)
        (self.canary_dir / "inside.txt").write_text("inside\n")
        os.chmod(self.root, 0o777)  # even the unprivileged sandbox user could write here (if it got out)
        os.chmod(self.canary, 0o666)
        os.chmod(self.canary_dir, 0o777)

    def snapshot(self) -> dict:
        state = {}
        for p in sorted(self.root.rglob("*")):
            st = p.stat()
            state[str(p)] = (st.st_mtime_ns, st.st_size, p.read_bytes() if p.is_file() else None)
        return state


@dataclass
class Board:
    rec: SimRecord
    image: Path

    def protected_hash(self) -> str:
        """Hash of the image outside the regions the firmware may write (bootloader, partition table, app)."""
        h = hashlib.sha256()
        with open(self.image, "rb") as f:
            h.update(f.read(0x9000))
            f.seek(0x10000)
            h.update(f.read(0x1EF000))
        return h.hexdigest()

    def run(self, code: str, timeout: float = 15.0) -> tuple[str, str]:
        """Run `code` in a fresh interpreter (soft reset into the raw REPL): (stdout, stderr); ("", "crash: ...")
        when the board did not complete the exec."""
        t = SerialTransport(self.rec.pty, baudrate=115200)
        try:
            t.enter_raw_repl(soft_reset=True)
            out, err = t.exec_raw(code, timeout=timeout)
            return out.decode(errors="replace"), err.decode(errors="replace")
        except TransportError as exc:
            return "", f"crash: {exc}"
        finally:
            with contextlib.suppress(Exception):
                t.close()

    def answers(self) -> bool:
        """The simulator still works: a follow-up exec answers (after a reboot if the attempt crashed it)."""
        for _ in range(3):
            out, err = self.run("print(6 * 7)")
            if out.strip() == "42" and not err:
                return True
        return False


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    # in /tmp, open to everyone: had device code got out as the simulator's unprivileged user, it could write here
    h = Host(Path(tempfile.mkdtemp(prefix="pytool-canary-", dir="/tmp")))
    h.plant()
    yield h
    shutil.rmtree(h.root, ignore_errors=True)


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Iterator[Board]:
    tmp = tmp_path_factory.mktemp("secboard")
    image = pycom_flash_image(tmp / "flash.bin", FIRMWARE, BOARD)
    with running_sim(BOARD, name=f"sec{os.getpid()}", flash=image, state_dir=tmp / "s", data_dir=tmp / "d") as rec:
        yield Board(rec, image)
    shutil.rmtree(tmp, ignore_errors=True)
