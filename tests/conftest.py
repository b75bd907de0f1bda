"""Shared test setup: every test gets its own pytool state and data folders (simulator registry, images)."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--deep",
        action="store_true",
        help="reliability suite: hundreds of fault points per test instead of a handful (bench/reliability.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--deep"):
        os.environ["PYTOOL_DEEP"] = "1"  # read by tests/support/faults.py when the test modules load


@pytest.fixture(autouse=True)
def _isolated_pytool_dirs(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PYTOOL_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("PYTOOL_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("PYTOOL_PORT", raising=False)
    monkeypatch.delenv("PYTOOL_BLE", raising=False)
