"""A labgrid farm on 127.0.0.1 for the tests: a real `labgrid-coordinator`, a real `labgrid-exporter` serving the
YAML `pytool sim export` writes, and `labgrid-client` to create places and hold them as someone else.

Everything binds to 127.0.0.1; every process is started and stopped here, by its own pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Farm:
    """A running coordinator + exporter; `client(...)` runs labgrid-client against it."""

    def __init__(self, workdir: Path, exporter_yaml: Path, exporter_name: str = "pytool-sims") -> None:
        self.workdir = workdir
        self.address = f"127.0.0.1:{free_port()}"
        self.exporter_name = exporter_name
        self.procs: list[subprocess.Popen] = []
        self.exporter_yaml = exporter_yaml

    def start(self) -> None:
        exporter_name = self.exporter_name
        log = (self.workdir / "coordinator.log").open("w")
        self.coordinator = self._spawn([str(BIN / "labgrid-coordinator"), "--listen", self.address], log)
        self._wait(lambda: self.client("places", check=False).returncode == 0, "coordinator")
        log = (self.workdir / "exporter.log").open("w")
        self.exporter = self._spawn(
            [
                str(BIN / "labgrid-exporter"),
                "--coordinator",
                self.address,
                "--name",
                exporter_name,
                "--hostname",
                "127.0.0.1",
                str(self.exporter_yaml),
            ],
            log,
        )
        self._wait(lambda: exporter_name in self.client("resources", check=False).stdout, "exporter")

    def _spawn(self, argv: list[str], log) -> subprocess.Popen:
        proc = subprocess.Popen(argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        self.procs.append(proc)
        return proc

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"labgrid {what} did not come up; see {self.workdir}")
            time.sleep(0.3)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a client of this farm (coordinator address; no PYTOOL_PORT/PYTOOL_BLE)."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE", "LG_COORDINATOR")}
        return env | {"LG_COORDINATOR": self.address} | extra

    def client(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(
            [str(BIN / "labgrid-client"), *args], env=self.env(**env), capture_output=True, text=True, timeout=60
        )
        if check and run.returncode != 0:
            raise RuntimeError(f"labgrid-client {' '.join(args)}: {run.stdout}{run.stderr}")
        return run

    def add_place(self, place: str, group: str) -> None:
        self.client("-p", place, "create")
        self.client("-p", place, "add-match", f"{self.exporter_name}/{group}/*")

    def acquired(self) -> list[str]:
        """Names of the places that are acquired (by anyone)."""
        lines = self.client("who").stdout.splitlines()[1:]
        return [line.split()[2] for line in lines if line.strip()]

    def kill_coordinator(self) -> None:
        self.coordinator.kill()
        self.coordinator.wait(10)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                _stop(proc)


@contextlib.contextmanager
def running_farm(workdir: Path, exporter_yaml: Path) -> Iterator[Farm]:
    farm = Farm(workdir, exporter_yaml)
    try:
        farm.start()
        yield farm
    finally:
        farm.stop()


def pytool(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The pytool CLI in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytool", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


class ResetWires:
    """HTTP digital outputs `reset` (EN) and `boot` (IO0) wired to a simulator, as a GPIO relay box would be:
    releasing `reset` presses the simulator's reset with IO0 as `boot` holds it. Serves 127.0.0.1 only."""

    def __init__(self, control_socket: str) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from pytool.sim.control import SimControl

        wires = self
        self.state = {"reset": False, "boot": False}
        self.events: list[tuple[str, bool]] = []
        control = SimControl(control_socket)

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                name = self.path.strip("/")
                value = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode() == "1"
                if name not in wires.state:
                    self.send_error(404)
                    return
                was, wires.state[name] = wires.state[name], value
                wires.events.append((name, value))
                if name == "reset" and was and not value:
                    control.reset(bootloader=wires.state["boot"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                body = b"1" if wires.state.get(self.path.strip("/")) else b"0"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def exporter_yaml(self) -> str:
        """The two outputs as exporter resources (to append to a simulator's group)."""
        lines = []
        for name in ("reset", "boot"):
            lines += [
                f"  {name}:",
                "    cls: HttpDigitalOutput",
                f'    url: "http://127.0.0.1:{self.port}/{name}"',
                '    body_asserted: "1"',
                '    body_deasserted: "0"',
            ]
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
