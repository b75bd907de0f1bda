"""Extra pyserial URL handlers: `telnet://HOST[:PORT]` (a Pycom board's telnet REPL over WiFi).

pyserial's `serial_for_url` looks a URL's scheme up as `<package>.protocol_<scheme>` in every package listed in
`serial.protocol_handler_packages`; `register()` adds this package there, after which mpremote's SerialTransport,
esptool and pytool open `telnet://` like any serial port. Credentials: `set_credentials()` (the project's
pytool.toml `[wifi]` or pymakr.conf), overridden by PYTOOL_USER / PYTOOL_PASSWORD; defaults micro/python.
"""

from __future__ import annotations

import os

import serial

DEFAULT_USER = "micro"
DEFAULT_PASSWORD = "python"
TELNET_SCHEME = "telnet://"

_configured: dict[str, str | None] = {"user": None, "password": None}


def register() -> None:
    """Make pyserial (and everything built on it) open telnet:// URLs. Idempotent."""
    if __name__ not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(__name__)


def is_telnet(url: str | None) -> bool:
    """Whether a --port value is a telnet:// URL."""
    return bool(url) and url.lower().startswith(TELNET_SCHEME)


def set_credentials(user: str | None = None, password: str | None = None) -> None:
    """The login from the project's configuration (used unless PYTOOL_USER / PYTOOL_PASSWORD are set)."""
    _configured["user"] = user
    _configured["password"] = password


def credentials(url_user: str | None = None) -> tuple[str, str]:
    """(user, password) for a telnet login: URL `?user=` > PYTOOL_USER > configuration > micro; password:
    PYTOOL_PASSWORD > configuration > python."""
    user = url_user or os.environ.get("PYTOOL_USER") or _configured["user"] or DEFAULT_USER
    password = os.environ.get("PYTOOL_PASSWORD") or _configured["password"] or DEFAULT_PASSWORD
    return user, password


def require_serial(spec: str | None, action: str) -> None:
    """Stop with one line when `action` (flashing, erasing) is asked over telnet: it needs the ROM loader."""
    if is_telnet(spec):
        from pytool.errors import PytoolError

        raise PytoolError(
            f"{action} needs the board's serial port: telnet:// reaches only the running firmware's REPL",
            "connect the USB cable and pass its port (`pytool devices` lists them)",
        )


def simulator_of(url: str) -> str | None:
    """The name of the simulated board whose telnet server `url` is (its registry record), or None."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return None
    from pytool.sim import registry

    for rec in registry.running():
        if rec.wifi and rec.wifi.get("telnet") == f"telnet://127.0.0.1:{parts.port}":
            return rec.name
    return None
