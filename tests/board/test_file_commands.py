"""The commands mpremote users type (cp, tree, sha256sum, eval, touch, rmdir), `+` chains on one session, and
progress bars on a terminal, against a simulated LoPy4."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys

import pytest
from support.cli import run_text as pytool

from pytool.board import BoardSession
from pytool.console import options

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _reset_cli_options():
    yield
    options.json, options.debug = False, False


def test_cp_both_directions_recursively_and_on_the_board(port, tmp_path, capsys):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.py").write_bytes(b"A = 1\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 3)
    code, out, err = pytool(capsys, "-p", port, "--json", "cp", "-r", str(src), ":cptree")
    assert code == 0, err
    assert sorted(json.loads(out)["files"]) == ["/flash/cptree/a.py", "/flash/cptree/sub/b.bin"]

    code, _, err = pytool(capsys, "-p", port, "cp", ":cptree/a.py", ":cptree/copy.py")  # on the board
    assert code == 0, err
    code, out, err = pytool(capsys, "-p", port, "--json", "cp", "-r", ":cptree/sub", ":cptree/sub2")
    assert json.loads(out) == {"ok": True, "files": ["/flash/cptree/sub2"], "count": 1, "bytes": 0}, err
    back = tmp_path / "back"
    back.mkdir()
    code, _, err = pytool(capsys, "-p", port, "cp", "-r", ":cptree", str(back))
    assert code == 0, err
    assert (back / "cptree" / "copy.py").read_bytes() == b"A = 1\n"
    assert (back / "cptree" / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 3
    assert (back / "cptree" / "sub2" / "b.bin").read_bytes() == bytes(range(256)) * 3
    code, _, err = pytool(capsys, "-p", port, "cp", str(src / "a.py"), str(src / "sub" / "b.bin"), ":cpmany")
    assert code == 0, err
    with BoardSession.connect(port) as board:
        assert board.read_file("cpmany/a.py") == b"A = 1\n"
        assert board.stat("cpmany/b.bin") == (False, 768)


def test_board_file_commands_and_uploads_share_one_session(port, tmp_path, capsys):
    """The file commands' helpers (touch, rmdir, cp on the board) and the upload reader live side by side on the
    board: a copy on the board, then an upload, in one `cp`, and a chain of rmdir then put."""
    (tmp_path / "up.py").write_bytes(b"UP = 1\n" * 200)
    assert pytool(capsys, "-p", port, "put", str(tmp_path / "up.py"), "share/one.py")[0] == 0
    code, _, err = pytool(capsys, "-p", port, "cp", ":share/one.py", str(tmp_path / "up.py"), ":share/both/")
    assert code == 0, err
    code, _, err = pytool(capsys, "-p", port, "mkdir", "share/gone")
    assert code == 0, err
    code, _, err = pytool(
        capsys, "-p", port, "rmdir", ":share/gone", "+", "put", str(tmp_path / "up.py"), "share/after.py"
    )
    assert code == 0, err
    with BoardSession.connect(port) as board:
        assert board.read_file("share/both/one.py") == b"UP = 1\n" * 200
        assert board.read_file("share/both/up.py") == b"UP = 1\n" * 200
        assert board.read_file("share/after.py") == b"UP = 1\n" * 200
        assert board.stat("share/gone") is None


def test_a_hash_left_unfinished_on_the_board_is_named_and_a_reset_clears_it(port, capsys):
    """Pycom's uhashlib allows one hash at a time until a digest or a hard reset (moduhashlib.c): a program that
    dropped a hasher blocks every later one. pytool still connects (its probe survives it), says what to do, and
    works again after `pytool reset`."""
    with BoardSession.connect(port) as board:
        board.exec("import uhashlib\n_left = uhashlib.sha256(b'never digested')\n")
    code, out, err = pytool(capsys, "-p", port, "eval", "6 * 7")
    assert (code, out) == (0, "42\n"), err  # the session's first exec (with the capability probe) runs
    code, _, err = pytool(capsys, "-p", port, "sha256sum", ":boot.py")
    assert code == 1 and "only one active hash operation" in err and "`pytool reset`" in err, err
    assert err.startswith("Error:") and err.count("\n") == 1 and "Traceback" not in err, err  # one line
    assert pytool(capsys, "-p", port, "reset")[0] == 0
    code, out, err = pytool(capsys, "-p", port, "sha256sum", ":boot.py")
    assert code == 0 and out.endswith("  /flash/boot.py\n"), err


@pytest.mark.parametrize(
    ("argv", "message", "exit_code"),
    [
        (["cp", "a", "b"], "neither a nor b is on the board", 2),
        (["cp", "nothere.py", ":"], "nothere.py does not exist", 2),
        (["cp", ":nothere.py", "."], "/flash/nothere.py: no such file or folder on the board", 2),
        (["cp", ":lib", "."], "/flash/lib is a folder - copy folders with `pytool cp -r`", 2),
        (["cp", "-r", ":lib", ":lib/inner"], "cannot copy /flash/lib onto or into itself", 2),
        (["rmdir", ":nothere"], "/flash/nothere: no such folder on the board", 2),
        (["rmdir", "boot.py"], "/flash/boot.py is a file, not a folder", 2),
        (["touch", ":lib"], "/flash/lib is a folder", 2),
        (["touch", "no/such/x.py"], "/flash/no/such: no such folder on the board", 2),
        (["eval", "1 +"], "'1 +' is not a Python expression", 2),
        (["sha256sum", ":nothere"], "/flash/nothere: no such file or folder on the board", 2),
        (["ls", "+", "+", "ls"], "a `+` needs a command on each side", 2),
    ],
)
def test_bad_input_is_one_line(port, capsys, argv, message, exit_code):
    code, _, err = pytool(capsys, "-p", port, *argv)
    assert code == exit_code, err
    assert message in err and err.count("Error:") == 1 and "Traceback" not in err, err


def test_touch_rmdir_tree_sha256sum_eval(port, tmp_path, capsys):
    code, _, err = pytool(capsys, "-p", port, "mkdir", "tt/empty")
    assert code == 0, err
    code, _, err = pytool(capsys, "-p", port, "touch", ":tt/new.txt", "boot.py")  # boot.py exists: left alone
    assert code == 0, err
    code, out, _ = pytool(capsys, "-p", port, "--json", "tree", ":tt")
    assert json.loads(out) == {
        "name": "/flash/tt",
        "children": [{"name": "empty", "children": []}, {"name": "new.txt", "size": 0}],
    }
    code, out, _ = pytool(capsys, "-p", port, "tree", "tt")
    assert out.splitlines() == ["/flash/tt", "├── empty/", "└── new.txt (0)"]
    code, out, err = pytool(capsys, "-p", port, "rmdir", ":tt/empty")
    assert code == 0 and "removed /flash/tt/empty" in err
    code, _, err = pytool(capsys, "-p", port, "rmdir", "tt")
    assert code == 2 and "/flash/tt is not empty" in err

    data = b"\x00hash me" * 1000
    (tmp_path / "h.bin").write_bytes(data)
    assert pytool(capsys, "-p", port, "put", str(tmp_path / "h.bin"), "tt/h.bin")[0] == 0
    code, out, _ = pytool(capsys, "-p", port, "sha256sum", ":tt")
    assert out.splitlines() == [
        f"{hashlib.sha256(data).hexdigest()}  /flash/tt/h.bin",
        f"{hashlib.sha256(b'').hexdigest()}  /flash/tt/new.txt",
    ]
    code, out, _ = pytool(capsys, "-p", port, "eval", "sum(range(10))")
    assert (code, out) == (0, "45\n")
    code, out, _ = pytool(capsys, "-p", port, "--json", "eval", "'a' * 3")
    assert json.loads(out) == {"ok": True, "repr": "'aaa'"}
    code, _, err = pytool(capsys, "-p", port, "eval", "1/0")
    assert code == 1 and "ZeroDivisionError" in err


def test_a_chain_runs_on_one_session_and_stops_at_the_first_failure(port, capsys, monkeypatch):
    opened = []
    real = BoardSession.connect

    def counting(target, *args, **kwargs):
        opened.append(target)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(BoardSession, "connect", counting)
    code, out, err = pytool(
        capsys, "-p", port, "exec", "print('one')", "+", "touch", ":chain.txt", "+", "eval", "'two'", "+", "reset",
        "+", "eval", "'after reset'", "+", "ls",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[:3] == ["one", "two", "after reset"] and "/flash/chain.txt" in out
    assert len(opened) == 1  # one connection for the whole chain (the reset re-enters the raw REPL on it)

    code, out, err = pytool(capsys, "-p", port, "eval", "'first'", "+", "rmdir", ":nothere", "+", "eval", "'never'")
    assert code == 2 and out == "first\n" and "no such folder" in err


def on_terminal(*argv: str) -> str:
    """Run `pytool ARGV` with a pseudo-terminal as its stdin/stdout/stderr; what it wrote there."""
    leader, follower = pty.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytool", *argv], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0, seen
    return seen.decode("utf-8", "replace")


def test_put_and_get_show_a_progress_bar_on_a_terminal(port, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(60_000))
    text = on_terminal("-p", port, "put", str(big), "big.bin")
    assert "put big.bin" in text and "━" in text and "/60.0 kB" in text, text  # rich's bar with the total size
    assert "1 file(s) uploaded (60000 bytes" in text
    text = on_terminal("-p", port, "get", "big.bin", str(tmp_path / "back.bin"))
    assert "get big.bin" in text and "━" in text and "/60.0 kB" in text, text
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
