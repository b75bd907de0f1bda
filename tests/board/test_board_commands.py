"""Board commands against a simulated LoPy4 (Pycom 1.20.2.r4): files, exec/run, resets, info, payload safety."""

from __future__ import annotations

import json
import random
import threading

import pytest
from support.cli import run_text as pytool

from pytool.board import RESULT_MARK, BoardSession, check_payload, parse_result
from pytool.console import options
from pytool.errors import PytoolError, UsageError
from pytool.transfer import get, put

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _reset_cli_options():
    yield
    options.json, options.debug = False, False


def test_every_byte_value_round_trips_through_put_and_get(port, tmp_path):
    rng = random.Random(1)
    data = bytes(range(256)) * 4 + bytes(rng.randrange(256) for _ in range(50_000))  # several chunks
    src = tmp_path / "all.bin"
    src.write_bytes(data)
    with BoardSession.connect(port) as board:
        result = put(board, src, "/flash/bytes/all.bin")
        assert result.uploaded == ["bytes/all.bin"]
        back = tmp_path / "back.bin"
        get(board, "/flash/bytes/all.bin", back)
        assert back.read_bytes() == data
        assert board.stat("/flash/bytes/all.bin") == (False, len(data))
        board.remove("/flash/bytes", recursive=True)
        assert board.stat("/flash/bytes") is None


def test_put_and_get_folders_recursively(port, tmp_path, capsys):
    tree = {"a.py": b"A = 1\n", "sub/b.txt": b"\x00\x06\x04\x01binary", "sub/deeper/c.bin": bytes(range(256))}
    for rel, data in tree.items():
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(data)
    code, _, err = pytool(capsys, "-p", port, "put", str(tmp_path / "src"), "/flash/tree")
    assert code == 0, err
    code, out, _ = pytool(capsys, "-p", port, "--json", "ls", "-r", "/flash/tree")
    listing = {e["path"]: e["size"] for e in json.loads(out)}
    assert listing == {
        "/flash/tree/a.py": 6,
        "/flash/tree/sub": -1,
        "/flash/tree/sub/b.txt": 10,
        "/flash/tree/sub/deeper": -1,
        "/flash/tree/sub/deeper/c.bin": 256,
    }
    dest = tmp_path / "dest"
    dest.mkdir()
    code, _, err = pytool(capsys, "-p", port, "get", "/flash/tree", str(dest))
    assert code == 0, err
    for rel, data in tree.items():
        assert (dest / "tree" / rel).read_bytes() == data
    code, out, _ = pytool(capsys, "-p", port, "cat", "/flash/tree/a.py")
    assert (code, out) == (0, "A = 1\n")
    assert pytool(capsys, "-p", port, "rm", "/flash/tree")[0] == 1  # a folder needs -r
    assert pytool(capsys, "-p", port, "rm", "-r", "/flash/tree")[0] == 0
    code, _, err = pytool(capsys, "-p", port, "cat", "/flash/tree/a.py")
    assert code == 1 and "no such file" in err


def test_mkdir_df_info_exec(port, capsys):
    assert pytool(capsys, "-p", port, "mkdir", "x/y")[0] == 0
    with BoardSession.connect(port) as board:
        assert board.stat("x/y") == (True, 0)
        board.remove("x", recursive=True)
    code, out, _ = pytool(capsys, "-p", port, "--json", "df")
    usage = json.loads(out)
    assert code == 0 and usage["path"] == "/flash" and 0 < usage["free"] < usage["total"]
    code, out, _ = pytool(capsys, "-p", port, "--json", "info")
    info = json.loads(out)
    assert (info["sysname"], info["release"], info["flavour"]) == ("LoPy4", "1.20.2.r4", "pycom")
    assert info["raw_paste"] is False and info["mem_free"] > 0  # Pycom 1.20 has no raw-paste (reference 3)
    code, out, _ = pytool(capsys, "-p", port, "exec", "import os; print(os.uname().machine)")
    assert (code, out.strip()) == (0, "LoPy4 with ESP32")
    code, out, err = pytool(capsys, "-p", port, "exec", "1/0")
    assert code == 1 and "ZeroDivisionError" in err and "_pt_" not in err


