"""pytest plugin for over-the-air tests against a real or simulated board (issue #9).

Registered through the `pytest11` entry point, so it is loaded in every pytest run of this environment; it
adds its command-line options and a `hil` marker, and nothing else happens until a test requests one of
its fixtures:

    board        the board's serial session (session scope): `exec`, `eval`, `reset`, and a capture of
                 everything it prints, with `board.expect(pattern, timeout)` and `board.count(pattern)`
    fresh_board  the same board, hard-reset before this test (Pycom's Bluetooth does not survive soft resets)
    ble_target   what identifies the board over the air (advertised name or address) and the scan timeout
    ble_device   the board's bleak BLEDevice, found by scanning
    ble_client   a connected bleak client, connected for this test and disconnected after it
    probe        device_lib's test probe on the board, read over serial

Several boards (tests that drive boards against each other, examples/lopy_to_lopy):

    boards          role -> `pytool.hil.boards.HilBoard` (session scope): its serial session and capture
                    (`boards["server"].expect(...)`, `.exec`, `.reset`, `.monitor`), target, Bluetooth address
    ble_client_for  `await ble_client_for(boards["server"])` (or a role): a bleak client connected to that
                    board, found by its address (boards advertising the same name are never confused)

The boards come from --board-port ROLE=PORT, repeated (a plain PORT fills the next [[boards]] role, else is
board0, board1, ...), and the `[[boards]]` list of pytool.toml (role, port, project); the single-board fixtures
above use the first board. Every test's log and failure report have each board's serial output, and its JUnit
properties name each board's port and address (`board.ROLE.port`, `board.ROLE.address`, `board.ROLE.log`).
--deploy deploys every board, in order, with its entry's `project` folder (else the run's project). The host
has one Bluetooth transport per run (bleak's backend is process-wide): --ble, else the first board's radio
(simulated boards share one), else PYTOOL_BLE or the OS stack. A runner hands boards over as
`pytool.hil.boards.board_port_options([(role, port), ...])`.

Options: --board-port (device path, URL or sim:NAME; the board is chosen by `pytool.ports.resolve_target`, as
every pytool command does: --board-port > PYTOOL_PORT > the project's pytool.toml > the single attached board),
--ble (a Bumble transport or sim:NAME; default, by `pytool.ports.ble_transport`: a simulated board's own
radio, else PYTOOL_BLE, else the OS Bluetooth stack), --ble-name / --ble-address (default: [ble] name of pytool.toml),
--deploy/--no-deploy (flash if needed, sync and reset the project before the tests; default --no-deploy),
--firmware (what --deploy flashes when the board runs other firmware), --hil-log-dir (default: next to the
--junitxml report). Every test that used the board gets a log of its serial output and BLE operations there,
and a failing one shows the board's last serial lines in its report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pytool.hil import reports
from pytool.hil.boards import BoardSpec, HilBoard, board_specs

try:  # async fixtures that also work in pytest-asyncio's strict mode (a project without asyncio_mode = auto)
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - pytest-asyncio is needed for async tests anyway
    async_fixture = pytest.fixture

if TYPE_CHECKING:
    from pytool.air import BleTarget, LoggedBleakClient
    from pytool.monitor import BoardMonitor
    from pytool.ports import Target


@dataclass
class HilSettings:
    """The plugin's options, completed from the project's pytool.toml."""

    project: Path | None
    board_port: str | None  # the (first) board's port value (None: the single attached board, found when needed)
    target: Target | None  # board_port resolved (None until a board is needed when no port is set)
    ble: str | None
    ble_name: str | None
    ble_address: str | None
    deploy: bool
    firmware: str | None
    scan_timeout: float
    boot_timeout: float
    log_dir: Path | None
    boards: list[BoardSpec] = field(default_factory=list)  # every board of the run, the first one is `board`

    @property
    def multi(self) -> bool:
        """Several boards: logs and reports name each board."""
        return len(self.boards) > 1


@dataclass
class HilState:
    settings: HilSettings | None = None
    handles: dict[str, HilBoard] = field(default_factory=dict)  # role -> board, made when first needed
    current: reports.HilRecord | None = None
    deployed: bool = False


_STATE = pytest.StashKey[HilState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pytool-hil", "over-the-air tests against a board (pytool.hil)")
    group.addoption(
        "--board-port",
        metavar="PORT",
        action="append",
        help="board's serial port: device path, pyserial URL or sim:NAME; ROLE=PORT, repeated, for several boards",
    )
    group.addoption("--ble", metavar="TRANSPORT", help="Bumble HCI transport (tcp-client:..., usb:0) or sim:NAME")
    group.addoption("--ble-name", metavar="NAME", help="the board's advertised name (default: [ble] name)")
    group.addoption("--ble-address", metavar="ADDR", help="the board's Bluetooth address (instead of the name)")
    group.addoption(
        "--deploy",
        action="store_true",
        default=False,
        help="deploy the project (flash if needed, sync, reset) before the tests",
    )
    group.addoption("--no-deploy", dest="deploy", action="store_false", help="test what is on the board (default)")
    group.addoption("--firmware", metavar="FILE|VERSION", help="firmware --deploy flashes if the board differs")
    group.addoption("--ble-scan-timeout", type=float, default=20.0, help="seconds to look for the board (20)")
    group.addoption("--boot-timeout", type=float, default=20.0, help="seconds for the board to boot (20)")
    group.addoption("--hil-log-dir", metavar="DIR", help="per-test logs (default: beside --junitxml)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hil: over-the-air test against a board (real or simulated)")
    config.stash[_STATE] = HilState()


def _project_dir(config: pytest.Config) -> Path | None:
    """The nearest folder holding pytool.toml, upwards from the first test path given to pytest."""
    for arg in config.args or [str(config.invocation_params.dir)]:
        path = Path(arg.split("::", 1)[0])
        path = path if path.is_absolute() else config.invocation_params.dir / path
        for folder in [path, *path.parents] if path.is_dir() else path.parents:
            if (folder / "pytool.toml").is_file():
                return folder
    return None


def _settings(config: pytest.Config) -> HilSettings:
    state = config.stash[_STATE]
    if state.settings is not None:
        return state.settings
    from pytool import config as project_config
    from pytool.ports import ble_transport, resolve_target

    option = config.option
    project = _project_dir(config)
    cfg = project_config.load(project) if project else None
    specs = board_specs(option.board_port, cfg)
    port = specs[0].port
    # a single board's port may come from PYTOOL_PORT or pytool.toml: resolve_target says so in Target.source
    given = port if len(specs) > 1 or specs[0].given else None
    target = resolve_target(given, cfg) if port else None
    ble = ble_transport(target, option.ble)
    log_dir = option.hil_log_dir or (
        str(Path(option.xmlpath).parent / "hil-logs") if getattr(option, "xmlpath", None) else None
    )
    state.settings = HilSettings(
        project=project,
        board_port=port,
        target=target,
        ble=ble,
        ble_name=option.ble_name or (cfg.ble_name if cfg else None),
        ble_address=option.ble_address,
        deploy=option.deploy,
        firmware=option.firmware,
        scan_timeout=option.ble_scan_timeout,
        boot_timeout=option.boot_timeout,
        log_dir=Path(log_dir) if log_dir else None,
        boards=specs,
    )
    return state.settings


def _fail(message: str) -> NoReturn:
    """Fail the test with this one line: no traceback, and not the exception being handled either."""
    failed = pytest.fail.Exception(message, pytrace=False)
    failed.__suppress_context__ = True
    raise failed


def _state(request: pytest.FixtureRequest) -> HilState:
    return request.config.stash[_STATE]


def _handle(config: pytest.Config, spec: BoardSpec) -> HilBoard:
    """The board of `spec` (its target resolved once; nothing is opened here)."""
    state = config.stash[_STATE]
    settings = _settings(config)
    if spec.role not in state.handles:
        from pytool import config as project_config
        from pytool.ports import resolve_target

        if spec.port is None and settings.multi:
            raise _usage(
                f"the board '{spec.role}' has no port",
                f'give --board-port {spec.role}=PORT, or port = "..." in its [[boards]] entry',
            )
        if spec is settings.boards[0] and settings.target is not None:
            target = settings.target
        else:
            target = resolve_target(spec.port, project_config.load(settings.project) if settings.project else None)
        state.handles[spec.role] = HilBoard(
            spec.role,
            spec.port or target.spec,
            target,
            spec.project,
            settings.boot_timeout,
        )
    return state.handles[spec.role]


def _usage(message: str, hint: str) -> Exception:
    from pytool.errors import UsageError

    return UsageError(message, hint)


def _open(request: pytest.FixtureRequest, spec: BoardSpec) -> HilBoard:
    """The board of `spec` with its serial session open and attached to the current test's record."""
    from pytool.errors import PytoolError

    try:
        board = _handle(request.config, spec)
        board.monitor.begin_test()
    except PytoolError as exc:
        _fail(str(exc))
    current = _state(request).current
    if current is not None:
        current.attach(board)
    return board


