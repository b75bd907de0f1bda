"""Fixtures of the sync tests: one flashed simulator per test module (see sync_simboard.py)."""

from __future__ import annotations

import pytest
from sync_simboard import sim_port


@pytest.fixture(scope="module")
def port(tmp_path_factory, request) -> str:
    with sim_port(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1].replace("_", "")) as pty:
        yield pty
