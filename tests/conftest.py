"""Shared test setup: every test gets its own pytool state and data folders (simulator registry, images)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_pytool_dirs(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PYTOOL_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("PYTOOL_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("PYTOOL_PORT", raising=False)
    monkeypatch.delenv("PYTOOL_BLE", raising=False)
