"""`pytool deploy`: put a project on a board and make sure it runs, step by step.

firmware   flash the project's firmware when the board runs something else (a version in pytool.toml is
           built on the fly for a simulated board; a real board needs the archive: `--firmware FILE`)
check      compile-check and Pycom API check for the board's firmware (errors stop the deploy)
sync       the project and device_lib/ onto /flash (only what changed)
reset      hard reset: boot.py and main.py run as after power-on
advertise  wait until the board advertises its [ble] name over the air

Each step reports one `Step`; the CLI prints one line per step.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytool import config as project_config
from pytool import port_lock, repl
from pytool.errors import PytoolError, UsageError
from pytool.ports import Target, ble_transport, resolve_target

BOOT_TIMEOUT = 20.0
ADVERTISE_TIMEOUT = 20.0
PROBE_TIMEOUT = 4.0
MAIN_TIMEOUT = 5.0  # after a reset, wait this long for main.py to return to the REPL (it may loop forever)


@dataclass
class Step:
    """One deploy step: `status` is "ok" (nothing to do), "done" (changed something), "warning" or "skipped"."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # details behind the one line (check warnings)


@dataclass
class DeployResult:
    project: str
    port: str
    steps: list[Step] = field(default_factory=list)
    address: str | None = None  # the Bluetooth address the board advertises from, when it was read

    def to_json(self) -> dict:
        return asdict(self) | {"ok": True}


@dataclass
class DeployOptions:
    firmware: str | None = None  # archive path or version; default: pytool.toml's `firmware`
    flash: bool = True  # False: never flash, only report a mismatch
    check: bool = True
    reset: bool = True
    advertise: bool = True
    ble: str | None = None  # PYTOOL_BLE for the advertise step (sim:NAME for a simulator)
    boot_timeout: float = BOOT_TIMEOUT
    advertise_timeout: float = ADVERTISE_TIMEOUT


StepSink = Callable[[Step], None]


def deploy(
    project: Path,
    target: Target | str | None = None,
    options: DeployOptions | None = None,
    on_step: StepSink = lambda _step: None,
) -> DeployResult:
    """Deploy `project` to the `target` board. A port value (or None) is resolved with the project's settings by
    `pytool.ports.resolve_target` (command line > PYTOOL_PORT > pytool.toml > the single attached board)."""
    options = options or DeployOptions()
    cfg = project_config.load(project)
    resolved = target if isinstance(target, Target) else resolve_target(target, cfg)
    result = DeployResult(str(cfg.root), resolved.spec)

    def run(name: str, action: Callable[[], tuple]) -> None:
        started = time.monotonic()
        status, detail, *notes = action()
        step = Step(name, status, detail, round(time.monotonic() - started, 2), notes[0] if notes else [])
        result.steps.append(step)
        on_step(step)

    running: dict[str, str] = {}
    with port_lock.hold(resolved.url):  # the board is ours from the firmware check to the reset
        run("firmware", lambda: _firmware_step(cfg, resolved, options, running))
        run("check", lambda: _check_step(cfg, running) if options.check else ("skipped", "--no-check"))
        run("sync", lambda: _sync_step(cfg, resolved))
        # the board's own Bluetooth address (before the reset: reading it interrupts what runs), so that the
        # advertise step finds this board and not another one advertising the same name (issue 17)
        wanted = options.advertise and cfg.ble_name and options.reset
        address = _board_ble_address(resolved) if wanted else None
        result.address = address
        run("reset", lambda: _reset_step(resolved, options) if options.reset else ("skipped", "--no-reset"))
    if not options.advertise:
        run("advertise", lambda: ("skipped", "--no-advertise"))
    elif not cfg.ble_name:
        run("advertise", lambda: ("skipped", "no [ble] name in pytool.toml"))
    else:
        ble = ble_transport(resolved, options.ble)
        run("advertise", lambda: _advertise_step(cfg.ble_name or "", ble, options.advertise_timeout, address))
    return result


