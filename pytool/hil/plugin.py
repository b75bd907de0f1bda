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

import contextlib
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

try:  # async fixtures that also work in pytest-asyncio's strict mode (a project without asyncio_mode = auto)
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - pytest-asyncio is needed for async tests anyway
    async_fixture = pytest.fixture

if TYPE_CHECKING:
    from pytool.air import BleTarget
    from pytool.capture import SerialCapture
    from pytool.monitor import BoardMonitor
    from pytool.ports import Target

REPORT_LINES = 40


@dataclass
class HilSettings:
    """The plugin's options, completed from the project's pytool.toml."""

    project: Path | None
    board_port: str | None  # the port value chosen (None: the single attached board, found when needed)
    target: Target | None  # board_port resolved (None until a board is needed when no port is set)
    ble: str | None
    ble_name: str | None
    ble_address: str | None
    deploy: bool
    firmware: str | None
    scan_timeout: float
    boot_timeout: float
    log_dir: Path | None


@dataclass
class HilRecord:
    """What one test did: BLE operation lines and where its serial output starts."""

    nodeid: str
    serial_start: int | None = None
    capture: SerialCapture | None = None
    ble: list[str] = field(default_factory=list)


@dataclass
class HilState:
    settings: HilSettings | None = None
    board: BoardMonitor | None = None
    current: HilRecord | None = None
    deployed: bool = False


_STATE = pytest.StashKey[HilState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pytool-hil", "over-the-air tests against a board (pytool.hil)")
    group.addoption("--board-port", metavar="PORT", help="board's serial port: device path, pyserial URL or sim:NAME")
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
    from pytool.ports import ble_transport, choose_port, resolve_target

    option = config.option
    project = _project_dir(config)
    cfg = project_config.load(project) if project else None
    port, _source = choose_port(option.board_port, cfg)
    target = resolve_target(option.board_port, cfg) if port else None
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
    )
    return state.settings


def _state(request: pytest.FixtureRequest) -> HilState:
    return request.config.stash[_STATE]


# ------------------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def hil_settings(request: pytest.FixtureRequest) -> HilSettings:
    """The plugin's settings: options completed from pytool.toml (deploys the project first with --deploy)."""
    from pytool.errors import PytoolError

    try:
        settings = _settings(request.config)
    except PytoolError as exc:
        pytest.fail(str(exc), pytrace=False)
    state = _state(request)
    if settings.ble:
        import pytool.ble

        os.environ[pytool.ble.ENV_VAR] = settings.ble  # plain bleak code gets pytool's Bumble backend
        pytool.ble.install()
    if settings.deploy and not state.deployed:
        state.deployed = True
        _deploy(settings, request.config)
    return settings


