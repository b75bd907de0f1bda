"""A Bumble host of its own on a simulators' radio (tests/sim/bluetooth, and anything else on the air)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bumble.device import Device
from bumble.hci import Address
from bumble.transport import open_transport


@contextlib.asynccontextmanager
async def bumble_host(
    transport: str, address: str = "C0:00:00:00:00:99", name: str = "tester"
) -> AsyncIterator[tuple[Device, Any]]:
    """A powered-on Bumble Device with a controller of its own on the radio at `transport`; yields (device, its HCI
    transport: close that to make the host vanish from the air without a word)."""
    hci = await open_transport(transport)
    device = Device.with_hci(name, Address(address), hci.source, hci.sink)
    await device.power_on()
    try:
        yield device, hci
    finally:
        with contextlib.suppress(Exception):
            await hci.close()
