"""`pytool sync` against a simulated LoPy4 (Pycom 1.20.2.r4 on the real MicroPython interpreter, /flash on LittleFS).

One simulator for the module; each test starts from the state the previous one left, so every test first
brings the board to a known state with a sync of its own project.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from pytool import config, sync
from pytool.board import BoardSession
from pytool.errors import PytoolError
from pytool.paths import device_lib_dir

pytestmark = pytest.mark.timeout(120)

LIBS = sorted(f"lib/{p.name}" for p in device_lib_dir().glob("*.py"))


def write(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(
        root,
        {
            "main.py": "import app\napp.run()\n",
            "app.py": "def run():\n    return 'ok'\n" + "# padding line for compression\n" * 50,
            "drivers/sensor.py": "VALUE = 42\n",
            "data/table.bin": bytes(range(256)) * 8,
            "README.md": "docs stay on the host\n",
            "tests/test_app.py": "def test():\n    pass\n",
            "build/out.txt": "ignored by .gitignore\n",
            ".gitignore": "build/\n",
            "pytool.toml": 'ignore = ["*.md"]\n',
        },
    )
    return root


def do_sync(port: str, root: Path, **kwargs) -> tuple[sync.SyncOutcome, BoardSession]:
    with BoardSession.connect(port) as board:
        outcome = sync.sync_project(board, config.load(root), **kwargs)
    return outcome, board


def board_hashes(port: str) -> dict[str, str]:
    """SHA-256 of every file under /flash (outside pytool's own .pytool folder), computed on the board."""
    with BoardSession.connect(port) as board:
        board.exec(sync.SYNC_HELPERS)
        return board.eval("dict((k, _pt_h(_pt_p(k))) for k in _pt_walk(_pt_root, _pt_root, []))")


def local_hashes(root: Path, rels: list[str]) -> dict[str, str]:
    return {rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in rels}


PROJECT_FILES = ["app.py", "data/table.bin", "drivers/sensor.py", "main.py"]


def wipe(port: str) -> None:
    """Empty /flash (its lib/, sys/ and cert/ folders stay, empty) as on a freshly formatted board."""
    with BoardSession.connect(port) as board:
        board.exec(
            "for n in os.listdir(_pt_root):\n"
            " p = _pt_root + '/' + n\n"
            " if n in ('lib', 'sys', 'cert'):\n"
            "  [_pt_rm(p + '/' + m) for m in os.listdir(p)]\n"
            " else:\n"
            "  _pt_rm(p)\n"
        )


def test_first_sync_uploads_all_and_second_moves_nothing_in_one_round_trip(port, tmp_path):
    wipe(port)
    root = project(tmp_path)
    first, _ = do_sync(port, root)
    assert sorted(first.result.uploaded) == sorted(PROJECT_FILES + LIBS)
    assert first.caps.flavour == "pycom" and first.caps.release == "1.20.2.r4" and first.caps.root == "/flash"
    on_board = board_hashes(port)
    assert {k: on_board[k] for k in PROJECT_FILES} == local_hashes(root, PROJECT_FILES)
    for rel in LIBS:
        assert on_board[rel] == hashlib.sha256((device_lib_dir() / rel[4:]).read_bytes()).hexdigest()
    assert not {"README.md", "tests/test_app.py", "build/out.txt", "pytool.toml", ".gitignore"} & set(on_board)

    second, board = do_sync(port, root)
    assert second.result.uploaded == [] and second.result.deleted == []
    assert second.result.payload_bytes == 0 and second.result.encoded_bytes == 0
    assert board.stats.round_trips == 1  # probe + plan in one exec, nothing else
    assert board.stats.tx < 1024  # helpers cached on the board, one tree key: a few hundred bytes in all
    assert second.plan.empty


def test_python_source_goes_compressed(port, tmp_path):
    root = project(tmp_path)
    do_sync(port, root)
    (root / "app.py").write_text("def run():\n    return 'changed'\n" + "# more padding for compression\n" * 200)
    outcome, _ = do_sync(port, root)
    assert outcome.result.uploaded == ["app.py"] and outcome.result.compressed
    assert outcome.result.encoded_bytes < 0.5 * outcome.result.payload_bytes


def test_binary_goes_as_its_bytes_with_those_the_firmware_acts_on_escaped(port, tmp_path):
    root = tmp_path / "proj"  # (the other tests' project: its files go)
    write(root, {"crlf.py": "x = 1\r\ny = '\x1b'\r\n" * 300})
    do_sync(port, root)
    noise = random.Random(5).randbytes(12_000) + b"\x1b[\x1bM\x1b\x1b\x03\x06\r\n\x1bC\x04\x01\x02\x00\x1b"
    write(root, {"noise.bin": noise})
    outcome, board = do_sync(port, root)
    assert outcome.result.uploaded == ["noise.bin"] and outcome.result.payload_bytes == len(noise)
    # 9 byte values of 256 go as two bytes: 3.5 % more on the wire, where base64 costs 33 % more
    assert len(noise) < outcome.result.encoded_bytes < len(noise) * 1.05
    assert board.stats.tx < len(noise) * 1.1
    on_board = board_hashes(port)
    assert on_board["noise.bin"] == hashlib.sha256(noise).hexdigest()
    assert on_board["crlf.py"] == hashlib.sha256((root / "crlf.py").read_bytes()).hexdigest()


def test_changed_file_is_the_only_one_sent(port, tmp_path):
    root = project(tmp_path)
    do_sync(port, root)
    (root / "drivers/sensor.py").write_text("VALUE = 43\n")
    outcome, _ = do_sync(port, root)
    assert outcome.result.uploaded == ["drivers/sensor.py"]
    assert outcome.result.payload_bytes == len("VALUE = 43\n")
    assert board_hashes(port)["drivers/sensor.py"] == hashlib.sha256(b"VALUE = 43\n").hexdigest()


def test_deleted_file_is_removed_and_files_pytool_never_deployed_stay(port, tmp_path):
    root = project(tmp_path)
    do_sync(port, root)
    with BoardSession.connect(port) as board:
        board.exec("f = open('/flash/user.txt', 'w')\nf.write('mine')\nf.close()\n")
    (root / "drivers/sensor.py").unlink()
    outcome, _ = do_sync(port, root)
    assert outcome.result.deleted == ["drivers/sensor.py"] and outcome.result.uploaded == []
    on_board = board_hashes(port)
    assert "drivers/sensor.py" not in on_board and "user.txt" in on_board
    with BoardSession.connect(port) as board:
        assert board.stat("/flash/drivers") is None  # the folder pytool emptied is gone too
        assert board.stat("/flash/lib")[0]  # firmware folders stay

    dry, _ = do_sync(port, root, mirror=True, dry_run=True)
    assert dry.plan.delete == ["user.txt"]
    assert "user.txt" in board_hashes(port)  # a dry run changes nothing
    mirrored, _ = do_sync(port, root, mirror=True)
    assert set(board_hashes(port)) == set(PROJECT_FILES + LIBS) - {"drivers/sensor.py"}
    assert "user.txt" in mirrored.result.deleted


def test_check_refuses_before_anything_changes(port, tmp_path):
    root = project(tmp_path)
    do_sync(port, root)
    (root / "app.py").write_text('def run():\n    return f"{1}"\n')
    with pytest.raises(PytoolError, match=r"found 1 error") as caught:
        do_sync(port, root)
    assert [d.split(": error")[0] for d in caught.value.details] == ["app.py:2"]  # each finding on its own line
    assert board_hashes(port)["app.py"] != hashlib.sha256((root / "app.py").read_bytes()).hexdigest()
    outcome, _ = do_sync(port, root, run_check=False)
    assert outcome.result.uploaded == ["app.py"]


def test_mpy_precompiles_modules_but_not_main(port, tmp_path):
    root = project(tmp_path)
    do_sync(port, root)
    outcome, _ = do_sync(port, root, mpy=True)
    assert set(outcome.result.uploaded) == {"app.mpy", "drivers/sensor.mpy", *(r[:-3] + ".mpy" for r in LIBS)}
    assert set(outcome.result.deleted) == {"app.py", "drivers/sensor.py", *LIBS}
    with BoardSession.connect(port) as board:  # bytecode v4 = MicroPython 1.11, what Pycom 1.20 firmware loads
        # (the simulator's interpreter is a current MicroPython, so it cannot import these: not tried here)
        assert board.read_file("/flash/app.mpy")[:2] == b"M\x04"
        assert board.stat("/flash/app.py") is None
    do_sync(port, root)  # back to source


def test_cli_json_summary_and_pymakr_conf(port, tmp_path):
    root = project(tmp_path)
    (root / "pytool.toml").unlink()
    (root / "pymakr.conf").write_text(json.dumps({"py_ignore": ["README.md"], "reboot_after_upload": False}))
    proc = subprocess.run(
        [sys.executable, "-m", "pytool", "--json", "-p", port, "sync", str(root)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["ok"] and summary["board"] == "Pycom 1.20.2.r4 (LoPy4)"
    assert summary["round_trips"] >= 1 and summary["wire_tx"] > 0
    assert summary["config"] == "pymakr.conf"
    assert "README.md" not in board_hashes(port)


def test_a_board_that_cannot_store_the_helper_file_gets_them_with_the_code(port, tmp_path, monkeypatch):
    root = project(tmp_path)
    with BoardSession.connect(port) as board:  # no cached helper file on the board
        board.exec("for n in os.listdir('/flash/.pytool'):\n if n[0] == 'h':\n  os.remove('/flash/.pytool/' + n)\n")
    monkeypatch.setattr(BoardSession, "_store_helpers", lambda self, name, text: None)  # as if /flash were full
    (root / "app.py").write_text("def run():\n    return 'fallback'\n")
    with BoardSession.connect(port) as board:
        outcome = sync.sync_project(board, config.load(root), run_check=False)
        assert "app.py" in outcome.result.uploaded
    with BoardSession.connect(port) as board:
        assert board.exec("print([n for n in os.listdir('/flash/.pytool') if n[0] == 'h'])\n").strip() == b"[]"
    assert board_hashes(port)["app.py"] == hashlib.sha256(b"def run():\n    return 'fallback'\n").hexdigest()


def raw_exec(port: str, code: str) -> bytes:
    """Run `code` with mpremote's own transport (no pytool helpers, no soft reset): the board's state as it is."""
    from mpremote.transport_serial import SerialTransport

    transport = SerialTransport(port, baudrate=115200)
    try:
        transport.enter_raw_repl(soft_reset=False)
        out = transport.exec(code)
        transport.exit_raw_repl()
    finally:
        transport.close()
    return out


HELPER_FILES = "print([n for n in os.listdir('/flash/.pytool') if n[0] == 'h'])"
DROP_HELPER_FILES = (
    "import os\nfor n in os.listdir('/flash/.pytool'):\n if n[0] == 'h':\n  os.remove('/flash/.pytool/' + n)\n"
)


def test_helpers_the_board_still_holds_are_not_loaded_again_until_another_session_redefines_them(port, tmp_path):
    root = project(tmp_path)
    do_sync(port, root, run_check=False)  # a cached session: the board holds its helper set now
    raw_exec(port, DROP_HELPER_FILES)
    (root / "app.py").write_text("def run():\n    return 'resident'\n")
    outcome, _ = do_sync(port, root, run_check=False)  # the helpers in RAM serve: the file is neither read...
    assert outcome.result.uploaded == ["app.py"]
    assert raw_exec(port, HELPER_FILES).strip() == b"[]"  # ...nor stored again
    redefine = {
        "a session without the cache (pytool exec, ls, ...) sends its own prelude": None,
        "another pytool version's prelude (it leaves _pt_v alone)": "def _pt_out(v, k='@@pt:'):\n print(k + repr(v))\n",
    }
    for step, (why, code) in enumerate(redefine.items()):
        do_sync(port, root, run_check=False)  # nothing to upload: the board holds this pytool's helper set
        if code is None:
            with BoardSession.connect(port) as board:
                board.exec("pass\n")
        else:
            raw_exec(port, code)
        raw_exec(port, DROP_HELPER_FILES)
        content = f"def run():\n    return {step}\n"
        (root / "app.py").write_text(content)
        outcome, _ = do_sync(port, root, run_check=False)  # must load the file again: it is missing, so it is stored
        assert outcome.result.uploaded == ["app.py"], why
        assert raw_exec(port, HELPER_FILES).strip().startswith(b"['h"), why
    assert board_hashes(port)["app.py"] == hashlib.sha256(content.encode()).hexdigest()
