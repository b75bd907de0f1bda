"""Which Bluetooth stack plain bleak code gets: `PYTOOL_BLE` and the hook into bleak's backend choice.

bleak 3.1 has no environment variable, entry point or registry for third-party backends: `BleakScanner()` and
`BleakClient()` call `bleak.get_platform_scanner_backend_type()` / `get_platform_client_backend_type()` (module
globals of the `bleak` package) unless `backend=` is given. `install()` wraps those two functions: while
`PYTOOL_BLE` is set they answer with the Bumble backend, otherwise they defer to bleak's own choice (BlueZ,
CoreBluetooth, WinRT, Android). The variable is read at every construction, so it can change at run time.
"""

from __future__ import annotations

import os
from typing import Any

import bleak

ENV_VAR = "PYTOOL_BLE"
BACKEND_ID = "bumble"
_SIM_PREFIX = "sim:"
_installed: dict[str, Any] = {}


def configured() -> str | None:
    """The `PYTOOL_BLE` setting (a Bumble transport or `sim:NAME`), or None for the OS backend."""
    value = os.environ.get(ENV_VAR, "").strip()
    return value or None


def resolve_transport(spec: str | None = None) -> str:
    """The Bumble transport string for `spec` (default: `PYTOOL_BLE`); `sim:NAME` asks the simulator registry.

    Raises PytoolError when nothing is configured or the simulator is unknown or has no radio.
    """
    from pytool.errors import PytoolError

    spec = spec if spec is not None else configured()
    if not spec:
        raise PytoolError(
            "no Bluetooth transport configured for the Bumble backend",
            f"set {ENV_VAR} to a Bumble transport (tcp-client:127.0.0.1:PORT, usb:0, serial:/dev/ttyACM0) or sim:NAME",
        )
    if spec.startswith(_SIM_PREFIX):
        from pytool.sim import registry

        record = registry.find(spec[len(_SIM_PREFIX) :])
        if not record.hci:
            raise PytoolError(
                f"simulator '{record.name}' has no Bluetooth radio",
                "start it with Bluetooth enabled, or check `pytool sim list` for its hci transport",
            )
        return record.hci
    return spec


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
