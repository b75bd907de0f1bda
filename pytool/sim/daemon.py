"""Simulator process entry: `python -m pytool.sim.daemon --board lopy4 [--name N] [--flash FILE] [--baud-pacing]`.

Builds the flash, the board, its front ends (pty + RFC2217), the control socket, its power switch (HTTP on
127.0.0.1, pytool.sim.power_switch) and (when present) the board's Bluetooth service; registers the simulator
(pytool.sim.registry) once everything is ready; cleans up on SIGTERM/SIGINT or a `stop` request.
`launch()` starts it as a background process and waits for its record.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytool.ble.address import bt_address
from pytool.boards import BoardModel, get_board
from pytool.errors import PytoolError, UsageError
from pytool.paths import data_home, state_dir
from pytool.sim import registry
from pytool.sim.board import SimBoard
from pytool.sim.control import ControlServer
from pytool.sim.flash_image import FlashImage
from pytool.sim.power_switch import PowerSwitch
from pytool.sim.rom import mac_for
from pytool.sim.serial_port import PtyPort, Rfc2217Port

log = logging.getLogger("pytool.sim")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes; keep a margin for socket names inside workdir


@dataclass
class SimConfig:
    """A validated simulator configuration."""

    name: str
    board: BoardModel
    flash: Path
    pacing: bool = False

    def argv(self) -> list[str]:
        """Arguments for `python -m pytool.sim.daemon`."""
        args = ["--board", self.board.key, "--name", self.name, "--flash", str(self.flash)]
        return [*args, "--baud-pacing"] if self.pacing else args


def default_flash_path(name: str) -> Path:
    """Where a simulator's flash image lives unless --flash says otherwise."""
    return data_home() / "sims" / name / "flash.bin"


def prepare(board: str, name: str | None = None, flash: str | Path | None = None, pacing: bool = False) -> SimConfig:
    """Check the options of `pytool sim start` (UsageError/PytoolError with a hint when they are wrong)."""
    catalogue_board = get_board(board)
    name = name or catalogue_board.key
    if not _NAME.match(name):
        raise UsageError(f"invalid simulator name '{name}'", "use letters, digits, '.', '_' or '-' (max 40)")
    if any(r.name == name for r in registry.running()):
        raise PytoolError(
            f"a simulator named '{name}' is already running",
            f"stop it with `pytool sim stop {name}` or choose another --name",
        )
    path = Path(flash).expanduser() if flash else default_flash_path(name)
    if flash:
        if path.is_dir():
            raise UsageError(f"--flash {path} is a directory", "pass the path of an image file")
        if path.exists():
            if not os.access(path, os.R_OK | os.W_OK):
                raise UsageError(f"cannot read and write the flash image {path}", "check its permissions")
            size = path.stat().st_size
            if size != catalogue_board.flash_size:
                raise UsageError(
                    f"flash image {path} is {size} bytes, but a {catalogue_board.title} has "
                    f"{catalogue_board.flash_size // 0x100000} MB ({catalogue_board.flash_size} bytes) of flash",
                    "pass an image of the right size, or a new file name to start from an erased flash",
                )
        elif not path.parent.is_dir():
            raise UsageError(f"the folder of --flash {path} does not exist", "create it or choose another path")
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.exists():
            path.chmod(0o600)  # the board's flash: the user's only (older pytools made it 0644)
    return SimConfig(name, catalogue_board, path.resolve(), pacing)


def efuse_mac(flash: Path, name: str, chip_revision: int) -> bytes:
    """The board's eFuse MAC, persisted beside its flash image (created from the simulator name once)."""
    path = flash.with_name(flash.stem + ".efuse.json")
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return bytes.fromhex(json.loads(path.read_text())["mac"].replace(":", ""))
    mac = mac_for(name)
    path.write_text(json.dumps({"mac": mac.hex(":"), "chip_revision": chip_revision}, indent=2) + "\n")
    return mac


def _workdir(name: str) -> Path:
    """Per-simulator scratch folder for sockets (short enough for AF_UNIX paths)."""
    path = state_dir() / "sims" / name
    if len(str(path)) > _UNIX_PATH_MAX - 20:
        path = Path(tempfile.mkdtemp(prefix=f"pytool-{name[:12]}-"))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)  # sockets, pty link and the interpreter's config: the user's only
    return path


