"""Fixtures of the sync tests: one flashed simulator per test module (`port`, from tests/support/flashed.py)."""

from support.flashed import port  # noqa: F401  (the fixture)
