"""Progress bars of file transfers (put, get, cp): rich, on stderr, only on a terminal and never with --json."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

from pytool.console import err, escape, options


def showing() -> bool:
    """Whether transfers show a progress bar in this run."""
    return err.is_terminal and not options.json


@contextlib.contextmanager
def transfer_bar(label: str, total: Callable[[], int | None]) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)` for a transfer of `total()` bytes (asked only when the bar is shown: it may cost a
    round trip to the board); the bar disappears when the transfer ends."""
    if not showing():
        yield lambda n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err.console,
        transient=True,
    ) as bar:
        task = bar.add_task(escape(label), total=total())
        yield lambda n: bar.advance(task, n)
