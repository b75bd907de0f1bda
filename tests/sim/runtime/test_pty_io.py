"""The supervisor's byte-level helpers (pytool/sim/runtime/pty_io.py) and the raw-paste stream of stock boards
(pytool/sim/runtime/raw_gate.py), on a real pty and without an interpreter."""

from __future__ import annotations

import os
import tty

from pytool.sim.runtime.grammar import GRAMMAR_INTERPRETER, GrammarChecker
from pytool.sim.runtime.pty_io import read_until, split_at_first, uart_line_ends
from pytool.sim.runtime.raw_gate import RawCodeGate

MARK = b"\x1b[pytool:abcd:reset]"


def test_read_until_takes_everything_written_before_the_marker():
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        os.set_blocking(master, False)
        os.write(slave, b"OK" + MARK)
        assert read_until(master, MARK, 5) == (b"OK", True)
        os.write(slave, b"no marker")
        assert read_until(master, MARK, 0.2) == (b"no marker", False)
    finally:
        os.close(master)
        os.close(slave)


def test_split_and_line_ends():
    assert split_at_first(b"abc\x04>rest", [b"\x04>", b">>> "]) == (b"abc", b"\x04>rest", b"")
    assert split_at_first(b"abc>>", [b">>> "]) == (b"abc", None, b">>")  # maybe a prompt: held back
    assert uart_line_ends(b"a\nb\r\n", False) == (b"a\r\nb\r\n", False)
    assert uart_line_ends(b"\nx\r", True) == (b"\nx\r", True)  # the "\r" came in the chunk before


def test_stock_raw_paste_streams_one_newline_per_crlf_and_grants_every_window():
    gate = RawCodeGate(GrammarChecker(GRAMMAR_INTERPRETER), raw_paste=True)
    gate.prompt()
    assert gate.feed(b"\x05A\x01") == [("forward", b"\x05A\x01")]  # the interpreter serves raw-paste
    assert gate.output(b"R\x01") == b""  # (its answer, in pieces)
    assert gate.output(b"\x10\x00") == b"R\x01\x10\x00"  # a 16-byte window
    code = b"x = '1\r\n2'\r\ny = 3\r\n"  # 19 bytes: one window used, a grant from the gate
    actions = gate.feed(code)
    forwarded = b"".join(chunk for kind, chunk in actions if kind == "forward")
    assert forwarded == b"x = '1\n2'\ny = 3\n"
    assert [chunk for kind, chunk in actions if kind == "emit"] == [b"\x01"]
    assert gate.output(b"\x01") == b""  # the interpreter's own grant: dropped
    assert gate.feed(b"\x04") == [("forward", b"\x04")] and not gate.idle
    assert gate.output(b"\x01\x04\x01out") == b"\x04\x01out"  # after its end-of-code ack: output as it is