def _deploy(settings: HilSettings, config: pytest.Config) -> None:
    from pytool import deploy
    from pytool.errors import PytoolError

    if settings.project is None:
        pytest.fail("--deploy: no pytool.toml above the test paths, so no project to deploy", pytrace=False)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def show(step: deploy.Step) -> None:
        if reporter is None:
            return
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(f"pytool deploy: {step.name:<10} {step.status:<8} {step.detail}")

    options = deploy.DeployOptions(firmware=settings.firmware, ble=settings.ble)
    try:
        deploy.deploy(settings.project, settings.target, options=options, on_step=show)
    except PytoolError as exc:
        pytest.fail(f"deploying {settings.project} failed: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def board(request: pytest.FixtureRequest, hil_settings: HilSettings) -> Iterator[BoardMonitor]:
    """The board's serial session, with a capture of everything it prints (see pytool.monitor.BoardMonitor)."""
    from pytool.errors import PytoolError
    from pytool.monitor import BoardMonitor

    try:
        session = BoardMonitor(hil_settings.target)
    except PytoolError as exc:
        pytest.fail(str(exc), pytrace=False)
    state = _state(request)
    state.board = session
    session.begin_test()
    if state.current is not None:
        state.current.serial_start = session.test_start
        state.current.capture = session.capture
    yield session
    state.board = None
    session.close()


@pytest.fixture
def fresh_board(board: BoardMonitor, hil_settings: HilSettings) -> BoardMonitor:
    """The board, hard-reset before this test and booted again (main.py has run)."""
    from pytool.errors import PytoolError

    try:
        board.reset(hard=True, boot_timeout=hil_settings.boot_timeout)
    except PytoolError as exc:
        pytest.fail(str(exc), pytrace=False)
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
        board = request.getfixturevalue("board")
        if not address and not request.config.option.ble_name:  # an explicit --ble-name: by name, as asked
            address = _board_ble_address(request, hil_settings, board)

    if not hil_settings.ble_name and not address:
        pytest.fail('no BLE name: give --ble-name NAME or set [ble] name = "..." in pytool.toml', pytrace=False)
    return BleTarget(hil_settings.ble_name, address, hil_settings.scan_timeout)


def _board_ble_address(request: pytest.FixtureRequest, settings: HilSettings, board: BoardMonitor) -> str:
    """The address the board on the serial link advertises from: a simulator's registry record, else read from
    the board (its base MAC, pytool.ble.address); reading interrupts main.py, so the board is hard-reset after."""
    from pytool.ble.address import read_ble_address, simulator_ble_address
    from pytool.errors import PytoolError

    target = settings.target
    try:
        address = simulator_ble_address(f"sim:{target.sim}") if target is not None and target.sim else None
        if address is None:
            address = read_ble_address(board.exec)
            board.reset(hard=True, boot_timeout=settings.boot_timeout)
    except (PytoolError, ValueError) as exc:
        pytest.fail(f"cannot read the board's Bluetooth address over serial: {exc}", pytrace=False)
    _log(request, f"board on {settings.board_port} advertises from {address}")
    return address


@async_fixture
async def ble_device(request: pytest.FixtureRequest, ble_target: BleTarget) -> Any:
    """The board's BLEDevice, found by scanning for `ble_target` (after `fresh_board` if the test uses it)."""
    from pytool.air import find_device

    if "fresh_board" in request.fixturenames:
        request.getfixturevalue("fresh_board")
    _log(request, f"scan for {ble_target}")
    device = await find_device(ble_target)
    if device is None:
        privacy = " A board with Bluetooth(pin=...) advertises from a random address: pass --ble-name." * bool(
            ble_target.address
        )
        pytest.fail(
            f"the board ({ble_target}) did not advertise within {ble_target.scan_timeout:g} s: is main.py "
            f"running and advertising? (see the board's serial output below){privacy}",
            pytrace=False,
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


@pytest.fixture
def probe(board: BoardMonitor) -> Any:
    """device_lib's test probe on the board, read over serial (see pytool.hil.probe)."""
    from pytool.hil.probe import Probe
    from pytool.monitor import MonitorError

    try:
        return Probe(board)
    except MonitorError as exc:
        pytest.fail(
            f"cannot read device_lib's probe on the board ({exc.message}): is the project deployed with pytool "
            "(sync puts device_lib in /flash/lib) and does main.py use pytool_gatt?",
            pytrace=False,
        )


def _log(request: pytest.FixtureRequest, line: str) -> None:
    current = _state(request).current
    if current is not None:
        current.ble.append(line)


# ------------------------------------------------------------------------------------------------------------
# per-test records, logs and failure reports


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash[_STATE]
    state.current = HilRecord(item.nodeid)
    if state.board is not None:
        state.board.begin_test()
        state.current.serial_start = state.board.test_start
        state.current.capture = state.board.capture


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    state = item.config.stash[_STATE]
    record = state.current
    if record is None or record.nodeid != item.nodeid:
        return
    if record.capture is None and not record.ble:
        return
    if report.failed:
        if record.capture is not None and record.serial_start is not None:
            tail = record.capture.tail(REPORT_LINES, record.serial_start)
            report.sections.append((f"board serial output (last {REPORT_LINES} lines)", tail or "(nothing)"))
        if record.ble:
            report.sections.append(("BLE operations", "\n".join(record.ble)))
    if report.when == "teardown" or (report.when == "setup" and report.failed):
        _write_log(item, state, record, report)


def _write_log(item: pytest.Item, state: HilState, record: HilRecord, report: pytest.TestReport) -> None:
    settings = state.settings
    if settings is None or settings.log_dir is None:
        return
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid).strip("_")[:150]
    serial = (
        record.capture.text(record.serial_start)
        if record.capture is not None and record.serial_start is not None
        else "(the board's serial port was not used)"
    )
    text = (
        f"test: {item.nodeid}\n\n== BLE operations ==\n"
        + ("\n".join(record.ble) or "(none)")
        + f"\n\n== board serial output ==\n{serial}\n"
    )
    (settings.log_dir / f"{name}.log").write_text(text)
