"""Fixtures of the board-command tests: one flashed simulator per test module (see tests/sync/sync_simboard.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "sync"))
from sync_simboard import sim_port


@pytest.fixture(scope="module")
def port(tmp_path_factory, request) -> str:
    with sim_port(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1].replace("_", "")) as pty:
        yield pty
