"""`pytool sync` on the smallest board: a simulated LoPy (512 KB RAM, about 60 KB of MicroPython heap) running
Pycom 1.20.1, whose uhashlib allows one active hash at a time. Chunks are sized to the heap; nothing runs out."""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest
from support.flashed import sim_port

from pytool import config, sync
from pytool.board import BoardSession

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    if __import__("os").environ.get("PYTOOL_SYNC_TEST_PORT"):
        pytest.skip("this module needs the simulated LoPy")
    with sim_port(tmp_path_factory, "smallboard", board="lopy", firmware="1.20.1") as pty:
        yield pty


def test_sync_fits_a_small_heap(port, tmp_path):
    (tmp_path / "main.py").write_text("print('hello')\n")
    (tmp_path / "blob.bin").write_bytes(random.Random(3).randbytes(30_000))  # several heap-sized chunks
    with BoardSession.connect(port) as board:
        caps = board.capabilities()
        assert (caps.sysname, caps.release, caps.hash_concurrent) == ("LoPy", "1.20.1", False)
        assert caps.chunk_size() < 8192 < caps.mem_free < 100_000
        done: list[int] = []
        outcome = sync.sync_project(board, config.load(tmp_path), progress=lambda sent, _total: done.append(sent))
        assert {"main.py", "blob.bin"} <= set(outcome.result.uploaded)
        pieces = [b - a for a, b in itertools.pairwise([0, *done])]
        assert len(pieces) > 3 and max(pieces) <= caps.chunk_size()  # the blob went in pieces the heap holds
    with BoardSession.connect(port) as board:
        board.cache_helpers = True  # the helpers as sync keeps them (the whole text in one exec is a big block)
        board.exec(board.helpers("sync", sync.SYNC_HELPERS))
        on_board = board.eval("_pt_h('/flash/blob.bin')")
        assert on_board == hashlib.sha256((tmp_path / "blob.bin").read_bytes()).hexdigest()
        again = sync.sync_project(board, config.load(tmp_path))
        assert again.plan.empty
