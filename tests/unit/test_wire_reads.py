"""`pytool.wire.waiting_read_until`: mpremote's read_until contract, reads that wait in the port, and an overall
timeout that holds against a board that never stops printing (pyserial's loop:// port: what is written is read)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
import serial

from pytool.wire import waiting_read_until

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def link():
    port = serial.serial_for_url("loop://", timeout=0.5)
    yield SimpleNamespace(serial=port)
    port.close()


def test_stops_at_the_ending_and_leaves_what_follows_unread(link):
    link.serial.write(b"OK\x04 rest")
    assert waiting_read_until(link, 1, b"\x04") == b"OK\x04"
    assert link.serial.read(5) == b" rest"


def test_hands_each_byte_to_the_consumer_and_returns_the_ending(link):
    got = []
    link.serial.write(b"abc\x04")
    assert waiting_read_until(link, 1, b"\x04", data_consumer=got.append) == b"\x04"
    assert got == [b"a", b"b", b"c", b"\x04"]


def test_a_reply_that_comes_later_is_waited_for(link):
    threading.Timer(0.3, link.serial.write, [b"raw REPL; CTRL-B to exit\r\n>"]).start()
    assert waiting_read_until(link, 1, b"exit\r\n>", timeout=5).endswith(b"exit\r\n>")


def test_silence_ends_the_read_with_what_came(link):
    link.serial.write(b"partial")
    assert waiting_read_until(link, 1, b"\x04", timeout=0.2) == b"partial"


def test_a_board_that_never_stops_printing_is_cut_off_by_the_overall_timeout(link):
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            link.serial.write(b"x")
            time.sleep(0.001)

    writer = threading.Thread(target=flood, daemon=True)
    writer.start()
    try:
        data = waiting_read_until(link, 1, b"\x04", timeout=5, timeout_overall=0.5)
    finally:
        stop.set()
        writer.join()
    assert data and set(data) == {ord("x")}  # returned without the ending, on the overall timeout
