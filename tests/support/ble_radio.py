"""A radio for the bleak-on-Bumble tests: the simulator's hub (`pytool.sim.radio.RadioHub`) and plain Bumble GATT
peripherals, running in a background thread on their own event loop, so each test's loop is a pure tester that
reaches them only over TCP (`tcp-client:127.0.0.1:PORT`), as it would a simulated board."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

import pytool.ble
from pytool.sim.radio import RadioHub
from support.ble_peripheral import Peripheral


class Radio:
    """The hub plus peripherals, on a private loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ble-radio", daemon=True)
        self.thread.start()
        self.hub = RadioHub(idle_exit=None)
        self.call(self.hub.start())
        self.transport = self.hub.transport
        self.peripherals: list[Peripheral] = []

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add_peripheral(self, name: str) -> Peripheral:
        peripheral = Peripheral(self.transport, name)
        self.call(peripheral.start())
        self.peripherals.append(peripheral)
        return peripheral

    def close(self) -> None:
        for peripheral in self.peripherals:
            self.call(peripheral.stop())
        self.call(self.hub.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def radio() -> Iterator[Radio]:
    radio = Radio()
    radio.add_peripheral("pytool-periph")
    radio.add_peripheral("pytool-periph-2")
    yield radio
    radio.close()


@pytest.fixture(scope="session")
def peripheral(radio: Radio) -> Peripheral:
    return radio.peripherals[0]


@pytest.fixture(scope="session")
def peripheral2(radio: Radio) -> Peripheral:
    return radio.peripherals[1]


@pytest.fixture
def ble_env(radio: Radio, monkeypatch: pytest.MonkeyPatch) -> str:
    """Plain bleak code in this test goes through Bumble on the test radio."""
    pytool.ble.install()
    monkeypatch.setenv(pytool.ble.ENV_VAR, radio.transport)
    return radio.transport
