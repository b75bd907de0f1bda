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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytool import config as project_config
from pytool.errors import PytoolError, UsageError

BOOT_TIMEOUT = 20.0
ADVERTISE_TIMEOUT = 20.0
PROBE_TIMEOUT = 4.0


@dataclass
class Step:
    """One deploy step: `status` is "ok" (nothing to do), "done" (changed something) or "skipped"."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0


@dataclass
class DeployResult:
    project: str
    port: str
    steps: list[Step] = field(default_factory=list)

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
    port: str | None = None,
    firmware: str | None = None,
    options: DeployOptions | None = None,
    on_step: StepSink = lambda _step: None,
) -> DeployResult:
    """Deploy `project` to the board at `port` (default: pytool.toml's port, else the single attached board)."""
    from pytool.ports import resolve_port

    options = options or DeployOptions()
    if firmware:
        options.firmware = firmware
    cfg = project_config.load(project)
    resolved = resolve_port(port or cfg.port)
    result = DeployResult(str(cfg.root), resolved.spec)

    def run(name: str, action: Callable[[], tuple[str, str]]) -> None:
        started = time.monotonic()
        status, detail = action()
        step = Step(name, status, detail, round(time.monotonic() - started, 2))
        result.steps.append(step)
        on_step(step)

    running: dict[str, str] = {}
    run("firmware", lambda: _firmware_step(cfg, resolved, options, running))
    run("check", lambda: _check_step(cfg, running) if options.check else ("skipped", "--no-check"))
    run("sync", lambda: _sync_step(cfg, resolved.spec))
    run("reset", lambda: _reset_step(resolved.spec, options) if options.reset else ("skipped", "--no-reset"))
    if options.advertise and cfg.ble_name:
        ble = options.ble or (resolved.spec if resolved.sim else None)
        run("advertise", lambda: _advertise_step(cfg.ble_name or "", ble, options.advertise_timeout))
    else:
        run("advertise", lambda: ("skipped", "no [ble] name in pytool.toml"))
    return result


# --------------------------------------------------------------------------------------------- firmware


def running_firmware(port: str) -> tuple[str, str, str] | None:
    """(flavour, board name, version) of the firmware the board runs, or None if no REPL answers."""
    from pytool.board import Board

    try:
        with Board.connect(port, timeout=PROBE_TIMEOUT) as board:
            caps = board.capabilities()
    except PytoolError:
        return None
    return caps.flavour, caps.sysname, caps.release


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
    """A Pycom archive for a simulated board, built once by `pytool firmware build` logic and cached."""
    from pytool.boards import get_board
    from pytool.firmware_build import archive_name, build_pycom_archive, write_archive
    from pytool.paths import data_home

    board = get_board(board_key)
    path = data_home() / "firmware" / archive_name(board, version)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_archive(build_pycom_archive(board.key, version), tmp)
        tmp.replace(path)
    return path


def _firmware_step(cfg: project_config.ProjectConfig, resolved, options: DeployOptions, running: dict) -> tuple:
    version, archive = _wanted(cfg, options)
    have = running_firmware(resolved.spec)
    if have is not None:
        running.update(flavour=have[0], board=have[1], version=have[2])
    have_text = f"{have[1]} {have[2]}" if have else "no firmware answering"
    if version is None and archive is None:
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
        board_key = cfg.board or _sim_board(resolved.sim)
        archive = simulator_firmware(board_key, version or "")
    from pytool.firmware import load_firmware
    from pytool.flash import FlashOptions, flash

    fw = load_firmware(archive)
    outcome = flash(fw, resolved, FlashOptions(board=cfg.board))
    ident = fw.identity
    running.update(flavour=ident.flavour, board=ident.board_name, version=ident.version) if ident else None
    written = sum(1 for r in outcome.regions if r.action == "written")
    return "done", f"flashed {Path(archive).name} ({written} regions written; was: {have_text})"


def _board_name(key: str) -> str:
    from pytool.boards import get_board

    return get_board(key).name


def _sim_board(name: str) -> str:
    from pytool.sim import registry

    return registry.find(name).board


# --------------------------------------------------------------------------------------------- check, sync


def _check_step(cfg: project_config.ProjectConfig, running: dict) -> tuple[str, str]:
    raise PytoolError("the check step needs `pytool sync` (issue #8), which has not landed yet")


def _sync_step(cfg: project_config.ProjectConfig, port: str) -> tuple[str, str]:
    raise PytoolError("the sync step needs `pytool sync` (issue #8), which has not landed yet")


# --------------------------------------------------------------------------------------------- reset, advertise


def _reset_step(port: str, options: DeployOptions) -> tuple[str, str]:
    from pytool.hil.board import HilBoard

    with HilBoard(port) as board:
        booted = board.reset(hard=True, boot_timeout=options.boot_timeout)
        printed = [line for line in board.capture.text().splitlines() if line.strip()]
    errors = [line for line in printed if line.startswith("Traceback (most recent call last)")]
    if errors:
        raise PytoolError(f"main.py failed after the reset: {errors[-1]}", "run `pytool repl` to see the traceback")
    return "done", "hard reset, boot.py and main.py ran" if booted else "hard reset, main.py is running"


def _advertise_step(name: str, ble: str | None, timeout: float) -> tuple[str, str]:
    import pytool.ble
    from pytool.hil.ble import BleTarget, find_device

    previous = os.environ.get(pytool.ble.ENV_VAR)
    if ble:
        os.environ[pytool.ble.ENV_VAR] = ble
        pytool.ble.install()
    try:
        started = time.monotonic()
        device = asyncio.run(find_device(BleTarget(name, None, timeout)))
    finally:
        if ble:
            if previous is None:
                os.environ.pop(pytool.ble.ENV_VAR, None)
            else:
                os.environ[pytool.ble.ENV_VAR] = previous
    if device is None:
        raise PytoolError(
            f"the board did not advertise '{name}' within {timeout:g} s",
            "check main.py starts advertising (`pytool repl` shows its errors) and the [ble] name in pytool.toml",
        )
    return "ok", f"'{name}' seen at {device.address} after {time.monotonic() - started:.1f} s"


# --------------------------------------------------------------------------------------------- pytool test


@contextlib.contextmanager
def throwaway_sim(board_key: str) -> Iterator[str]:
    """A simulated board for one run (erased flash in a temporary folder), stopped afterwards; yields sim:NAME."""
    from pytool.sim import daemon

    with tempfile.TemporaryDirectory(prefix="pytool-test-") as tmp:
        config = daemon.prepare(board_key, f"test-{board_key}-{os.getpid()}", Path(tmp) / "flash.bin")
        record = daemon.launch(config)
        try:
            yield f"sim:{record.name}"
        finally:
            daemon.stop(record)


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
    port: str,
    ble: str | None = None,
    junit: Path | None = None,
    pytest_args: Sequence[str] = (),
    stdout: int | None = None,
) -> TestRun:
    """Run the project's tests/hil with the pytool.hil plugin against the board at `port`; pytest's exit code."""
    root = project.resolve()
    junit = (junit or root / ".pytool" / "results" / "junit.xml").resolve()
    junit.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", str(tests_dir(root)), "--board-port", port, "--no-deploy"]
    if ble:
        command += ["--ble", ble]
    command += ["--junitxml", str(junit), "-o", "asyncio_mode=auto", *pytest_args]
    code = subprocess.call(command, cwd=root, stdout=stdout)
    return TestRun(command, code, str(junit), str(junit.parent / "hil-logs"))
