"""Which Bluetooth stack plain bleak code gets: `PYTOOL_BLE` and the hook into bleak's backend choice.

bleak 3.1 has no environment variable, entry point or registry for third-party backends: `BleakScanner()` and
`BleakClient()` call `bleak.get_platform_scanner_backend_type()` / `get_platform_client_backend_type()` (module
globals of the `bleak` package) unless `backend=` is given. `install()` wraps those two functions: while
`PYTOOL_BLE` is set they answer with the Bumble backend, otherwise they defer to bleak's own choice (BlueZ,
CoreBluetooth, WinRT, Android). The variable is read at every construction, so it can change at run time.
What the variable means (a Bumble transport or sim:NAME) is pytool/ble/transport.py's business; the backends
(client.py, scanner.py) use that module too, so selection sits above them and nothing imports it back.
"""

from __future__ import annotations

from typing import Any

import bleak

from pytool.ble.transport import ENV_VAR, configured, resolve_transport

__all__ = ["BACKEND_ID", "ENV_VAR", "configured", "install", "resolve_transport", "uninstall"]
BACKEND_ID = "bumble"

_installed: dict[str, Any] = {}


def install() -> None:
    """Make plain `BleakScanner(...)` / `BleakClient(...)` use the Bumble backend whenever `PYTOOL_BLE` is set.

    Idempotent; an explicit `backend=` argument still wins. `uninstall()` restores bleak's functions.
    """
    if _installed:
        return
    original_scanner = bleak.get_platform_scanner_backend_type
    original_client = bleak.get_platform_client_backend_type

    def scanner_backend_type() -> tuple[type, Any]:
        if configured():
            from pytool.ble.scanner import BumbleScanner

            return BumbleScanner, BACKEND_ID
        return original_scanner()

    def client_backend_type() -> tuple[type, Any]:
        if configured():
            from pytool.ble.client import BumbleClient

            return BumbleClient, BACKEND_ID
        return original_client()

    _installed.update(scanner=original_scanner, client=original_client)
    bleak.get_platform_scanner_backend_type = scanner_backend_type
    bleak.get_platform_client_backend_type = client_backend_type


def uninstall() -> None:
    """Undo `install()`."""
    if not _installed:
        return
    bleak.get_platform_scanner_backend_type = _installed.pop("scanner")
    bleak.get_platform_client_backend_type = _installed.pop("client")
