"""Telnet's IAC layer, shared by the telnet client and the simulated board's server: byte sequences as Pycom's
telnet.c and a telnet client send them, decoded and escaped."""

from __future__ import annotations

from pytool.transports.telnet_iac import IacDecoder, escape


def test_server_side_takes_out_commands_and_keeps_data():
    d = IacDecoder(nvt_cr=True)
    assert d.feed(b"ab\xff\xfd\x01c") == (b"abc", 0)  # DO ECHO from the client: dropped
    assert d.feed(b"\xff\xf6\xff\xff") == (b"\xff", 1)  # AYT reported, IAC IAC is a 0xFF data byte
    assert d.feed(b"\xff\xfa\x18\x00xterm\xff\xf0z") == (b"z", 0)  # subnegotiation dropped
    assert d.feed(b"x\r\x00y\r\n") == (b"x\ry\r\n", 0)  # NVT CR NUL -> CR
    assert d.feed(b"\xff") == (b"", 0)  # a command split across two reads
    assert d.feed(b"\xfb\x03q") == (b"q", 0)


def test_client_side_drops_commands_and_unescapes_0xff():
    d = IacDecoder()
    assert d.feed(b"a\xff\xfb\x01b\xff\xff")[0] == b"ab\xff"
    assert d.feed(b"\xff")[0] == b""  # a command split across reads
    assert d.feed(b"\xfc\x03c\xff\xf6d")[0] == b"cd"
    assert d.feed(b"x\r\x00y")[0] == b"x\r\x00y"  # the board's output is data as it comes: a NUL stays


def test_escape_doubles_0xff_only():
    assert escape(b"a\xff\x00\xff\xffb") == b"a\xff\xff\x00\xff\xff\xff\xffb"
    assert IacDecoder().feed(escape(bytes(range(256))))[0] == bytes(range(256))