# --------------------------------------------------------------------------------------------- firmware


def running_firmware(target: Target | str, timeout: float = PROBE_TIMEOUT) -> tuple[str, str, str] | None:
    """(flavour, board name, version) of the firmware the board runs, from its REPL banner; None if none answers.

    Interrupts whatever runs (Ctrl-C) and asks the friendly REPL for its banner (Ctrl-B), as Pymakr does."""
    from pytool.firmware import identify
    from pytool.monitor import BoardMonitor

    with BoardMonitor(target) as board:
        mark = board.capture.position
        board.write(repl.ASK_BANNER)
        found = board.capture.search(r"(?:Pycom )?MicroPython .* with ESP32", mark, timeout)
    ident = identify(found[0].group(0).encode()) if found else None
    return (ident.flavour, ident.board_name, ident.version) if ident else None


def _wanted(cfg: project_config.ProjectConfig, options: DeployOptions) -> tuple[str | None, Path | None]:
    """(version, archive path) the project wants; either may be None."""
    spec = options.firmware or cfg.firmware
    if not spec:
        return None, None
    path = Path(spec) if Path(spec).is_absolute() else cfg.root / spec
    if path.exists():
        from pytool.firmware import load_firmware

        fw = load_firmware(path)
        return (fw.identity.version if fw.identity else None), path
    if options.firmware and ("/" in spec or spec.endswith((".gz", ".tar", ".bin"))):
        raise UsageError(f"firmware file {spec} does not exist", "give a Pycom archive (.tar.gz) or a version")
    return spec, None


def simulator_firmware(board_key: str, version: str) -> Path:
    """Firmware for a simulated board, built once by `pytool firmware build` logic and cached: a Pycom archive, or
    for a generic ESP32 (`board = "esp32"`) the stock MicroPython image."""
    from pytool.boards import get_board
    from pytool.firmware.build import archive_name, build_micropython_image, build_pycom_archive, write_archive
    from pytool.paths import data_home

    board = get_board(board_key)
    if not board.is_pycom:
        image = data_home() / "firmware" / f"micropython-esp32-{version.lstrip('v')}.bin"
        if not image.is_file():
            image.parent.mkdir(parents=True, exist_ok=True)
            tmp = image.with_name(f".tmp-{image.name}")
            tmp.write_bytes(build_micropython_image(version.lstrip("v")))
            tmp.replace(image)
        return image
    path = data_home() / "firmware" / archive_name(board, version)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")  # same suffix: write_archive gzips a .tar.gz
        write_archive(build_pycom_archive(board.key, version), tmp)
        tmp.replace(path)
    return path


def _firmware_step(cfg: project_config.ProjectConfig, resolved: Target, options: DeployOptions, running: dict) -> tuple:
    version, archive = _wanted(cfg, options)
    have = running_firmware(resolved)
    if have is not None:
        running.update(flavour=have[0], board=have[1], version=have[2])
    have_text = f"{have[1]} {have[2]}" if have else "no firmware answering"
    if version is None and archive is None:
        if have is None:
            raise PytoolError(
                f"no firmware answers on {resolved.spec} and pytool.toml names none to flash",
                'set firmware = "1.20.2.r4" (or an archive path) in pytool.toml, or pass --firmware',
            )
        return "ok", f"{have_text} (pytool.toml names no firmware)"
    board_ok = not cfg.board or have is None or _board_name(cfg.board).lower() == have[1].lower()
    if have is not None and version == have[2] and board_ok:
        return "ok", f"{have_text} (as the project wants)"
    if not options.flash:
        raise PytoolError(f"the board runs {have_text}, the project wants {version}", "deploy without --no-flash")
    if archive is None:
        if resolved.sim is None:
            raise PytoolError(
                f"the board runs {have_text}, the project wants {version}",
                "pass --firmware ARCHIVE (the Pycom .tar.gz of that version) to flash it",
            )
        board_key = cfg.board or resolved.board or ""
        archive = simulator_firmware(board_key, version or "")
    from pytool.firmware import load_firmware
    from pytool.flash import FlashOptions, flash
    from pytool.transports import require_serial

    require_serial(resolved.spec, "flashing")
    fw = load_firmware(archive)
    outcome = flash(fw, resolved, FlashOptions(board=cfg.board))
    if fw.identity is not None:
        running.update(flavour=fw.identity.flavour, board=fw.identity.board_name, version=fw.identity.version)
    written = sum(1 for r in outcome.regions if r.action == "written")
    return "done", f"flashed {Path(archive).name} ({written} regions written; was: {have_text})"


