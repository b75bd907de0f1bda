"""A sync cut at any byte never leaves a partial or corrupt file on the board, and the next sync completes.

Hypothesis picks the byte at which the serial link dies (the port is closed mid-write, as when a cable is
pulled): anywhere in the plan, the uploads of several files (one spanning several exec round trips), the
manifest update, the renames and the deletion. The board may still be running the last exec it fully received,
and the next session's Ctrl-C may interrupt it anywhere: every file must then be exactly its old or its new
content (or absent, for a file that is new or deleted in this sync).
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.faults import materialise

from pytool import config, sync
from pytool.board import BoardSession
from pytool.errors import PytoolError

pytestmark = pytest.mark.timeout(300)

_rng = random.Random(8)
BIG_OLD = _rng.randbytes(40_000)  # incompressible: several exec round trips on any board
BIG_NEW = _rng.randbytes(40_000)
V1 = {
    "main.py": b"import app\n",
    "app.py": b"def run():\n    return 1\n" * 30,
    "big.bin": BIG_OLD,
    "gone.py": b"REMOVED_IN_V2 = True\n",
    "pkg/util.py": b"X = 1\n",
}
V2 = {
    "main.py": b"import app\n",
    "app.py": b"def run():\n    return 2\n" * 40,
    "big.bin": BIG_NEW,
    "new.py": b"ADDED_IN_V2 = True\n",
    "pkg/util.py": b"X = 2\n",
}


def run_sync(port: str, root: Path, kill_after: int | None = None) -> BoardSession:
    with BoardSession.connect(port) as board:
        board.wire.kill_after_tx = kill_after
        cfg = config.load(root)
        sync.sync(board, sync.collect(cfg, include_device_lib=False))
    return board


def board_state(port: str) -> tuple[dict[str, str], list[str]]:
    """(hash of every file under /flash, leftover temp files) computed on the board."""
    with BoardSession.connect(port) as board:
        board.exec(sync.SYNC_HELPERS)
        hashes = board.eval("dict((k, _pt_h(_pt_p(k))) for k in _pt_walk(_pt_root, _pt_root, []))")
        tmp = board.eval("os.listdir(_pt_root + '/.pytool/tmp') if _pt_isdir(_pt_root + '/.pytool/tmp') else []")
    return hashes, tmp


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def setup(port, tmp_path_factory):
    """Project folders for v1 and v2, and the bytes a full v1 -> v2 sync sends."""
    v1 = materialise(tmp_path_factory.mktemp("v1"), V1)
    v2 = materialise(tmp_path_factory.mktemp("v2"), V2)
    run_sync(port, v1)
    total = run_sync(port, v2).stats.tx
    run_sync(port, v1)
    return v1, v2, total


@settings(
    max_examples=int(os.environ.get("PYTOOL_SYNC_KILL_EXAMPLES", "4")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(fraction=st.floats(min_value=0.0, max_value=1.0))
@example(fraction=0.0)
@example(fraction=0.999)
def test_sync_killed_anywhere_leaves_old_or_new_files_and_the_next_sync_completes(port, setup, fraction):
    v1, v2, total = setup
    before, _ = board_state(port)
    assert all(before.get(rel) == digest(data) for rel, data in V1.items())

    kill_at = int(fraction * total)
    try:
        run_sync(port, v2, kill_after=kill_at)
        finished = True
    except PytoolError:
        finished = False
    after, _ = board_state(port)
    for rel in set(V1) | set(V2):
        allowed = {digest(V1[rel]) if rel in V1 else None, digest(V2[rel]) if rel in V2 else None}
        assert after.get(rel) in allowed, f"{rel} is neither old nor new after a cut at byte {kill_at}/{total}"
    assert set(after) - set(V1) - set(V2) == set(before) - set(V1)  # nothing else appeared or vanished
    if finished:
        assert all(after.get(rel) == digest(data) for rel, data in V2.items())

    run_sync(port, v2)  # the next sync completes the job
    done, tmp = board_state(port)
    assert all(done.get(rel) == digest(data) for rel, data in V2.items())
    assert "gone.py" not in done and tmp == []

    run_sync(port, v1)  # back to the starting point for the next example
