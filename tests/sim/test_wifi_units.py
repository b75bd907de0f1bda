"""Pieces of the simulated WiFi servers that need no board: telnet input decoding, ftp.c's LIST lines."""

from __future__ import annotations

import calendar

from pytool.sim.wifi.ftp import list_line
from pytool.sim.wifi.telnet import TelnetDecoder


def test_telnet_decoder_takes_out_commands_and_keeps_data():
    d = TelnetDecoder()
    assert d.feed(b"ab\xff\xfd\x01c") == (b"abc", 0)  # DO ECHO from the client: dropped
    assert d.feed(b"\xff\xf6\xff\xff") == (b"\xff", 1)  # AYT reported, IAC IAC is a 0xFF data byte
    assert d.feed(b"\xff\xfa\x18\x00xterm\xff\xf0z") == (b"z", 0)  # subnegotiation dropped
    assert d.feed(b"x\r\x00y\r\n") == (b"x\ry\r\n", 0)  # NVT CR NUL -> CR
    assert d.feed(b"\xff") == (b"", 0)  # a command split across two reads
    assert d.feed(b"\xfb\x03q") == (b"q", 0)


def test_list_lines_as_ftp_c_prints_them():
    now = calendar.timegm((2026, 12, 6, 14, 0, 0))
    recent = calendar.timegm((2026, 11, 30, 9, 5, 0))
    assert list_line("main.py", False, 34, recent, now) == (
        "-rw-rw-r--   1 root  root        34 Nov 30 09:05 main.py\r\n"
    )
    assert list_line("flash", True, 0, 0, now) == "drw-rw-r--   1 root  root         0 Jan  1  1970 flash\r\n"
