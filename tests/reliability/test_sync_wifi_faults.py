"""The sync-cut category over WiFi: `pytool sync --port telnet://...` (REPL over telnet, file bodies over FTP) with
the simulator dropping the WiFi link at a random byte of the client traffic ("wifi-drop": every client reset).
Every file stays its old or its new content, the manifest names only old or new hashes, the user sees one line,
and the next sync completes the job."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.faults import (
    ALLOWED,
    V1,
    V2,
    at_v2,
    corrupt_files,
    examples,
    failure_of,
    has_traceback,
    materialise,
    record,
    run_sync,
)
from support.wifi import telnet_port, wait_listening

from pytool.sim.control import SimControl

pytestmark = pytest.mark.timeout(900)


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
    wait_listening(telnet_port(rec))  # the firmware has booted and its server greets
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
    recovered, tmp = at_v2(port)
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
