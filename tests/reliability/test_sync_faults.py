"""A sync cut by the SIMULATOR at a random byte (the USB cable pulled, or the board resetting itself) never
leaves a half-written file: every file is its old or its new content (by hash), the manifest only ever names old
or new hashes of project files, and the next `pytool sync` completes and leaves board and manifest exact."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.faults import (
    ALLOWED,
    V1,
    V2,
    arm,
    at_v2,
    board_state,
    clear,
    corrupt_files,
    digest,
    examples,
    failure_of,
    has_traceback,
    injected,
    materialise,
    record,
    run_sync,
    time_limit,
    wait_ready,
)

pytestmark = time_limit(600)


@pytest.fixture(scope="module")
def projects(sim, tmp_path_factory):
    """v1 and v2 project folders, the board at v1, and the host bytes a whole v1 -> v2 sync sends."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_STATE_DIR", str(sim.state))
        v1 = materialise(tmp_path_factory.mktemp("v1"), V1)
        v2 = materialise(tmp_path_factory.mktemp("v2"), V2)
        run_sync(sim.port, v1)
        total = run_sync(sim.port, v2).stats.tx
        run_sync(sim.port, v1)
    return v1, v2, total


@pytest.mark.parametrize("fault", ["cut", "reset"])
@settings(
    max_examples=examples(1),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(fraction=st.floats(min_value=0.0, max_value=0.999))
@example(fraction=0.6)
def test_sync_interrupted_by_the_board_side_leaves_old_or_new_files(sim, port, projects, fault, fraction):
    v1, v2, total = projects
    at = int(fraction * total)
    before = injected(sim.control).get(fault, 0)
    arm(sim.control, fault, after_bytes=at, **({"down_s": 0.2} if fault == "cut" else {}))
    message = failure_of(lambda: run_sync(port, v2))
    clear(sim.control)
    fired = injected(sim.control).get(fault, 0) - before
    wait_ready(sim.name, sim.control, interrupt=True)  # (a cut feed leaves the board in its read)
    checked, problems = corrupt_files(port)
    run_sync(port, v2)  # the next sync completes the job
    recovered, tmp = at_v2(port)
    record(
        f"sync-{fault}",
        injected=fired,
        recovered=int(recovered),
        files_checked=checked + len(ALLOWED),
        corrupt=len(problems),
        tracebacks=int(has_traceback(message)),
    )

    assert fired == 1, "the fault did not fire"
    assert not has_traceback(message), message
    assert problems == [], f"neither old nor new after a {fault} at host byte {at}/{total}: {problems}"
    assert recovered and tmp == []
    run_sync(port, v1)  # back to the starting point


def test_brownout_resets_the_board_like_an_esp32_and_the_next_sync_completes(sim, port, projects):
    """`brownout` after N bytes: the board resets with the ESP32's RTCWDT_BROWN_OUT_RESET; nothing is lost."""
    from pytool.sim import SimControl

    v1, v2, total = projects
    before = injected(sim.control).get("brownout", 0)
    arm(sim.control, "brownout", after_bytes=total // 2)
    # between two execs the session carries on on the rebooted board; within one, the sync fails
    message = failure_of(lambda: run_sync(port, v2))
    clear(sim.control)
    assert injected(sim.control).get("brownout", 0) - before == 1, "the fault did not fire"
    assert not has_traceback(message), message
    status = SimControl(sim.control).status()
    assert status["boot_reason"] == "0xf (RTCWDT_BROWN_OUT_RESET)"
    wait_ready(sim.name, sim.control)
    assert corrupt_files(port)[1] == []
    run_sync(port, v2)
    files, manifest, _ = board_state(port)
    assert {rel: files.get(rel) for rel in V2} == {rel: digest(data) for rel, data in V2.items()}
    assert manifest == {rel: digest(data) for rel, data in V2.items()}
    run_sync(port, v1)
