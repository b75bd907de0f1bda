"""Where a telnet:// login comes from, and the handler registration other modules call."""

from __future__ import annotations

import pytest
import serial

from pytool import transports
from pytool.errors import PytoolError
from pytool.ports import resolve_port


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv("PYTOOL_USER", raising=False)
    monkeypatch.delenv("PYTOOL_PASSWORD", raising=False)
    transports.set_credentials(None, None)
    yield
    transports.set_credentials(None, None)


def test_defaults_then_configuration_then_environment_then_url(monkeypatch):
    assert transports.credentials() == ("micro", "python")
    transports.set_credentials("cfg-user", "cfg-pw")
    assert transports.credentials() == ("cfg-user", "cfg-pw")
    monkeypatch.setenv("PYTOOL_USER", "env-user")
    monkeypatch.setenv("PYTOOL_PASSWORD", "env-pw")
    assert transports.credentials() == ("env-user", "env-pw")
    assert transports.credentials("url-user") == ("url-user", "env-pw")


def test_register_is_idempotent_and_resolve_port_registers_telnet():
    resolved = resolve_port("telnet://127.0.0.1:2323")
    assert (resolved.url, resolved.reset, resolved.sim) == ("telnet://127.0.0.1:2323", "none", None)
    transports.register()
    assert serial.protocol_handler_packages.count("pytool.transports") == 1
    assert transports.is_telnet("TELNET://192.168.4.1") and not transports.is_telnet("rfc2217://x:1")


def test_flashing_needs_the_serial_port():
    transports.require_serial("/dev/ttyUSB0", "flashing")  # fine
    with pytest.raises(PytoolError, match="flashing needs the board's serial port"):
        transports.require_serial("telnet://192.168.4.1", "flashing")
