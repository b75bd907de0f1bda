"""What one over-the-air test leaves behind: its log files, the board output in its failure report, and JUnit
properties naming the boards it used.

A single-board run writes `LOG_DIR/<test>.log` (BLE operations, then the board's serial output). A run with
several boards writes one file per board, `LOG_DIR/<test>.<role>.log` (the test's BLE operations, each line
tagged with the board it concerns, then that board's serial output), and its failure reports carry one section
per board. Every test that used a board gets the JUnit properties `board.ROLE.port`, `board.ROLE.address` (when
known) and `board.ROLE.log`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from pytool.errors import PytoolError

if TYPE_CHECKING:
    from pytool.capture import SerialCapture
    from pytool.hil.boards import BoardSpec, HilBoard


class HilSettings(Protocol):
    """What the reports need of the plugin's settings (pytool.hil.plugin.HilSettings)."""

    log_dir: Path | None
    boards: Sequence[BoardSpec]

    @property
    def multi(self) -> bool: ...


REPORT_LINES = 40


@dataclass
class BoardUse:
    """One board as one test used it: where its serial output for this test starts."""

    board: HilBoard
    capture: SerialCapture
    start: int


@dataclass
class HilRecord:
    """What one test did: BLE operation lines and, per board it used, where its serial output starts."""

    nodeid: str
    boards: dict[str, BoardUse] = field(default_factory=dict)
    ble: list[str] = field(default_factory=list)

    def attach(self, board: HilBoard) -> None:
        """Record the board's output from its monitor's test start on (once per test)."""
        if board.role not in self.boards:
            monitor = board.monitor
            self.boards[board.role] = BoardUse(board, monitor.capture, monitor.test_start)


def _base_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


def log_path(settings: HilSettings, nodeid: str, role: str) -> Path | None:
    """Where the test's log for the board `role` goes (None without a log folder)."""
    if settings.log_dir is None:
        return None
    suffix = f".{role}" if settings.multi else ""
    return settings.log_dir / f"{_base_name(nodeid)}{suffix}.log"


def add_properties(item: pytest.Item, record: HilRecord, settings: HilSettings) -> None:
    """JUnit properties of the boards the test used: port, address (when known), log file."""
    present = {name for name, _ in item.user_properties}
    for role, use in record.boards.items():
        values = {"port": use.board.port, "address": _address(use.board), "log": log_path(settings, item.nodeid, role)}
        for key, value in values.items():
            name = f"board.{role}.{key}"
            if value is not None and name not in present:
                item.user_properties.append((name, str(value)))


def _address(board: HilBoard) -> str | None:
    try:
        return board.known_address
    except PytoolError:  # a simulator gone from the registry: the property is left out, the test result stands
        return None


def add_sections(report: pytest.TestReport, record: HilRecord, settings: HilSettings) -> None:
    """A failing test's report: the last serial lines of every board it used, and its BLE operations."""
    for role, use in record.boards.items():
        tail = use.capture.tail(REPORT_LINES, use.start)
        where = f"board {role} ({use.board.port}) " if settings.multi else "board "
        report.sections.append((f"{where}serial output (last {REPORT_LINES} lines)", tail or "(nothing)"))
    if record.ble:
        report.sections.append(("BLE operations", "\n".join(record.ble)))


def write_logs(item: pytest.Item, record: HilRecord, settings: HilSettings) -> None:
    """The test's log file(s): BLE operations and serial output (one file per board with several boards)."""
    if settings.log_dir is None:
        return
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    ble = "\n".join(record.ble) or "(none)"

    def write(path: Path | None, header: str, serial: str) -> None:
        if path is not None:
            path.write_text(f"{header}\n== BLE operations ==\n{ble}\n\n== board serial output ==\n{serial}\n")

    if not record.boards:
        role = settings.boards[0].role if settings.boards else "board"
        write(log_path(settings, item.nodeid, role), f"test: {item.nodeid}\n", "(the board's serial port was not used)")
        return
    for role, use in record.boards.items():
        header = f"test: {item.nodeid}\n"
        if settings.multi:
            header += f"board: {role} on {use.board.port}, address {_address(use.board) or 'unknown'}\n"
        write(log_path(settings, item.nodeid, role), header, use.capture.text(use.start))
