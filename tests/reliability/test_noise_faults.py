"""Byte noise on the serial line (bits flipped, bytes lost, both directions, seeded): a sync either completes
with every file exact (by hash) or fails with one clear line; it never leaves a silently corrupted file. Once the
line is clean again, the next `pytool sync` completes and board and manifest are exact."""

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

pytestmark = time_limit(900)


@pytest.fixture(scope="module")
def projects(sim, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_STATE_DIR", str(sim.state))
        v1 = materialise(tmp_path_factory.mktemp("v1"), V1)
        v2 = materialise(tmp_path_factory.mktemp("v2"), V2)
        run_sync(sim.port, v1)
    return v1, v2


@settings(
    max_examples=examples(1),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@pytest.mark.parametrize("kind", ["flip", "drop"])
@given(
    direction=st.sampled_from(["host", "board", "both"]),
    rate=st.sampled_from([1e-5, 5e-5, 2e-4]),
    seed=st.integers(0, 2**32 - 1),
)
@example(direction="host", rate=2e-4, seed=1)
def test_noise_never_corrupts_a_file_silently(sim, port, projects, kind, direction, rate, seed):
    v1, v2 = projects
    present, _, _ = board_state(port)
    before = injected(sim.control).get(kind, 0)
    arm(sim.control, kind, repeat=True, rate=rate, seed=seed, direction=direction)
    try:
        message = failure_of(lambda: run_sync(port, v2))
    finally:
        clear(sim.control)
    hits = injected(sim.control).get(kind, 0) - before
    wait_ready(sim.name, sim.control, interrupt=True)  # (a garbled feed leaves the board in its read)
    files, manifest, _ = board_state(port)
    problems = [rel for rel, allowed in ALLOWED.items() if files.get(rel) not in allowed]
    if not message:  # the sync said it completed: every file must be exactly new
        problems += [rel for rel in V2 if files.get(rel) != digest(V2[rel])]
    stray = set(files) - set(ALLOWED) - set(present) - set(manifest)  # the next sync would not remove these

    run_sync(port, v2)  # a clean line: the next sync finishes the job
    recovered, tmp = at_v2(port)
    record(
        f"noise-{kind}",
        injected=hits,
        recovered=int(recovered),
        files_checked=2 * len(ALLOWED),
        corrupt=len(problems) + len(stray),
        tracebacks=int(has_traceback(message)),
    )

    assert not has_traceback(message) and "\n" not in message.strip(), message
    assert problems == [], f"{problems} corrupted by {hits} x {kind} ({direction}, seed {seed}): {message}"
    assert not stray, f"files {stray} appeared and the next sync would not remove them"
    assert recovered and tmp == []
    run_sync(port, v1)


def test_a_slow_line_delays_but_never_changes_a_byte(sim, port, projects):
    """`slow`: both directions paced to a few KB/s; the sync still completes and every file is exact."""
    v1, v2 = projects
    arm(sim.control, "slow", bytes_per_s=20_000)
    try:
        board = run_sync(port, v2)
    finally:
        clear(sim.control)
    files, manifest, tmp = board_state(port)
    assert board.stats.tx > 20_000  # long enough to have been paced
    assert {rel: files.get(rel) for rel in V2} == {rel: digest(data) for rel, data in V2.items()}
    assert manifest == {rel: digest(data) for rel, data in V2.items()} and tmp == []
    run_sync(port, v1)
