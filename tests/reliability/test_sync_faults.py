"""A sync cut by the SIMULATOR at a random byte (the USB cable pulled, or the board resetting itself) never
leaves a half-written file: every file is its old or its new content (by hash), the manifest only ever names old
or new hashes of project files, and the next `pytool sync` completes and leaves board and manifest exact."""

from __future__ import annotations

import random

import pytest
from faultkit import arm, board_state, clear, digest, examples, injected, materialise, run_sync, wait_ready
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytool.errors import PytoolError

pytestmark = pytest.mark.timeout(600)

_rng = random.Random(11)
V1 = {
    "main.py": b"import app\n",
    "app.py": b"def run():\n    return 1\n" * 30,
    "big.bin": _rng.randbytes(24_000),  # incompressible: several exec round trips
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


def check_old_or_new(port: str, where: str) -> None:
    files, manifest, _ = board_state(port)
    for rel, allowed in ALLOWED.items():
        assert files.get(rel) in allowed, f"{rel} is neither old nor new after {where}"
    assert isinstance(manifest, dict)
    for rel, sha in manifest.items():
        assert rel in ALLOWED and sha in ALLOWED[rel] - {None}, f"manifest entry {rel} is wrong after {where}"


@settings(
    max_examples=examples(3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(fault=st.sampled_from(["cut", "reset"]), fraction=st.floats(min_value=0.0, max_value=0.999))
@example(fault="cut", fraction=0.6)
@example(fault="reset", fraction=0.9)
def test_sync_interrupted_by_the_board_side_leaves_old_or_new_files(sim, port, projects, fault, fraction):
    v1, v2, total = projects
    at = int(fraction * total)
    before = injected(sim.control).get(fault, 0)
    arm(sim.control, fault, after_bytes=at, **({"down_s": 0.2} if fault == "cut" else {}))
    try:
        run_sync(port, v2)
    except PytoolError as exc:
        assert "Traceback" not in str(exc)
    clear(sim.control)
    assert injected(sim.control).get(fault, 0) == before + 1, "the fault did not fire"
    wait_ready(sim.name, sim.control)
    check_old_or_new(port, f"a {fault} at host byte {at}/{total}")

    run_sync(port, v2)  # the next sync completes the job
    files, manifest, tmp = board_state(port)
    assert {rel: files.get(rel) for rel in ALLOWED} == {rel: digest(V2[rel]) if rel in V2 else None for rel in ALLOWED}
    assert manifest == {rel: digest(data) for rel, data in V2.items()} and tmp == []

    run_sync(port, v1)  # back to the starting point
