"""Fixtures of the device_lib tests: `mp` runs code on the real MicroPython interpreter."""

from __future__ import annotations

from devlib_mp import mp  # noqa: F401  (re-exported fixture)
