"""The bleak-on-Bumble tests' radio and plain Bumble peripherals (tests/support/ble_radio.py)."""

from support.ble_radio import ble_env, peripheral, peripheral2, radio  # noqa: F401  (the fixtures)
