"""The sync-cut category over WiFi: `pytool sync --port telnet://...` (REPL over telnet, file bodies over FTP) with
the simulator dropping the WiFi link at a random byte of the client traffic ("wifi-drop": every client reset).
Every file stays its old or its new content, the manifest names only old or new hashes, the user sees one line,
and the next sync completes the job."""

from __future__ import annotations

import contextlib
import random
import socket
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.faults import board_state, digest, examples, failure_of, has_traceback, materialise, record, run_sync

from pytool.sim.control import SimControl

pytestmark = pytest.mark.timeout(900)

_rng = random.Random(22)
V1 = {
    "main.py": b"import app\n",
    "app.py": b"def run():\n    return 1\n" * 30,
    "big.bin": _rng.randbytes(24_000),
    "gone.py": b"REMOVED_IN_V2 = True\n",
    "pkg/util.py": b"X = 1\n",
}
V2 = {
    "main.py": b"import app\n",
    "app.py": b"def run():\n    return 2\n" * 40,
    "big.bin": _rng.randbytes(24_000),
    "new.py": b"ADDED_IN_V2 = True\n",
    "pkg/util.py": b"X = 2\n",
}
ALLOWED = {rel: {digest(V1[rel]) if rel in V1 else None, digest(V2[rel]) if rel in V2 else None} for rel in {*V1, *V2}}


def wifi_status(control: str) -> dict:
    return SimControl(control).request({"op": "wifi-drop"})


@pytest.fixture(scope="module")
def wifi(sim) -> str:
    """The board's telnet URL, once its server answers."""
    from pytool.sim import registry

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_STATE_DIR", str(sim.state))
        rec = registry.find(sim.name)
    assert rec.wifi, "the simulated Pycom board has no WiFi servers"
    port = int(rec.wifi["telnet"].rsplit(":", 1)[1])
    deadline = time.monotonic() + 60
    while True:  # until the firmware has booted and its server greets (the probe leaves at once)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as probe:
            probe.settimeout(5)
            if probe.recv(100).startswith(b"MicroPython"):
                break
        assert time.monotonic() < deadline, "the board's telnet server did not come up"
        time.sleep(0.2)
    time.sleep(0.6)
    return rec.wifi["telnet"]


@pytest.fixture(scope="module")
def projects(sim, wifi, tmp_path_factory):
    """v1 and v2 project folders, the board at v1, and the client bytes a whole v1 -> v2 sync over WiFi sends."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_STATE_DIR", str(sim.state))
        v1 = materialise(tmp_path_factory.mktemp("v1"), V1)
        v2 = materialise(tmp_path_factory.mktemp("v2"), V2)
        _settled(lambda: run_sync(wifi, v1))
        before = wifi_status(sim.control)["received"]
        _settled(lambda: run_sync(wifi, v2))
        total = wifi_status(sim.control)["received"] - before
        _settled(lambda: run_sync(wifi, v1))
    return v1, v2, total


def _settled(action):
    result = action()
    time.sleep(0.3)  # the board notices the session has gone (one telnet client at a time)
    return result


def corrupt_files(port: str) -> tuple[int, list[str]]:
    files, manifest, _ = board_state(port)
    problems = [rel for rel, allowed in ALLOWED.items() if files.get(rel) not in allowed]
    if not isinstance(manifest, dict):
        return len(ALLOWED), [*problems, "manifest"]
    problems += [f"manifest:{rel}" for rel, sha in manifest.items() if sha not in ALLOWED.get(rel, set()) - {None}]
    return len(ALLOWED), problems


@settings(
    max_examples=examples(2),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(fraction=st.floats(min_value=0.0, max_value=0.999))
@example(fraction=0.6)
def test_sync_over_wifi_cut_at_a_random_byte_leaves_old_or_new_files(sim, port, wifi, projects, fraction):
    v1, v2, total = projects
    at = max(1, int(fraction * total))
    control = SimControl(sim.control)
    before = wifi_status(sim.control)["drops"]
    control.request({"op": "wifi-drop", "after": at})
    message = failure_of(lambda: run_sync(wifi, v2))
    fired = control.request({"op": "wifi-drop", "after": None})["drops"] - before
    time.sleep(0.5)  # what the board was running when the link went finishes on its own
    checked, problems = corrupt_files(port)  # over the serial port: the same /flash
    _settled(lambda: run_sync(wifi, v2))  # the next sync completes the job
    files, manifest, tmp = board_state(port)
    recovered = {rel: files.get(rel) for rel in ALLOWED} == {
        rel: digest(V2[rel]) if rel in V2 else None for rel in ALLOWED
    } and manifest == {rel: digest(data) for rel, data in V2.items()}
    record(
        "sync-wifi-cut",
        injected=fired,
        recovered=int(recovered),
        files_checked=checked + len(ALLOWED),
        corrupt=len(problems),
        tracebacks=int(has_traceback(message)),
    )

    assert fired == 1, "the link was not cut"
    assert message and "\n" not in message and not has_traceback(message), message
    assert problems == [], f"neither old nor new after a WiFi cut at client byte {at}/{total}: {problems}"
    assert recovered and tmp == []
    _settled(lambda: run_sync(wifi, v1))  # back to the starting point