def _board_name(key: str) -> str:
    from pytool.boards import get_board

    return get_board(key).name


# --------------------------------------------------------------------------------------------- check, sync


def _check_step(cfg: project_config.ProjectConfig, running: dict) -> tuple[str, str]:
    from pytool import check, sync

    files = sync.collect(cfg, include_device_lib=False)
    target = check.target_from(running.get("flavour"), running.get("version") or cfg.firmware)
    report = check.check_files(((f.source, f.rel) for f in files), target)
    if report.errors:
        raise PytoolError(
            f"`pytool check` found {len(report.errors)} error(s) for {target.label} (above)",
            "fix them (or deploy with --no-check)",
            [str(f) for f in report.errors],
        )
    if not report.findings:
        return "ok", f"{report.files} file(s) for {target.label}: no problems"
    codes = Counter(f.code for f in report.findings)
    summary = ", ".join(f"{code} x{n}" for code, n in codes.items())
    detail = (
        f"{report.files} file(s) for {target.label}: {len(report.findings)} warning(s) ({summary}; see `pytool check`)"
    )
    return "warning", detail, [str(f) for f in report.findings]


def _sync_step(cfg: project_config.ProjectConfig, target: Target) -> tuple[str, str]:
    from pytool import sync
    from pytool.board import BoardSession

    files = sync.collect(cfg)
    with BoardSession.connect(target) as board:
        _plan, result, _seconds = sync.sync(board, files)
    if not result.uploaded and not result.deleted:
        return "ok", f"{result.unchanged} files already on the board"
    return "done", (
        f"{len(result.uploaded)} uploaded ({result.payload_bytes} bytes), {len(result.deleted)} deleted, "
        f"{result.unchanged} unchanged"
    )


# --------------------------------------------------------------------------------------------- reset, advertise


def _reset_step(target: Target, options: DeployOptions) -> tuple[str, str]:
    from pytool.board_errors import last_traceback
    from pytool.monitor import BoardMonitor

    with BoardMonitor(target) as board:
        booted = board.reset(hard=True, boot_timeout=options.boot_timeout, main_timeout=MAIN_TIMEOUT)
        crash = last_traceback(board.capture.text())
    if crash:
        exception, where = crash
        raise PytoolError(
            f"main.py failed after the reset: {exception}" + (f" ({where})" if where else ""),
            "fix it and deploy again; `pytool repl` shows what the board prints",
        )
    if booted:
        return "done", "hard reset, boot.py and main.py ran"
    return "done", f"hard reset, main.py still running after {MAIN_TIMEOUT:g} s (a main loop)"


def _board_ble_address(target: Target) -> str | None:
    """The address the `target` board advertises from (a simulator's record, else read over serial); None if it
    cannot be read (the advertise step then looks for the name alone)."""
    from pytool.ble.address import read_ble_address, simulator_ble_address
    from pytool.monitor import BoardMonitor

    try:
        address = simulator_ble_address(f"sim:{target.sim}") if target.sim else None
        if address is None:
            with BoardMonitor(target) as board:
                address = read_ble_address(board.exec)
    except (PytoolError, ValueError, OSError):
        return None
    return address


