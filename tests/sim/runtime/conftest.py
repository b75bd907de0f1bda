"""Fixtures: a simulated board's runtime on a pty (see tests/support/runtime.py), shared per module."""

from __future__ import annotations

import pytest
from mpremote.transport_serial import SerialTransport
from support.runtime import HarnessBoard, start_board


@pytest.fixture(scope="module")
def lopy4(tmp_path_factory) -> HarnessBoard:
    hb = start_board("lopy4", tmp_path_factory.mktemp("lopy4"))
    yield hb
    hb.close()


@pytest.fixture(scope="module")
def esp32(tmp_path_factory) -> HarnessBoard:
    hb = start_board("esp32", tmp_path_factory.mktemp("esp32"))
    yield hb
    hb.close()


@pytest.fixture
def raw(lopy4):
    """An mpremote transport in the raw REPL of the shared LoPy4 (entered with a soft reset)."""
    t = SerialTransport(lopy4.port, baudrate=115200)
    t.enter_raw_repl()
    yield t
    t.exit_raw_repl()
    t.close()
