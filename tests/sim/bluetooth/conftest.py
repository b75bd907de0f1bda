"""Fixtures of the Bluetooth simulator tests."""

from __future__ import annotations

import pytest

from pytool.sim import radio


@pytest.fixture
async def hub():
    """A radio hub of its own (Bumble virtual controllers over TCP on 127.0.0.1), closed after the test."""
    hub = radio.RadioHub(idle_exit=None)
    await hub.start()
    yield hub
    await hub.close()