def _advertise_step(name: str, ble: str | None, timeout: float, address: str | None = None) -> tuple[str, str]:
    started = time.monotonic()
    heard = _find_advertiser(name, ble, timeout, address)
    if heard is None:
        raise PytoolError(
            f"the board{f' ({address})' if address else ''} did not advertise '{name}' within {timeout:g} s",
            "check main.py starts advertising (`pytool repl` shows its errors) and the [ble] name in pytool.toml",
        )
    heard_address, heard_name = heard
    if address and heard_name not in (None, name):
        raise PytoolError(
            f"the board ({address}) advertises as '{heard_name}', not '{name}'",
            "set the [ble] name in pytool.toml to what main.py advertises",
        )
    return "ok", f"'{name}' seen at {heard_address} after {time.monotonic() - started:.1f} s"


def _find_advertiser(name: str, ble: str | None, timeout: float, address: str | None) -> tuple[str, str | None] | None:
    """(address, advertised name) of the board's first advertisement heard on `ble` (else PYTOOL_BLE, else the OS
    stack through bleak); None if it did not advertise within `timeout` s. A radio on TCP (a simulator's) is
    scanned by pytool.ble.raw_scan, without importing bleak and Bumble (issue 17)."""
    import pytool.ble
    from pytool.ble import raw_scan

    spec = ble or pytool.ble.configured()
    transport = pytool.ble.resolve_transport(spec) if spec else None
    if transport is not None and raw_scan.handles(transport):
        heard = raw_scan.find_advertiser(transport, name, address, timeout)
        return (heard.address, heard.name) if heard else None
    from pytool.air import BleTarget, find_device

    previous = os.environ.get(pytool.ble.ENV_VAR)
    if ble:
        os.environ[pytool.ble.ENV_VAR] = ble
    if pytool.ble.configured():  # a Bumble dongle; else bleak's OS backend
        pytool.ble.install()
    try:
        device = asyncio.run(find_device(BleTarget(name, address, timeout)))
    finally:
        if ble:
            if previous is None:
                os.environ.pop(pytool.ble.ENV_VAR, None)
            else:
                os.environ[pytool.ble.ENV_VAR] = previous
    return (device.address, device.name) if device else None


# --------------------------------------------------------------------------------------------- pytool test


@contextlib.contextmanager
def throwaway_sim(board_key: str, role: str = "") -> Iterator[str]:
    """A simulated board for one run (erased flash in a temporary folder), stopped afterwards; yields sim:NAME.
    Several at once (one per `role` of a multi-board project) share the simulators' radio."""
    from pytool import sim

    with tempfile.TemporaryDirectory(prefix="pytool-test-") as tmp:
        name = f"test-{board_key}-{os.getpid()}" + (f"-{role}" if role else "")
        config = sim.prepare(board_key, name, Path(tmp) / "flash.bin")
        record = sim.launch(config)
        try:
            yield f"sim:{record.name}"
        finally:
            sim.stop(record)


@dataclass
class TestRun:
    """Where `pytool test` ran the project's tests and what came out."""

    command: list[str]
    exit_code: int
    junit: str
    logs: str

    def to_json(self) -> dict:
        return asdict(self)


def tests_dir(project: Path) -> Path:
    """The project's over-the-air tests: tests/hil (UsageError if there are none)."""
    folder = project.resolve() / "tests" / "hil"
    if not folder.is_dir():
        raise UsageError(f"{project} has no tests/hil folder", "put the over-the-air tests (pytest + bleak) there")
    return folder


