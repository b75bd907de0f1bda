"""pytool.ble.quiet_host: Bumble's Host without its per-packet debug formatting, on the test radio."""

from __future__ import annotations

import asyncio
import logging

import pytest
from bumble import host as bumble_host
from bumble.hci import Address
from bumble.transport import open_transport

from pytool.ble.quiet_host import QuietHost, device_with_hci

pytestmark = pytest.mark.timeout(60)


async def test_quiet_host_works_and_formats_packets_only_when_debugging(radio, peripheral, monkeypatch):
    formatted = []
    original = bumble_host.color
    monkeypatch.setattr(bumble_host, "color", lambda *args: formatted.append(args) or original(*args))
    transport = await open_transport(radio.transport)
    try:
        device = device_with_hci(transport.source, transport.sink, "quiet", Address("C0:00:00:00:00:42"))
        assert isinstance(device.host, QuietHost)
        await device.power_on()
        assert device.name == "quiet"
        assert device.random_address == Address("C0:00:00:00:00:42")

        async def scan() -> None:
            found = asyncio.Event()
            wanted = peripheral.address.upper()

            def on_advertisement(advertisement) -> None:
                if advertisement.address.to_string(with_type_qualifier=False) == wanted:
                    found.set()

            device.on("advertisement", on_advertisement)
            await device.start_scanning()
            try:
                await asyncio.wait_for(found.wait(), 10)
            finally:
                device.remove_listener("advertisement", on_advertisement)
                await device.stop_scanning()

        await scan()  # commands went out, events and advertisements came back
        assert formatted == []
        level = bumble_host.logger.level
        bumble_host.logger.setLevel(logging.DEBUG)
        try:
            await scan()
        finally:
            bumble_host.logger.setLevel(level)
        assert formatted, "with DEBUG on, Bumble's own debug lines are there"
    finally:
        await transport.close()
