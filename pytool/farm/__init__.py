"""Board farms: boards reached through a farm engine instead of a local cable (docs/farm.md).

`--port labgrid:PLACE` (pytool.farm.labgrid) acquires a labgrid place for the duration of a command, hands
its serial port to the rest of pytool as an ordinary pyserial URL, and releases the place afterwards.
`pytool.farm.exporter` writes labgrid exporter configuration for running simulators.
"""

from __future__ import annotations

LABGRID_PREFIX = "labgrid:"


def is_farm_port(spec: str | None) -> bool:
    """Whether a `--port` value names a farm place (`labgrid:PLACE`)."""
    return bool(spec) and str(spec).startswith(LABGRID_PREFIX)
