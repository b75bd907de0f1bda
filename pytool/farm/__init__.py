"""Board farms: boards reached through a farm engine instead of a local cable (docs/farm.md).

`--port labgrid:PLACE` (pytool.farm.labgrid) acquires a labgrid place for the duration of a command, hands
its serial port to the rest of pytool as an ordinary pyserial URL, and releases the place afterwards.
`pytool.farm.exporter` writes labgrid exporter configuration for running simulators.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

LABGRID_PREFIX = "labgrid:"
#: The running CLI command's farm places (`labgrid.place_for` enters them here); None outside a command.
command_places: contextlib.ExitStack | None = None


@contextlib.contextmanager
def command_scope() -> Iterator[None]:
    """Run one CLI command: every farm place it acquires is released when it ends. Here rather than in
    `pytool.farm.labgrid` so that the CLI does not import labgrid's machinery (asyncio, threads) at start-up."""
    global command_places
    previous, command_places = command_places, contextlib.ExitStack()
    try:
        with command_places:
            yield
    finally:
        command_places = previous


def is_farm_port(spec: str | None) -> bool:
    """Whether a `--port` value names a farm place (`labgrid:PLACE`)."""
    return bool(spec) and str(spec).startswith(LABGRID_PREFIX)