# ------------------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def hil_settings(request: pytest.FixtureRequest) -> Iterator[HilSettings]:
    """The plugin's settings: options completed from pytool.toml (deploys the project first with --deploy)."""
    from pytool.errors import PytoolError

    try:
        settings = _settings(request.config)
    except PytoolError as exc:
        _fail(str(exc))
    state = _state(request)
    if settings.ble:
        import pytool.ble

        os.environ[pytool.ble.ENV_VAR] = settings.ble  # plain bleak code gets pytool's Bumble backend
        pytool.ble.install()
    if settings.deploy and not state.deployed:
        state.deployed = True
        _deploy(settings, request.config)
    yield settings
    for board in state.handles.values():  # every serial session closes with the run
        board.close()


def _deploy(settings: HilSettings, config: pytest.Config) -> None:
    from pytool import deploy
    from pytool.errors import PytoolError
    from pytool.ports import ble_transport

    if settings.project is None:
        _fail("--deploy: no pytool.toml above the test paths, so no project to deploy")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def shower(role: str) -> Callable[[deploy.Step], None]:
        prefix = f"pytool deploy {role}:" if settings.multi else "pytool deploy:"

        def show(step: deploy.Step) -> None:
            if reporter is None:
                return
            with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                reporter.write_line(f"{prefix} {step.name:<10} {step.status:<8} {step.detail}")

        return show

    for spec in settings.boards:  # in [[boards]] order: a server before the client that looks for it
        project = spec.project or settings.project
        try:
            target = _handle(config, spec).target if settings.multi else settings.target
            ble = ble_transport(target, config.option.ble) if settings.multi else settings.ble  # the board's radio
            options = deploy.DeployOptions(firmware=settings.firmware, ble=ble)
            deploy.deploy(project, target, options=options, on_step=shower(spec.role))
        except PytoolError as exc:
            where = f" to the board '{spec.role}'" if settings.multi else ""
            _fail(f"deploying {project}{where} failed: {exc}")