def run_tests(
    project: Path,
    target: Target,
    junit: Path | None = None,
    pytest_args: Sequence[str] = (),
    stdout: int | None = None,
    roles: Sequence[tuple[str, str]] = (),
) -> TestRun:
    """Run the project's tests/hil with the pytool.hil plugin against the `target` board; pytest's exit code.

    The plugin gets the target's port and Bluetooth transport as options (the command line wins there too).
    With `roles` ((role, port) of every board of a multi-board project, `target` the first) the plugin gets them
    all and deploys each board's own project itself, in order (`--deploy`).
    labgrid's own pytest plugin is left out unless `pytest_args` ask for it (`labgrid_plugin_args`); so are
    hypothesis', anyio's and platformdirs' unless the run uses them (`hypothesis_plugin_args`,
    `dependency_plugin_args`)."""
    from pytool.hil.boards import board_port_options

    root = project.resolve()
    junit = (junit or root / ".pytool" / "results" / "junit.xml").resolve()
    junit.parent.mkdir(parents=True, exist_ok=True)
    boards = [*board_port_options(roles), "--deploy"] if roles else ["--board-port", target.spec, "--no-deploy"]
    command = [sys.executable, "-m", "pytest", str(tests_dir(root)), *boards]
    ble = ble_transport(target)
    if ble:
        command += ["--ble", ble]
    # pytest-asyncio >= 0.24 warns in every run of a project that does not set its fixtures' loop scope
    command += [
        *labgrid_plugin_args(pytest_args),
        *hypothesis_plugin_args(pytest_args),
        *dependency_plugin_args(root, pytest_args),
        "--junitxml",
        str(junit),
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    ]
    command += pytest_args
    code = subprocess.call(command, cwd=root, stdout=stdout)
    return TestRun(command, code, str(junit), str(junit.parent / "hil-logs"))


def labgrid_plugin_args(pytest_args: Sequence[str]) -> list[str]:
    """`-p no:labgrid` unless the user's pytest arguments use labgrid's plugin (an `--lg-...` option; `-p labgrid`
    after it turns it back on by itself). Installed with pytool[labgrid], that plugin claims the fixture names
    `env`, `target` and `strategy`: a test asking for one of them that the project does not define would be
    skipped ("missing environment config") instead of failing with "fixture 'target' not found"."""
    return [] if any(str(arg).startswith("--lg-") for arg in pytest_args) else ["-p", "no:labgrid"]


def hypothesis_plugin_args(pytest_args: Sequence[str]) -> list[str]:
    """`-p no:hypothesispytest` unless the user's pytest arguments use it (a `--hypothesis-...` option; `-p
    hypothesispytest` after it turns it back on by itself). Installed with pytool[dev], its autoloading imports all
    of hypothesis and rewrites its asserts: ~1 s of CPU in every board's test run (issue 17), for statistics and
    options only (tests written with hypothesis run without it)."""
    return [] if any(str(arg).startswith("--hypothesis-") for arg in pytest_args) else ["-p", "no:hypothesispytest"]


PROJECT_CONFIG_FILES = ("conftest.py", "pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini")

#: pytest plugins that come with pytool's own dependencies (anyio with watchfiles; platformdirs with bumble and
#: mpremote) and autoload in every run: `pytool test` leaves them out unless the project's tests use them.
DEPENDENCY_PLUGINS = ("anyio", "platformdirs")


def dependency_plugin_args(project: Path, pytest_args: Sequence[str]) -> list[str]:
    """`-p no:NAME` for each of DEPENDENCY_PLUGINS that neither the project's tests (every file under tests/, its
    conftest and pytest configuration) nor the pytest arguments mention (anyio's `anyio` marker and `anyio_backend`
    fixture, platformdirs' `platformdirs_isolated` fixture; `-p NAME` after it turns it back on by itself).
    Importing them and rewriting the asserts of their ~40 modules is ~0.25 s of CPU per board in
    `pytool test --all` (issue 17), for tests pytest-asyncio runs."""
    folder = project / "tests"
    texts = [str(arg) for arg in pytest_args]
    for path in [
        *(project / name for name in PROJECT_CONFIG_FILES),
        *(folder.rglob("*.py") if folder.is_dir() else ()),
    ]:
        with contextlib.suppress(OSError):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return [
        arg for name in DEPENDENCY_PLUGINS if not any(name in text for text in texts) for arg in ("-p", f"no:{name}")
    ]
