"""bleak on Bumble: a bleak backend for Bumble's host stack (virtual radios, USB/serial HCI dongles), issue #6.

Explicit use, with bleak's public `backend=` argument::

    from bleak import BleakClient, BleakScanner
    from pytool.ble import BumbleClient, BumbleScanner

    device = await BleakScanner.find_device_by_name("LoPy4", backend=BumbleScanner, bumble={"transport": "usb:0"})
    async with BleakClient(device, backend=BumbleClient, bumble={"transport": "usb:0"}) as client: ...

Unchanged bleak code: bleak 3.1 has no environment variable, entry point or registry for third-party backends
(it picks BlueZ/CoreBluetooth/WinRT/Android in `bleak.backends.get_default_backend()`, and `BleakScanner` /
`BleakClient` call `bleak.get_platform_{scanner,client}_backend_type()` unless `backend=` is given). The one hook
is those two functions in the `bleak` package: `install()` wraps them so that, while `PYTOOL_BLE` is set, plain
`BleakScanner()` / `BleakClient(address)` get the Bumble backend; unset, bleak's own choice stands. Call
`install()` once, or run the script with `python -m pytool.ble script.py` (pytool's pytest plugin does it too).

`PYTOOL_BLE` is a Bumble transport (`tcp-client:127.0.0.1:PORT`, `usb:0`, `serial:/dev/ttyACM0,1000000`, ...)
or `sim:NAME`, the radio of a running `pytool sim` board. Scanners and clients of one event loop share one
Bumble host per transport; see `pytool/ble/README.md`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pytool.ble.transport import ENV_VAR, configured, resolve_transport

if TYPE_CHECKING:
    from pytool.ble.client import BumbleClient, BumbleClientArgs
    from pytool.ble.host import TransportUnavailableError
    from pytool.ble.scanner import BumbleArgs, BumbleScanner
    from pytool.ble.selection import install, uninstall

# Loaded on first use (PEP 562): `pytool.ble.address` and `pytool.ble.transport` are needed where Bumble (~0.3 s of
# CPU to import) and bleak are not, such as a deploy to a simulated board (issue 17).
_LAZY = {
    "BumbleClient": "pytool.ble.client",
    "BumbleClientArgs": "pytool.ble.client",
    "TransportUnavailableError": "pytool.ble.host",
    "BumbleArgs": "pytool.ble.scanner",
    "BumbleScanner": "pytool.ble.scanner",
    "install": "pytool.ble.selection",
    "uninstall": "pytool.ble.selection",
}

__all__ = [
    "ENV_VAR",
    "BumbleArgs",
    "BumbleClient",
    "BumbleClientArgs",
    "BumbleScanner",
    "TransportUnavailableError",
    "configured",
    "install",
    "resolve_transport",
    "uninstall",
]


_SUBMODULES = ("address", "client", "convert", "host", "quiet_host", "raw_scan", "scanner", "selection", "transport")


def __getattr__(name: str) -> Any:
    """The lazily loaded names above, and the submodules (`pytool.ble.selection` after `import pytool.ble`)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"pytool.ble.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytool.ble' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
