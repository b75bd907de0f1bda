"""What `PYTOOL_BLE` means: a Bumble transport, or `sim:NAME` (a running simulated board's radio).

Read by the backends (client.py, scanner.py) to open their host, and by selection.py to decide whether plain
bleak gets the Bumble backend at all. Imports neither bleak nor the backends.
"""

from __future__ import annotations

import os

ENV_VAR = "PYTOOL_BLE"
_SIM_PREFIX = "sim:"


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
