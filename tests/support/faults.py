"""Helpers of the reliability suite: arm faults, wait for the board to come back, read its state by hash."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytool import sync
from pytool.board import BoardSession
from pytool.errors import PytoolError
from pytool.sim import SimControl, registry

WAIT_S = 30.0  # the longest any board transition may take on a loaded machine
DEEP = os.environ.get("PYTOOL_DEEP") == "1"


def examples(quick: int, deep: int = 200) -> int:
    """How many fault points hypothesis tries: a few in `make test`, hundreds with `--deep`
    (PYTOOL_DEEP=1; bench/reliability.py)."""
    forced = os.environ.get("PYTOOL_RELIABILITY_EXAMPLES")
    return int(forced) if forced else deep if DEEP else quick


def time_limit(bounded_s: float, per_example_s: float = 60.0) -> pytest.MarkDecorator:
    """The pytest-timeout of a module of hypothesis tests (a hang detector): `bounded_s` in `make test`, and
    `per_example_s` for each of the hundreds of examples of a deep run (a whole test is one timeout)."""
    return pytest.mark.timeout(max(bounded_s, per_example_s * examples(1)))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record(category: str, **counts: int) -> None:
    """Add figures (injected, recovered, files_checked, corrupt, tracebacks) to the stats file bench/reliability.py
    reads (PYTOOL_RELIABILITY_STATS); called BEFORE the assertions, so failures are counted too."""
    path = os.environ.get("PYTOOL_RELIABILITY_STATS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"category": category, **counts}) + "\n")


def failure_of(action: Callable[[], object]) -> str:
    """Run `action` as the user would: "" when it completed, the one-line message of a PytoolError, or (a bug the
    user would see as a traceback) "Traceback: unexpected <type>: ..." for any other exception, so it is counted."""
    try:
        action()
    except PytoolError as exc:
        return str(exc)
    except Exception as exc:
        return f"Traceback: unexpected {type(exc).__name__}: {exc}"
    return ""


def has_traceback(text: str) -> bool:
    """A user-facing message that leaks a traceback or reports a bug ('unexpected X')."""
    return "Traceback" in text or text.startswith("unexpected ")


def arm(control: str, name: str, repeat: bool = False, **params: Any) -> dict:
    """Arm fault `name` on the simulator behind `control`; returns the fault status."""
    return SimControl(control).request({"op": "fault", "name": name, "params": params, "repeat": repeat})


def clear(control: str) -> dict:
    """Clear every fault; returns the status (with the `injected` counters)."""
    return SimControl(control).request({"op": "fault", "clear": True})


def injected(control: str) -> dict[str, int]:
    return SimControl(control).request({"op": "fault"})["injected"]


def wait_ready(sim_name: str, control: str, interrupt: bool = False) -> None:
    """Until the cable is back (the registered pty exists), the board runs its firmware and its REPL is up.

    `interrupt`: stop what still runs first (Ctrl-C, then a pause, as every pytool session does): a sync cut off
    with the cable leaves the board reading the rest of a file's piece from its stdin, as any program waiting for
    input (bytes sent with the Ctrl-C would end up in that read).

    The REPL check does not interrupt anything (Ctrl-B: from the raw or the friendly REPL to the friendly prompt,
    read by the firmware only once its REPL runs): a Ctrl-C while the SIMULATED firmware boots
    interrupts its _boot.py before /flash is mounted (a real board mounts /flash in C, before any Python), which
    would make the next session see no /flash at all."""
    import serial

    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        record = next((r for r in registry.running() if r.name == sim_name), None)
        status = SimControl(control).status()
        if record is not None and record.pty and Path(record.pty).exists() and status["mode"] == "app":
            with contextlib.suppress(serial.SerialException, OSError), serial.Serial(record.pty, timeout=0.5) as port:
                if interrupt:
                    port.write(b"\r\x03")
                    time.sleep(0.3)
                port.write(b"\x02")
                seen = b""
                while time.monotonic() < deadline and not seen.endswith(b">>> "):
                    seen += port.read(port.in_waiting or 1)
                if seen.endswith(b">>> "):
                    return
        time.sleep(0.05)
    raise AssertionError(f"simulator {sim_name} did not come back within {WAIT_S} s")


def materialise(root: Path, files: dict[str, bytes]) -> Path:
    """Make `root` hold exactly `files`."""
    for path in sorted(root.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def run_sync(port: str, root: Path) -> BoardSession:
    """`pytool sync`'s plan + apply of the folder `root` (without device_lib); returns the closed session."""
    from pytool import config

    with BoardSession.connect(port) as board:
        sync.sync(board, sync.collect(config.load(root), include_device_lib=False))
    return board


def board_state(port: str) -> tuple[dict[str, str | None], dict, list[str]]:
    """(SHA-256 of every file under /flash, the manifest, leftover temp files), computed on the board."""
    with BoardSession.connect(port) as board:
        board.exec(sync.SYNC_HELPERS)
        assert board.eval("_pt_root") == "/flash", "the board has no /flash mounted"
        hashes = board.eval("dict((k, _pt_h(_pt_p(k))) for k in _pt_walk(_pt_root, _pt_root, []))")
        manifest = board.eval("dict(_pt_mit())")
        tmp = board.eval("os.listdir(_pt_root + '/.pytool/tmp') if _pt_isdir(_pt_root + '/.pytool/tmp') else []")
    return hashes, manifest, tmp


# ---- the project the sync fault tests put on the board: version 1, then version 2 (a sync cut midway may leave
# each file as either; ALLOWED lists the hashes each path may have, None = absent)

_RNG = random.Random(11)
V1 = {
    "main.py": b"import app\n",
    "app.py": b"def run():\n    return 1\n" * 30,
    "big.bin": _RNG.randbytes(24_000),  # incompressible: several exec round trips
    "gone.py": b"REMOVED_IN_V2 = True\n",
    "pkg/util.py": b"X = 1\n",
}
V2 = {
    "main.py": b"import app\n",
    "app.py": b"def run():\n    return 2\n" * 40,
    "big.bin": _RNG.randbytes(24_000),
    "new.py": b"ADDED_IN_V2 = True\n",
    "pkg/util.py": b"X = 2\n",
}
ALLOWED = {rel: {digest(V1[rel]) if rel in V1 else None, digest(V2[rel]) if rel in V2 else None} for rel in {*V1, *V2}}


def corrupt_files(port: str) -> tuple[int, list[str]]:
    """(files checked, problems): files on the board neither at V1 nor at V2, manifest entries naming neither hash."""
    files, manifest, _ = board_state(port)
    problems = [rel for rel, allowed in ALLOWED.items() if files.get(rel) not in allowed]
    if not isinstance(manifest, dict):
        return len(ALLOWED), [*problems, "manifest"]
    problems += [f"manifest:{rel}" for rel, sha in manifest.items() if sha not in ALLOWED.get(rel, set()) - {None}]
    return len(ALLOWED), problems


def at_v2(port: str) -> tuple[bool, list[str]]:
    """(the board holds exactly V2 and its manifest says so, leftover temp files)."""
    files, manifest, tmp = board_state(port)
    exact = {rel: files.get(rel) for rel in ALLOWED} == {
        rel: digest(V2[rel]) if rel in V2 else None for rel in ALLOWED
    } and manifest == {rel: digest(data) for rel, data in V2.items()}
    return exact, tmp
