"""The host side of file bodies on the board's stdin (pytool/board_feed.py): the board's requests, byte by byte as
mpremote's follow hands them over, and what ends a feed early."""

from __future__ import annotations

import pytest

from pytool import board_feed
from pytool.errors import PytoolError


def _feed(feeder: board_feed.Feeder, output: bytes) -> None:
    for i in range(len(output)):  # mpremote's follow calls the stream with one byte at a time
        feeder(output[i : i + 1])


def test_each_request_gets_the_next_piece_and_progress_counts_payload():
    written, progress = [], []
    feeder = board_feed.Feeder(written.append, [(b"one", 10), (b"two", 20)], progress.append)
    _feed(feeder, b"OK" + board_feed.READY + b"\r\n")
    assert written == [b"one"] and progress == [10] and not feeder.done
    _feed(feeder, b"@p" + board_feed.READY + b"\r\n")  # a partial marker before the real one
    assert written == [b"one", b"two"] and progress == [10, 20] and feeder.done


def test_a_request_beyond_the_pieces_is_refused():
    feeder = board_feed.Feeder(lambda _b: None, [(b"x", 1)])
    _feed(feeder, board_feed.READY)
    with pytest.raises(PytoolError, match="piece 2 of data where the exec carries 1"):
        _feed(feeder, board_feed.READY)


def test_the_boards_reset_line_ends_the_feed_at_once():
    feeder = board_feed.Feeder(lambda _b: None, [(b"x", 1)])
    with pytest.raises(PytoolError, match="restarted during the transfer"):
        _feed(feeder, b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0xf (BROWNOUT_RST),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n")
    assert not feeder.done
