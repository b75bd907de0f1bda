"""A board whose `os.listdir`/`os.stat` lie (any firmware or boot.py can) never makes pytool write outside the folder
it downloads into: every name is checked before the first byte is written."""

from __future__ import annotations

import pytest

from pytool.board import BoardSession
from pytool.errors import PytoolError
from pytool.transfer import get, put

pytestmark = pytest.mark.timeout(120)

LIE = r"""
import os
_pt_real_listdir, _pt_real_stat = os.listdir, os.stat
def _pt_lying_listdir(p='/'):
    names = _pt_real_listdir(p)
    return names + [{lie!r}] if p == '/flash/lie' else names
def _pt_lying_stat(p):
    return (0x8000, 0, 0, 0, 0, 0, 5, 0, 0, 0) if {lie!r} in p else _pt_real_stat(p)
os.listdir, os.stat = _pt_lying_listdir, _pt_lying_stat
"""
RESTORE = "os.listdir, os.stat = _pt_real_listdir, _pt_real_stat\n"


@pytest.mark.parametrize(
    "lie",
    ["../../../../escaped.txt", "..", "sub/../../escaped.txt", "a\\..\\..\\escaped.txt", "x" * 300, "c:escaped.txt"],
)
def test_get_refuses_a_listing_that_leads_out_of_the_target(port, tmp_path, lie):
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.txt").write_text("real\n")
    dest = tmp_path / "deep" / "er" / "dest"
    dest.mkdir(parents=True)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with BoardSession.connect(port) as board:
        put(board, src, "/flash/lie")
        board.exec(LIE.format(lie=lie))
        try:
            names = [entry for entry, _ in board.listdir("/flash/lie")]
            assert "/flash/lie/" + lie in names  # the board does lie
            with pytest.raises(PytoolError, match="nothing was written"):
                get(board, "/flash/lie", dest)
        finally:
            board.exec(RESTORE)
            board.remove("/flash/lie", recursive=True)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not list(tmp_path.parent.glob("escaped.txt")) and not (tmp_path / "escaped.txt").exists()