@pytest.fixture(scope="session")
def board(request: pytest.FixtureRequest, hil_settings: HilSettings) -> BoardMonitor:
    """The board's serial session, with a capture of everything it prints (see pytool.monitor.BoardMonitor).
    With several boards: the first one's."""
    return _open(request, hil_settings.boards[0]).monitor


@pytest.fixture(scope="session")
def boards(request: pytest.FixtureRequest, hil_settings: HilSettings) -> dict[str, HilBoard]:
    """Every board of the run by role (`boards["server"]`), each with its serial session open and its Bluetooth
    address known: a real board reports it over serial, which resets it, so that happens here, before any test
    (a board that cannot tell is asked again, and fails the test, where a test needs its address)."""
    from pytool.errors import PytoolError

    try:  # every board's port resolved before any is opened: a missing one is the only line of the report
        for spec in hil_settings.boards:
            _handle(request.config, spec)
    except PytoolError as exc:
        _fail(str(exc))
    handles = {spec.role: _open(request, spec) for spec in hil_settings.boards}
    for board in handles.values():
        with contextlib.suppress(PytoolError, ValueError):
            _record_line(request.config, f"{board} advertises from {board.address}")
    return handles


@pytest.fixture
def fresh_board(board: BoardMonitor, hil_settings: HilSettings) -> BoardMonitor:
    """The board, hard-reset before this test and booted again (main.py has run)."""
    from pytool.errors import PytoolError

    try:
        board.reset(hard=True, boot_timeout=hil_settings.boot_timeout)
    except PytoolError as exc:
        _fail(str(exc))
    return board


@pytest.fixture(scope="session")
def ble_target(request: pytest.FixtureRequest, hil_settings: HilSettings) -> BleTarget:
    """What identifies the board over the air: --ble-address, or --ble-name given on the command line; else, with
    a serial link, the Bluetooth address the board reports (boards advertising the same name are never confused);
    else the [ble] name of pytool.toml.

    With a board port configured, the serial capture starts too, so every over-the-air test gets the board's
    serial output in its log and failure report."""
    from pytool.air import BleTarget

    address = hil_settings.ble_address
    if hil_settings.board_port:
        request.getfixturevalue("board")
        if not address and not request.config.option.ble_name:  # an explicit --ble-name: by name, as asked
            first = _handle(request.config, hil_settings.boards[0])
            address = _board_address(first)
            _log(request, f"board on {hil_settings.board_port} advertises from {address}")

    if not hil_settings.ble_name and not address:
        _fail('no BLE name: give --ble-name NAME or set [ble] name = "..." in pytool.toml')
    return BleTarget(hil_settings.ble_name, address, hil_settings.scan_timeout)


def _board_address(board: HilBoard) -> str:
    """The address the board advertises from (HilBoard.address), or the test fails with one line."""
    from pytool.errors import PytoolError

    try:
        return board.address
    except (PytoolError, ValueError) as exc:
        _fail(f"cannot read the Bluetooth address of {board} over serial: {exc}")


