"""The escape attempts' simulated board and host canaries (tests/support/sandboxed_board.py)."""

from support.sandboxed_board import board, host  # noqa: F401  (the fixtures)
