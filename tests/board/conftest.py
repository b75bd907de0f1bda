"""Fixtures of the board-command tests: one flashed simulator per test module (`port`, tests/support/flashed.py)."""

from support.flashed import port  # noqa: F401  (the fixture)
