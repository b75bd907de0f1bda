"""The supervisor's traceback filter drops the simulated firmware's own frames, however the output is cut."""

from __future__ import annotations

from pytool.sim.runtime.frames import FrameFilter

DEV = "/opt/pytool/firmware/device"
TEXT = (
    b"Traceback (most recent call last):\r\n"
    b'  File "<stdin>", line 1, in <module>\r\n'
    b'  File "/opt/pytool/firmware/device/_grammar.py", line 57, in exec\r\n'
    b'  File "<string>", line 2\r\n'
    b"SyntaxError: invalid syntax\r\n"
    b"  File indented user text\r\n>>> "
)
WANT = TEXT.replace(b'  File "/opt/pytool/firmware/device/_grammar.py", line 57, in exec\r\n', b"")


def test_whole_and_byte_by_byte():
    f = FrameFilter(DEV)
    assert f.feed(TEXT) + f.flush() == WANT
    f = FrameFilter(DEV)
    assert b"".join(f.feed(TEXT[i : i + 1]) for i in range(len(TEXT))) + f.flush() == WANT


def test_a_held_line_start_comes_out_on_flush():
    f = FrameFilter(DEV)
    assert f.feed(b"ok\n  Fi") == b"ok\n"
    assert f.flush() == b"  Fi"
    assert f.feed(b"le x\n") == b"le x\n"