def test_a_result_line_damaged_by_line_noise_is_never_taken_for_an_answer(port):
    """Every answer the board prints carries its length and byte sum: any one byte lost or one bit flipped on the
    way (what `pytool sim fault drop/flip` does) gives a clear PytoolError, never a different value."""
    value = {"main.py": "3e23e8160039", "lib/x.py": "", "n": [1, -2, 3.5, None, True], "s": "a #3.14 \u00e9"}
    with BoardSession.connect(port) as board:
        out = board.exec(f"_pt_out({value!r})\n")
    assert parse_result(out) == value
    line = next(x for x in out.split(b"\n") if x.startswith(RESULT_MARK.encode()))
    damaged = [line[:i] + line[i + 1 :] for i in range(len(line))]  # one byte lost
    damaged += [line[:i] + bytes([line[i] ^ 1 << bit]) + line[i + 1 :] for i in range(len(line)) for bit in range(8)]
    taken = []
    for bad in damaged:
        try:
            answer = parse_result(out.replace(line, bad))
        except PytoolError as exc:
            assert "cut or garbled" in str(exc)
            continue
        taken.append((bad, answer))
    # the only harmless damage: the line's trailing carriage return (the answer is still exact)
    assert all(answer == value for _, answer in taken) and len(taken) <= 1, taken[:3]


def test_control_bytes_are_refused_before_anything_is_sent(port, capsys):
    with pytest.raises(UsageError, match="0x06"):
        check_payload(b"print('\x06')")
    code, _, err = pytool(capsys, "-p", port, "exec", "print('\x06')")
    assert code == 2 and "0x06" in err
    with BoardSession.connect(port) as board:  # the board did not reset into safe boot: the session goes on
        assert board.eval("1 + 1") == 2
        assert board.eval("'\\x06'") == "\x06"  # as an escape the byte is fine


def test_run_streams_output_and_ctrl_c_stops_the_program(port, tmp_path):
    script = tmp_path / "loop.py"
    script.write_text("import time\nn = 0\nwhile True:\n    n += 1\n    print('tick', n)\n    time.sleep(0.01)\n")
    seen = bytearray()

    def out(data: bytes) -> None:
        seen.extend(data)
        if seen.count(b"tick") >= 5:
            raise KeyboardInterrupt

    with BoardSession.connect(port) as board:
        with pytest.raises(KeyboardInterrupt):
            board.run(script.read_text(), out)
        assert b"tick 1\r\n" in seen or b"tick 1\n" in seen
        first = board.eval("n")
        assert board.eval("n") == first  # the loop is no longer running on the board

    finite = tmp_path / "hello.py"
    finite.write_text("for i in range(3):\n    print('line', i)\nraise ValueError('boom')\n")
    chunks = []
    with BoardSession.connect(port) as board:
        error = board.run(finite.read_text(), chunks.append)
    assert b"".join(chunks).replace(b"\r", b"").splitlines() == [b"line 0", b"line 1", b"line 2"]
    assert b"ValueError: boom" in error


def test_resets(port):
    marker = "f = open('/flash/boots', 'a')\nf.write('m')\nf.close()\n"
    with BoardSession.connect(port, timeout=30) as board:
        board.exec(f"f = open('/flash/main.py', 'w')\nf.write({marker!r})\nf.close()\n")
        board.exec("f = open('/flash/boots', 'w')\nf.close()\n")
        board.soft_reset()  # friendly-mode soft reset: main.py runs
    with BoardSession.connect(port, timeout=30) as board:
        assert board.read_file("/flash/boots") == b"m"
        board.hard_reset()
        board.wait_for_banner()
    with BoardSession.connect(port, timeout=30) as board:
        assert board.read_file("/flash/boots") == b"mm"
        banner = board.safe_boot()
        assert b"Pycom MicroPython 1.20.2.r4" in banner
    with BoardSession.connect(port, timeout=30) as board:
        assert board.read_file("/flash/boots") == b"mm"  # safe boot skipped main.py
        board.exec("import os\nos.remove('/flash/boots')\nf = open('/flash/main.py', 'w')\nf.close()\n")


def test_compressed_code_runs_after_the_board_rebooted_in_the_session(port):
    """The inflate helper (_pt_x) is gone with the interpreter: after a reboot (a reset, an exec retried on a
    board that rebooted meanwhile) the next compressed exec brings it again."""
    code = "t = 0\n" + "t += 1\n" * 600 + "print(t)\n"  # long and compressible: sent packed
    with BoardSession.connect(port, timeout=30) as board:
        assert board.exec(code) == b"600\r\n"
        assert board._inflate is True  # (it went packed)
        board.soft_reset()
        assert board.exec(code) == b"600\r\n"


def test_a_second_session_waits_for_the_port_and_errors_are_one_line(port, capsys):
    code, _, err = pytool(capsys, "-p", "/dev/does-not-exist", "ls")
    assert code == 1 and err.count("\n") == 1 and "there is no port /dev/does-not-exist" in err
    with BoardSession.connect(port) as board:
        done = threading.Event()

        def other() -> None:
            try:
                BoardSession.connect(port)
            except PytoolError as exc:
                assert "is busy" in str(exc), exc
            done.set()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(30)
        assert done.is_set()  # refused at once (exclusive open), not hung
        assert board.eval("2 * 21") == 42
