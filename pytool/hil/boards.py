"""The boards of an over-the-air test run: which ones (roles and ports), and a handle per board.

One board is the common case: `--board-port PORT` (or PYTOOL_PORT, pytool.toml's `port`, the single attached
board) and the plugin's single-board fixtures. Several boards come from `--board-port ROLE=PORT` repeated, or a
`[[boards]]` list in pytool.toml (a role each, maybe a port and a project folder of its own): `board_specs` turns
both into one ordered list of `BoardSpec`, and `HilBoard` is what the `boards[ROLE]` fixture hands to a test
(serial session with a capture, resolved target, Bluetooth address, project).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytool.config import ROLE_NAME
from pytool.errors import UsageError

if TYPE_CHECKING:
    import re

    from pytool.config import ProjectConfig
    from pytool.monitor import BoardMonitor
    from pytool.ports import Target

#: The role of a board given without one (`--board-port PORT`): board0, board1, ...
DEFAULT_ROLE = "board{}"


@dataclass(frozen=True)
class BoardSpec:
    """One board of the run before anything is opened: its role, port value (None: the single attached board)
    and the project folder deployed to it (None: the run's project)."""

    role: str
    port: str | None
    project: Path | None = None
    given: bool = False  # the port came from the command line


def parse_board_port(value: str) -> tuple[str | None, str]:
    """`ROLE=PORT` -> (ROLE, PORT); a plain PORT (also a URL holding '=', e.g. `telnet://h?user=x`) -> (None, PORT)."""
    role, sep, port = value.partition("=")
    if sep and port and ROLE_NAME.fullmatch(role):
        return role, port
    return None, value


def board_specs(
    values: Sequence[str] | None,
    cfg: ProjectConfig | None,
    environ: Mapping[str, str] | None = None,
) -> list[BoardSpec]:
    """The boards of a run, in order, from `--board-port` values and the project's `[[boards]]` list.

    `ROLE=PORT` sets that role's port (a role the `[[boards]]` list does not have is refused when there is a
    list); a plain PORT fills the next `[[boards]]` role without a port from the command line, or becomes
    board0, board1, ... A run with no `[[boards]]` and at most one plain port is a single-board run: its port
    follows pytool's precedence (--board-port > PYTOOL_PORT > pytool.toml `port` > the single attached board).
    """
    from pytool.ports import choose_port

    given = [parse_board_port(value) for value in values or ()]
    entries = list(cfg.boards) if cfg is not None else []
    if not entries and len(given) <= 1 and all(role is None for role, _ in given):
        port, _source = choose_port(given[0][1] if given else None, cfg, environ)
        return [BoardSpec(DEFAULT_ROLE.format(0), port, given=bool(given))]
    specs: dict[str, BoardSpec] = {}
    for number, entry in enumerate(entries):
        role = entry.role or DEFAULT_ROLE.format(number)
        specs[role] = BoardSpec(role, entry.port, entry.project)
    for role, port in given:
        if role is None:
            continue
        if entries and role not in specs:
            raise UsageError(
                f"--board-port {role}={port}: no board has the role '{role}' in [[boards]] of {cfg.root}/pytool.toml",
                f"roles there: {', '.join(specs)}",
            )
        previous = specs.get(role)
        if previous is not None and previous.given:
            raise UsageError(f"--board-port names the role '{role}' twice", "give each role one port")
        specs[role] = BoardSpec(role, port, previous.project if previous else None, given=True)
    for port in (port for role, port in given if role is None):
        if not entries:
            role = DEFAULT_ROLE.format(len(specs))
            specs[role] = BoardSpec(role, port, given=True)
            continue
        free = next((spec for spec in specs.values() if not spec.given), None)
        if free is None:
            raise UsageError(
                f"--board-port {port}: every role of [[boards]] already has a port",
                "name the role: --board-port ROLE=PORT",
            )
        specs[free.role] = BoardSpec(free.role, port, free.project, given=True)
    return list(specs.values())


def board_port_options(ports: Sequence[tuple[str, str]]) -> list[str]:
    """The pytest options that hand these (role, port value) boards to the plugin, in this order: what a runner
    such as `pytool test` passes to `pytest` for a multi-board project."""
    options: list[str] = []
    for role, port in ports:
        if not ROLE_NAME.fullmatch(role):
            raise UsageError(f"'{role}' is not a board role", "a role is letters, digits, '_' or '-'")
        options += ["--board-port", f"{role}={port}"]
    return options


@dataclass
class HilBoard:
    """One board of the run, as `boards[ROLE]` hands it to a test.

    `monitor` is its serial session (pytool.monitor.BoardMonitor: a capture of everything it prints, `exec`,
    `reset`), opened on first use; `address` its Bluetooth address (a simulator's registry record, else read
    from the board over serial); `expect`, `count`, `exec`, `eval`, `reset` and `output` are the monitor's."""

    role: str
    port: str
    target: Target
    project: Path | None = None
    boot_timeout: float = 20.0
    _monitor: BoardMonitor | None = field(default=None, repr=False)
    _address: str | None = field(default=None, repr=False)

    @property
    def opened(self) -> bool:
        return self._monitor is not None

    @property
    def monitor(self) -> BoardMonitor:
        """The board's serial session (opened now if it was not)."""
        if self._monitor is None:
            from pytool.monitor import BoardMonitor

            self._monitor = BoardMonitor(self.target)
        return self._monitor

    @property
    def known_address(self) -> str | None:
        """The address if known without talking to the board (read before, or a simulator's record)."""
        if self._address is None and self.target.sim:
            from pytool.ble.address import simulator_ble_address

            self._address = simulator_ble_address(f"sim:{self.target.sim}")
        return self._address

    @property
    def address(self) -> str:
        """The Bluetooth address the board advertises from. Read over serial for a real board: that interrupts
        main.py, so the board is hard-reset afterwards (once per run: the address is kept)."""
        if self.known_address is None:
            from pytool.ble.address import read_ble_address

            self._address = read_ble_address(self.monitor.exec)
            self.monitor.reset(hard=True, boot_timeout=self.boot_timeout)
        assert self._address is not None
        return self._address

    # the monitor's commands, so that tests write boards["server"].expect(...)
    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until the board prints a line matching `pattern` (see BoardMonitor.expect)."""
        __tracebackhide__ = True
        return self.monitor.expect(pattern, timeout)

    def count(self, pattern: str) -> int:
        """How often `pattern` occurs in what the board printed since the test started."""
        return self.monitor.count(pattern)

    def exec(self, code: str, timeout: float = 10.0) -> str:
        """Run code in the board's raw REPL; what it printed."""
        return self.monitor.exec(code, timeout)

    def eval(self, expression: str, timeout: float = 10.0) -> Any:
        """A Python literal-valued expression evaluated on the board."""
        return self.monitor.eval(expression, timeout)

    def reset(self, hard: bool = True, main_timeout: float | None = None) -> bool:
        """Reset the board and wait for it to boot (True once main.py returned to the REPL)."""
        return self.monitor.reset(hard=hard, boot_timeout=self.boot_timeout, main_timeout=main_timeout)

    @property
    def output(self) -> str:
        """Everything the board printed since the current test started."""
        return self.monitor.output

    def close(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.close()

    def __str__(self) -> str:
        return f"board {self.role} ({self.port})"
