"""Sync of many files on the smallest board (issue 16): a simulated LoPy (512 KB RAM, 67 KB MicroPython heap, Pycom
1.20.1, one active hash at a time) with a FAT /flash (512-byte clusters: a few hundred small files fit). A dict of
every manifest entry does not fit that heap at 400 files (the code before the streamed manifest failed here with
MemoryError, in the first sync's last exec and in every plan after it); the streamed plan and the run merge of the
journal keep the board's memory to one chunk."""

from __future__ import annotations

import contextlib
import time

import pytest
from support.flashed import sim_port

from pytool import config, sync
from pytool.board import BoardSession
from pytool.errors import PytoolError

pytestmark = pytest.mark.timeout(300)

FILES = 400


@pytest.fixture(scope="module")
def lopy(tmp_path_factory):
    """A simulated LoPy whose /flash was switched to FAT the Pycom way (pycom.bootmgr, then a reset)."""
    if __import__("os").environ.get("PYTOOL_SYNC_TEST_PORT"):
        pytest.skip("this module needs the simulated LoPy")
    with sim_port(tmp_path_factory, "manyfiles", board="lopy", firmware="1.20.1") as pty:
        with BoardSession.connect(pty) as board:
            board.exec("import pycom\npycom.bootmgr(fs_type=pycom.FAT)\n")
            with contextlib.suppress(PytoolError):  # the board may reboot before it acknowledges the code
                board.hard_reset()
        deadline = time.monotonic() + 60
        while True:  # the board boots again and formats its FAT /flash
            try:
                with BoardSession.connect(pty) as board:
                    assert board.eval("__import__('pycom').bootmgr()[1]") == "FAT"
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield pty


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    for i in range(FILES):
        path = root / f"d{i % 10}" / f"m{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"X = {i}\n")
    (root / "main.py").write_text("print('many')\n")
    return root


def _sync(port: str, root, **options):
    with BoardSession.connect(port, timeout=60) as board:
        outcome = sync.sync_project(board, config.load(root), run_check=False, **options)
        return outcome, board.stats


#: (lines, sorted?, the journal's stat) of the board's manifest, read a line at a time (a list would not fit the heap)
COUNT_MANIFEST = """
def _t():
 n = 0
 p = ''
 ok = True
 for k, h in _pt_mit():
  n += 1
  ok = ok and k > p
  p = k
 return n, ok, _pt_st(_pt_root + '/.pytool/journal')
"""


def _on_board(port: str, expression: str, setup: str = ""):
    with BoardSession.connect(port) as board:
        board.cache_helpers = True
        board.exec(board.helpers("sync", sync.SYNC_HELPERS) + setup)
        return board.eval(expression)


def test_first_and_no_change_sync_of_400_files_fit_a_67_kb_heap(lopy, project):
    total = len(sync.collect(config.load(project)))  # the project and pytool's device_lib
    assert total > FILES
    first, _ = _sync(lopy, project)
    assert len(first.result.uploaded) == total
    again, stats = _sync(lopy, project)
    assert again.plan.empty and not again.plan.upload and not again.plan.delete
    assert stats.round_trips == 1  # one exec: the board streamed its manifest and hashed every file
    assert stats.rx < 1500  # no chunk came back: every chunk key matched
    # the manifest is sorted text, merged from the journal (no journal left), one line per file
    count, ordered, journal = _on_board(lopy, "_t()", COUNT_MANIFEST)
    assert (count, ordered, journal) == (total, True, None)
    assert _on_board(lopy, "_pt_h(_pt_p('d3/m0123.py'))") == sync.sha256_hex(b"X = 123\n")


def test_an_incremental_sync_sends_back_only_the_chunks_that_differ(lopy, project):
    _sync(lopy, project)
    (project / "d5" / "m0205.py").write_text("X = 'changed'\n")
    (project / "d7" / "m0397.py").unlink()
    (project / "d9" / "new.py").write_text("NEW = 1\n")
    _on_board(lopy, "open(_pt_p('d1/m0011.py'), 'w').write(\"X = 'on board'\\n\")")  # changed behind pytool's back
    plan_only, stats = _sync(lopy, project, dry_run=True)
    assert [f.rel for f in plan_only.plan.upload] == ["d1/m0011.py", "d5/m0205.py", "d9/new.py"]
    assert plan_only.plan.delete == ["d7/m0397.py"]
    assert len(plan_only.plan.unchanged) == len(sync.collect(config.load(project))) - 3
    assert stats.rx < 8000  # the chunks (32 entries each) holding a difference came back, not 16 KB of manifest
    done, _ = _sync(lopy, project)
    assert sorted(done.result.uploaded) == ["d1/m0011.py", "d5/m0205.py", "d9/new.py"]
    assert done.result.deleted == ["d7/m0397.py"]
    again, _ = _sync(lopy, project)
    assert again.plan.empty
    assert _on_board(lopy, "_pt_st(_pt_p('d7/m0397.py'))") is None
    assert _on_board(lopy, "_pt_h(_pt_p('d1/m0011.py'))") == sync.sha256_hex(b"X = 11\n")


