"""A feed of file data cut half-way through a piece. On Pycom 1.20 the board's stdin read ends only when it has every
byte it asked for (lib/utils/sys_stdio_mphal.c `stdio_read` loops `size` times over `mp_hal_stdin_rx_chr`, which
never looks at a pending exception; the KeyboardInterrupt comes at the next jump, py/vm.c), so the host fills the
read with spaces after its Ctrl-C and then clears the raw REPL's line, where a board whose read the Ctrl-C ended
(the simulator, stock MicroPython) received them. Here the simulated board's read ends at the Ctrl-C: the spaces
must not reach the next exec, and nothing may be written.

Not modelled: the simulator's read does not wait for the rest as Pycom's does. A reader written in MicroPython
that keeps reading through the KeyboardInterrupt lost bytes around the simulator's SIGINT delivery (it waited for
more than the host sent, in 8 runs of 10), so it cannot stand in for the board's read yet."""

from __future__ import annotations

import pytest

from pytool import board_feed
from pytool.board import BoardSession

pytestmark = pytest.mark.timeout(120)

SIZE = 3000


class _HalfThenCut(board_feed.Feeder):
    """Sends half of the first piece and then stops, as a host does when the user presses Ctrl-C mid-write."""

    def __init__(self, write, pieces, sent=None) -> None:
        def half(data: bytes) -> None:
            write(data[: len(data) // 2])
            raise KeyboardInterrupt

        super().__init__(half, pieces, sent)


def test_a_feed_cut_mid_piece_is_filled_and_cleared_and_writes_nothing(port, monkeypatch):
    written = []
    with BoardSession.connect(port) as board:
        board.exec("_pt_st(_pt_p('cut.bin')) and os.remove(_pt_p('cut.bin'))\n")
        write = board.wire.write
        monkeypatch.setattr(board.wire, "write", lambda data: written.append(bytes(data)) or write(data))
        monkeypatch.setattr(board_feed, "Feeder", _HalfThenCut)
        with pytest.raises(KeyboardInterrupt):
            board.exec_feeding(f"_pt_rd(_pt_p('cut.bin'), {SIZE}, 0, 0, 0)\n", [(b"a" * SIZE, SIZE)], timeout=20)
        monkeypatch.undo()
        assert written[-3:] == [b"\x03", b" " * SIZE, b"\x03"]  # interrupt, fill the read, clear the line
        assert board.eval("6 * 7", timeout=10) == 42  # no space reached this exec
        assert board.eval("_pt_st(_pt_p('cut.bin'))") is None


def test_the_bytes_a_cut_feed_owes_are_the_longer_of_the_piece_sent_and_the_next():
    feeder = board_feed.Feeder(lambda _b: None, [(b"x" * 5, 5), (b"y" * 9, 9), (b"z" * 2, 2)])
    assert feeder.owed == 5  # nothing sent yet: the board may have asked for the first piece
    feeder(board_feed.READY)
    assert feeder.owed == 9  # the first went out; the board may already wait for the second
    feeder(board_feed.READY)
    feeder(board_feed.READY)
    assert feeder.done and feeder.owed == 2
