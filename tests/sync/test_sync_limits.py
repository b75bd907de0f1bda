"""Sync of big and many (issue 16): a project that cannot fit is refused before the first byte, any number of files
syncs within a small board's heap, another project's files are removed only with --replace, `df` is never
negative."""

from __future__ import annotations

import random

import pytest
from support.flashed import sim_port

from pytool import config, sync
from pytool.board import BoardSession
from pytool.cli import run

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def lopy(tmp_path_factory):
    """A simulated LoPy4 (2.5 MB of MicroPython heap in PSRAM, 8 MB flash of which about 4 MB is /flash)."""
    with sim_port(tmp_path_factory, "limits", board="lopy4") as pty:
        yield pty


def _board_files(port: str) -> dict[str, str]:
    with BoardSession.connect(port) as board:
        board.exec(sync.SYNC_HELPERS)
        return board.eval("dict((k, _pt_h(_pt_p(k))) for k in _pt_walk(_pt_root, _pt_root, []))")


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_many_small_files_sync_in_batches_within_the_heap(lopy, tmp_path):
    project = tmp_path / "many"
    for i in range(600):
        path = project / f"d{i % 12:02d}" / f"f{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n")
    (project / "main.py").write_text("print('many')\n")
    with BoardSession.connect(lopy, timeout=60) as board:
        outcome = sync.sync_project(board, config.load(project), run_check=False)
        uploaded = outcome.result.uploaded
        assert "main.py" in uploaded and sum(rel.startswith("d") for rel in uploaded) == 600
        assert board.stats.round_trips > 5  # many execs, each within the heap
    with BoardSession.connect(lopy, timeout=60) as board:
        again = sync.sync_project(board, config.load(project), run_check=False)
        assert again.plan.empty and board.stats.round_trips == 1  # the manifest of 600+ files is read on the board
    on_board = _board_files(lopy)
    assert on_board["d03/f0123.txt"] == sync.sha256_hex(b"file 123\n")


def test_another_projects_files_are_removed_only_with_replace(lopy, tmp_path, capsys):
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    for project, name in ((alpha, "a"), (beta, "b")):
        project.mkdir()
        (project / "main.py").write_text(f"print({name!r})\n")
        (project / f"{name}_only.py").write_text("X = 1\n")
    assert run(["-p", lopy, "sync", str(alpha), "--replace", "--no-check"]) == 0
    capsys.readouterr()
    assert run(["-p", lopy, "sync", str(beta), "--no-check"]) == 2
    lines = _lines(capsys.readouterr().err)
    assert len(lines) == 1 and "the board holds project 'alpha'; syncing 'beta' would remove" in lines[0], lines
    assert "a_only.py" in lines[0] and "--replace" in lines[0]
    assert "a_only.py" in _board_files(lopy)  # nothing was changed
    assert run(["-p", lopy, "sync", str(beta), "--replace", "--no-check"]) == 0
    files = _board_files(lopy)
    assert "a_only.py" not in files and "b_only.py" in files


def test_a_project_bigger_than_the_free_space_is_refused_before_the_first_byte(lopy, tmp_path, capsys):
    project = tmp_path / "beta"  # the same project as above: only the free space is in the way
    project.mkdir()
    (project / "main.py").write_text("print('b')\n")
    (project / "b_only.py").write_text("X = 1\n")
    (project / "huge.bin").write_bytes(random.Random(5).randbytes(6 * 1024 * 1024))  # /flash is about 4 MB
    before = _board_files(lopy)
    assert run(["-p", lopy, "sync", str(project), "--no-check"]) == 1
    lines = _lines(capsys.readouterr().err)
    assert len(lines) == 1 and "not enough space on the board: the sync needs 6144 KB more" in lines[0], lines
    assert _board_files(lopy) == before
    with BoardSession.connect(lopy) as board:
        board.exec(sync.SYNC_HELPERS)
        assert board.eval("os.listdir(_pt_root + '/.pytool/tmp') if _pt_isdir(_pt_root + '/.pytool/tmp') else []") == []


def test_df_is_never_negative_even_when_the_board_miscounts(lopy, capsys):
    with BoardSession.connect(lopy) as board:
        total, free = board.df()
        assert 0 < free <= total
        board.exec(
            "import os\n_pt_sv = os.statvfs\nos.statvfs = lambda p: (4096, 4096, 100, 2**40, 2**40, 0, 0, 0, 0, 255)\n"
        )
        try:
            assert board.df() == (409600, 409600)  # more free blocks than blocks: the filesystem is counted as free
        finally:
            board.exec("os.statvfs = _pt_sv\n")


@pytest.mark.parametrize("lie", ["../../escape.py", "/etc/passwd", "a//b.py", "lib/./x.py"])
def test_a_manifest_naming_impossible_files_is_one_line_and_changes_nothing(lopy, tmp_path, capsys, lie):
    project = tmp_path / "liar"
    project.mkdir()
    (project / "main.py").write_text("print('liar')\n")
    assert run(["-p", lopy, "sync", str(project), "--replace", "--no-check"]) == 0
    with BoardSession.connect(lopy) as board:  # what a board's firmware or boot.py could make the manifest say
        board.exec(sync.SYNC_HELPERS)
        board.exec(f"_pt_jadd([(0, {lie!r}, '0' * 64)], [])\n")
    before = _board_files(lopy)
    capsys.readouterr()
    assert run(["-p", lopy, "sync", str(project), "--no-check"]) == 1
    lines = _lines(capsys.readouterr().err)
    assert len(lines) == 1 and f"the board's sync state lists {lie!r}" in lines[0], lines
    assert "pytool rm -r /flash/.pytool" in lines[0]
    assert _board_files(lopy) == before
    assert run(["-p", lopy, "rm", "-r", "/flash/.pytool"]) == 0  # the way out the line gives
    assert run(["-p", lopy, "sync", str(project), "--no-check"]) == 0
