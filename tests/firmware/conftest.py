"""Reset the CLI's global options around every test (cli.run keeps them in a module-level object)."""

from __future__ import annotations

import pytest

from pytool.console import options


@pytest.fixture(autouse=True)
def _reset_cli_options():
    options.port, options.json, options.debug = None, False, False
    yield
    options.port, options.json, options.debug = None, False, False
