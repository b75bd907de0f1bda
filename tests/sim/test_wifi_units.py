"""Pieces of the simulated WiFi servers that need no board: ftp.c's LIST lines (telnet's IAC layer:
tests/transports/test_telnet_iac.py)."""

from __future__ import annotations

import calendar

from pytool.sim.wifi.ftp import list_line


def test_list_lines_as_ftp_c_prints_them():
    now = calendar.timegm((2026, 12, 6, 14, 0, 0))
    recent = calendar.timegm((2026, 11, 30, 9, 5, 0))
    assert list_line("main.py", False, 34, recent, now) == (
        "-rw-rw-r--   1 root  root        34 Nov 30 09:05 main.py\r\n"
    )
    assert list_line("flash", True, 0, 0, now) == "drw-rw-r--   1 root  root         0 Jan  1  1970 flash\r\n"