async def serve(config: SimConfig, on_ready: Callable[[registry.SimRecord], None] | None = None) -> None:
    """Run one simulated board until SIGTERM/SIGINT or a `stop` request."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    workdir = _workdir(config.name)
    flash = FlashImage(config.flash, config.board.flash_size)
    mac = efuse_mac(config.flash, config.name, config.board.chip_revision)
    board = SimBoard(config.name, config.board, flash, mac, loop, workdir)
    pty = PtyPort(board, loop, config.pacing, link=workdir / "tty")
    rfc = Rfc2217Port(board, loop, config.pacing)
    board.attach(pty)
    board.attach(rfc)
    control = ControlServer(board, workdir / "control.sock", on_stop=stop.set)
    board.control = control  # other components add control operations through it
    power_switch = PowerSwitch(board, loop)
    record = None
    try:
        await control.start()
        power_switch.start()
        hci = await _install_bluetooth(board, loop)
        wifi = await _install_wifi(board)
        board.power_on()
        record = registry.SimRecord(
            name=config.name,
            board=config.board.key,
            pid=os.getpid(),
            pty=pty.port,
            rfc2217=rfc.url,
            control=str(control.path),
            hci=hci,
            bt_address=bt_address(mac) if hci else None,
            flash=str(config.flash),
            wifi=wifi,
            paced=config.pacing,
            power=power_switch.url,
        )
        registry.register(record)
        if on_ready is not None:
            on_ready(record)
        await stop.wait()
    finally:
        if record is not None:
            registry.unregister(config.name, os.getpid())
        await board.shutdown()
        for hook in getattr(board, "on_shutdown", []):
            result = hook()
            if inspect.isawaitable(result):
                await result
        await control.close()
        power_switch.close()
        pty.close()
        rfc.close()
        flash.close()
        shutil.rmtree(workdir, ignore_errors=True)  # scratch only: sockets and ptys of this run
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _install_bluetooth(board: SimBoard, loop: asyncio.AbstractEventLoop) -> str | None:
    try:
        from pytool.sim import bluetooth
    except ImportError:
        return None
    result = bluetooth.install(board, loop)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _install_wifi(board: SimBoard) -> dict | None:
    try:
        from pytool.sim import wifi
    except ImportError:
        return None
    return await wifi.install(board)


def launch(config: SimConfig, timeout: float = 30.0, env: dict[str, str] | None = None) -> registry.SimRecord:
    """Start the simulator as a background process (own session) and return its record once it is ready."""
    proc, log_path = spawn(config, env=env)
    return wait_for_record(config.name, proc, timeout, log_path)


def spawn(
    config: SimConfig, env: dict[str, str] | None = None, extra_args: Sequence[str] = ()
) -> tuple[subprocess.Popen, Path]:
    """Start `python -m pytool.sim.daemon` detached from the terminal (the same pytool as this process, whatever
    the working directory); its output goes to a log file."""
    env = dict(os.environ if env is None else env)
    log_path = Path(env.get("PYTOOL_STATE_DIR") or state_dir()) / "sims" / f"{config.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytool.sim.daemon", *config.argv(), *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    return proc, log_path


def wait_for_record(name: str, proc: subprocess.Popen, timeout: float, log_path: Path) -> registry.SimRecord:
    """Wait until the simulator process `proc` has registered (PytoolError if it exits or times out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in registry.running():
            if record.name == name and record.pid == proc.pid:
                return record
        if proc.poll() is not None:
            raise _startup_error(name, proc.returncode, log_path)
        time.sleep(0.02)
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    raise PytoolError(f"simulator '{name}' did not start within {timeout:.0f} s", f"see its log {log_path}")


def _startup_error(name: str, code: int, log_path: Path) -> PytoolError:
    lines = log_path.read_text(errors="replace").strip().splitlines() if log_path.exists() else []
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
    message = errors[-1] if errors else (lines[-1] if lines else f"exit code {code}")
    cls = UsageError if code == 2 else PytoolError
    return cls(f"simulator '{name}' failed to start: {message}")


def stop(record: registry.SimRecord, timeout: float = 10.0) -> None:
    """Stop a running simulator (SIGTERM, then SIGKILL after `timeout`) and drop its record."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    if not _wait_gone(record.pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        _wait_gone(record.pid, 5.0)
    registry.unregister(record.name, record.pid)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _alive(pid: int) -> bool:
    """Whether `pid` still runs. A child of ours counts until it is reaped (a zombie group leader can only be
    reaped once all its threads are gone); someone else's zombie counts as gone."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
        ours = True
    except ChildProcessError:
        ours = False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if ours:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytool.sim.daemon", description=__doc__.splitlines()[0])
    parser.add_argument("--board", required=True)
    parser.add_argument("--name")
    parser.add_argument("--flash")
    parser.add_argument("--baud-pacing", action="store_true")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(name)s: %(message)s")
    try:
        config = prepare(args.board, args.name, args.flash, args.baud_pacing)
        print(f"pytool sim {config.name}: {config.board.title}, flash {config.flash}", flush=True)
        asyncio.run(serve(config, on_ready=lambda r: print(json.dumps(r.to_json()), flush=True)))
    except PytoolError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