@async_fixture
async def ble_device(request: pytest.FixtureRequest, ble_target: BleTarget) -> Any:
    """The board's BLEDevice, found by scanning for `ble_target` (after `fresh_board` if the test uses it)."""
    if "fresh_board" in request.fixturenames:
        request.getfixturevalue("fresh_board")
    return await _find(request, ble_target)


async def _find(request: pytest.FixtureRequest, target: BleTarget, whose: str = "the board") -> Any:
    from pytool.air import find_device

    _log(request, f"scan for {target}")
    device = await find_device(target)
    if device is None:
        privacy = " A board with Bluetooth(pin=...) advertises from a random address: pass --ble-name." * bool(
            target.address
        )
        _fail(
            f"{whose} ({target}) did not advertise within {target.scan_timeout:g} s: is main.py "
            f"running and advertising? (see the board's serial output below){privacy}"
        )
    _log(request, f"found {device.address} ({device.name})")
    return device


@async_fixture
async def ble_client(request: pytest.FixtureRequest, ble_device: Any, hil_settings: HilSettings) -> AsyncIterator[Any]:
    """A bleak client connected to the board for this test, disconnected cleanly afterwards."""
    from pytool.air import LoggedBleakClient

    client = LoggedBleakClient(ble_device, log=lambda line: _log(request, line), timeout=hil_settings.scan_timeout)
    await client.connect()
    try:
        yield client
    finally:
        if client.is_connected:
            await client.disconnect()


@async_fixture
async def ble_client_for(
    request: pytest.FixtureRequest, boards: dict[str, HilBoard], hil_settings: HilSettings
) -> AsyncIterator[Callable[[HilBoard | str], Awaitable[LoggedBleakClient]]]:
    """`await ble_client_for(boards["server"])` (or the role): a bleak client connected to that board for this
    test, found by the board's own Bluetooth address; the same client again while it is connected.
    Every client is disconnected after the test."""
    from pytool.air import BleTarget, LoggedBleakClient

    clients: dict[str, LoggedBleakClient] = {}

    async def connect(which: HilBoard | str) -> LoggedBleakClient:
        board = boards.get(which) if isinstance(which, str) else which
        if board is None:
            _fail(f"ble_client_for({which!r}): no such board; the boards are {', '.join(boards)}")
        client = clients.get(board.role)
        if client is not None and client.is_connected:
            return client
        address = await asyncio.to_thread(_board_address, board)
        target = BleTarget(hil_settings.ble_name, address, hil_settings.scan_timeout)
        device = await _find(request, target, str(board))
        client = LoggedBleakClient(
            device, log=lambda line: _log(request, f"[{board.role}] {line}"), timeout=hil_settings.scan_timeout
        )
        await client.connect()
        clients[board.role] = client
        return client

    try:
        yield connect
    finally:
        for client in clients.values():
            if client.is_connected:
                with contextlib.suppress(Exception):
                    await client.disconnect()


@pytest.fixture
def probe(board: BoardMonitor) -> Any:
    """device_lib's test probe on the board, read over serial (see pytool.hil.probe)."""
    from pytool.hil.probe import Probe
    from pytool.monitor import MonitorError

    try:
        return Probe(board)
    except MonitorError as exc:
        _fail(
            f"cannot read device_lib's probe on the board ({exc.message}): is the project deployed with pytool "
            "(sync puts device_lib in /flash/lib) and does main.py use pytool_gatt?"
        )


def _log(request: pytest.FixtureRequest, line: str) -> None:
    _record_line(request.config, line)


def _record_line(config: pytest.Config, line: str) -> None:
    current = config.stash[_STATE].current
    if current is not None:
        current.ble.append(line)


# ------------------------------------------------------------------------------------------------------------
# per-test records, logs and failure reports (pytool.hil.reports)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash[_STATE]
    state.current = reports.HilRecord(item.nodeid)
    for board in state.handles.values():
        if board.opened:
            board.monitor.begin_test()
            state.current.attach(board)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    state = item.config.stash[_STATE]
    record = state.current
    ours = record is not None and record.nodeid == item.nodeid and state.settings is not None
    if ours and call.when == "teardown" and record.boards:
        reports.add_properties(item, record, state.settings)  # before the report copies the properties
    outcome = yield
    if not ours or (not record.boards and not record.ble):
        return
    report: pytest.TestReport = outcome.get_result()
    if report.failed:
        reports.add_sections(report, record, state.settings)
    if report.when == "teardown" or (report.when == "setup" and report.failed):
        reports.write_logs(item, record, state.settings)
