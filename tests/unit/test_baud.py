"""Which rate a bulk transfer switches to (pytool/baud.py), and when it is worth it."""

from __future__ import annotations

import pytest

from pytool import baud
from pytool.errors import UsageError
from pytool.ports import Target


def target(family: str, kind: str = "serial") -> Target:
    return Target("p", "p", "dtr-rts", family, kind=kind)


@pytest.mark.parametrize(
    ("family", "rate"),
    [
        ("Silicon Labs CP210x", 921600),
        ("WCH CH9102", 921600),
        ("WCH CH340", 921600),
        ("Expansion Board 2.0 / FTDI FT-X", 921600),
        ("Pysense", 230400),  # PIC boards relay reads at 230400 at most
        ("Pysense (DFU)", None),
        ("unknown USB serial", None),
        ("network port", None),
    ],
)
def test_the_rate_follows_the_bridge_family(family, rate):
    assert baud.fast_rate(target(family), environ={}) == rate


def test_the_environment_beats_the_setting_which_beats_the_family():
    cp210x = target("Silicon Labs CP210x")
    assert baud.fast_rate(cp210x, 460800, environ={}) == 460800
    assert baud.fast_rate(cp210x, 0, environ={}) is None  # [serial] fast_baud = false
    assert baud.fast_rate(cp210x, 460800, environ={baud.FAST_ENV: "0"}) is None
    assert baud.fast_rate(target("unknown USB serial"), None, environ={baud.FAST_ENV: "500000"}) == 500000
    with pytest.raises(UsageError, match="PYTOOL_FAST_BAUD"):
        baud.fast_rate(cp210x, environ={baud.FAST_ENV: "fast"})


def test_telnet_has_no_line_rate():
    assert (
        baud.fast_rate(target("Pycom telnet REPL (WiFi)", kind="telnet"), 921600, environ={baud.FAST_ENV: "921600"})
        is None
    )


def test_short_transfers_stay_at_the_boot_rate():
    assert not baud.worth_switching(2_000, 921600)
    assert baud.worth_switching(200_000, 921600)
    assert not baud.worth_switching(200_000, baud.BOOT_BAUD)


def test_the_setting_is_read_from_pytool_toml(tmp_path):
    from pytool import config

    (tmp_path / "pytool.toml").write_text("[serial]\nfast_baud = 460800\n")
    assert config.load(tmp_path).fast_baud == 460800
    (tmp_path / "pytool.toml").write_text("[serial]\nfast_baud = false\n")
    assert config.load(tmp_path).fast_baud == 0
    (tmp_path / "pytool.toml").write_text('[serial]\nfast_baud = "fast"\n')
    with pytest.raises(UsageError, match=r"serial\.fast_baud"):
        config.load(tmp_path)