def test_mirror_lists_every_board_file_in_chunks(lopy, project):
    _sync(lopy, project)
    _on_board(lopy, "open(_pt_p('stray.txt'), 'w').write('stray\\n')")  # not pytool's: only --mirror removes it
    assert _sync(lopy, project)[0].plan.empty
    mirrored, _ = _sync(lopy, project, mirror=True)
    assert "stray.txt" in mirrored.result.deleted  # (with the boot.py the firmware put on the fresh filesystem)
    assert not any(rel.startswith("d") for rel in mirrored.result.deleted)
    assert _on_board(lopy, "_pt_st(_pt_p('stray.txt'))") is None


def test_a_journal_of_many_runs_merges_into_the_sorted_manifest(lopy):
    """An interrupted sync leaves a journal; unsorted runs (and a manifest in an older, unsorted layout) are merged
    with later lines winning, folding runs through a temp file when there are more than 8."""
    expected = {f"j/{i:03d}.py": f"{i:064x}" for i in range(60)}  # the manifest, written in descending order
    for i in range(0, 60, 3):  # the journal: 20 runs of rewrite, remove, add
        expected[f"j/{i:03d}.py"] = f"{i + 1000:064x}"
        del expected[f"j/{i + 1:03d}.py"]
        expected[f"j/{i:03d}x.py"] = f"{i + 2000:064x}"
    with BoardSession.connect(lopy) as board:
        board.cache_helpers = True
        board.exec(board.helpers("sync", sync.SYNC_HELPERS))
        board.exec("os.rename(_pt_mfile(), _pt_mfile() + '.keep')\n")
        try:
            board.exec(
                "f = open(_pt_mfile(), 'w')\n"
                "for i in range(59, -1, -1):\n f.write('%064x j/%03d.py\\n' % (i, i))\n"
                "f.close()\n"
                "f = open(_pt_root + '/.pytool/journal', 'w')\n"
                "for i in range(0, 60, 3):\n"
                " f.write('%064x j/%03d.py\\n- j/%03d.py\\n%064x j/%03dx.py\\n' % (i + 1000, i, i + 1, i + 2000, i))\n"
                "f.write('%064x j/00' % 5)\n"  # a line cut by the interruption (no newline): ignored
                "f.close()\n"
            )
            merged = board.query_all("for k, h in _pt_mit():\n _pt_out((k, h))\n")
            left = board.eval("[n for n in os.listdir(_pt_root + '/.pytool') if n[0] in 'jm' and n[:8] != 'manifest']")
        finally:
            board.exec("os.remove(_pt_mfile())\nos.rename(_pt_mfile() + '.keep', _pt_mfile())\n")
    assert merged == sorted(expected.items())
    assert left == []


def test_another_small_projects_plan_streams_the_big_one_in_pieces(lopy, project, tmp_path):
    """One host chunk against 400 board files (the issue's 'even another project's --dry-run failed'): the board
    sends its files as each 100 fill up instead of holding them all."""
    _sync(lopy, project)
    other = tmp_path / "other"
    other.mkdir()
    (other / "main.py").write_text("print('other')\n")
    dry, _ = _sync(lopy, other, dry_run=True)
    assert [f.rel for f in dry.plan.upload] == ["main.py"]
    assert len([rel for rel in dry.plan.delete if rel.startswith("d")]) == FILES
    assert dry.plan.board_project == project.name


def test_a_manifest_in_the_first_json_layout_is_read(lopy):
    """Boards synced by the first pytool hold the manifest as one JSON object: it is converted, not lost."""
    old = {"z.py": "1" * 64, "a/b.py": "2" * 64, "m.py": "3" * 64}
    with BoardSession.connect(lopy) as board:
        board.cache_helpers = True
        board.exec(board.helpers("sync", sync.SYNC_HELPERS))
        board.exec("os.rename(_pt_mfile(), _pt_mfile() + '.keep')\n")
        try:
            board.exec(f"f = open(_pt_mfile(), 'w')\nf.write({__import__('json').dumps(old)!r})\nf.close()\n")
            merged = board.query_all("for k, h in _pt_mit():\n _pt_out((k, h))\n")
        finally:
            board.exec("os.remove(_pt_mfile())\nos.rename(_pt_mfile() + '.keep', _pt_mfile())\n")
    assert merged == sorted(old.items())
