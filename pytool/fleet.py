"""Many boards at once: `pytool deploy --all` and `pytool test --all` (issues 17 and 21). Guide: docs/parallel.md.

Which boards (`select_boards`): every `--port` given, else the labgrid places matching `--places GLOB`, else
the `[[boards]]` list of pytool.toml, else every attached board and running simulator (`pytool devices`).

How (`run_fleet`): one child `pytool -p PORT deploy|test DIR ...` process per board, all started at once. A
child is the ordinary CLI, so each board gets exactly what a single run gets (its port lock, its labgrid place
acquired and released, its own pytest process and Bluetooth client), and a crash on one board cannot reach the
others. Each child writes everything it prints to `LOGS/SLUG/run.log` and its steps as JSON lines to
`LOGS/SLUG/events.jsonl` (the file PYTOOL_FLEET_EVENTS names; `report` writes there); `pytool test` puts the
board's JUnit report and per-test logs (`hil-logs/`) in the same folder. LOGS defaults to DIR/.pytool/fleet.

The parent shows one live line per board, then a summary table (`show_fleet`); with `--json` it prints one
object per board instead. The exit code is the worst board's (`worst_exit_code`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytool.errors import PytoolError, UsageError

if TYPE_CHECKING:
    from pytool.config import ProjectConfig

EVENTS_ENV = "PYTOOL_FLEET_EVENTS"
POLL_SECONDS = 0.25
INTERRUPT_AFTER = 2.0  # s after the parent's Ctrl-C: children still running get one of their own
STOP_GRACE = 30.0  # s the children get to end (and release their places) before they are terminated
DEPLOY_STEPS = ("firmware", "check", "sync", "reset", "advertise")


def report(event: str, **data: Any) -> None:
    """In a child of `run_fleet`: append one event (a JSON line) to the file PYTOOL_FLEET_EVENTS names; outside
    a fleet run it does nothing."""
    path = os.environ.get(EVENTS_ENV)
    if not path:
        return
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as events:
        events.write(json.dumps({"event": event, **data}, default=str) + "\n")


@contextlib.contextmanager
def not_inherited() -> Iterator[None]:
    """While a child of `run_fleet` starts processes of its own (pytest), they do not get PYTOOL_FLEET_EVENTS: a
    `pytool` they run must not report into this board's events."""
    path = os.environ.pop(EVENTS_ENV, None)
    try:
        yield
    finally:
        if path is not None:
            os.environ[EVENTS_ENV] = path


# ------------------------------------------------------------------------------------------------ which boards


@dataclass(frozen=True)
class FleetBoard:
    """One board of a fleet run: its port value and, from [[boards]], its role."""

    port: str
    role: str | None = None
    project: Path | None = None  # the folder this board gets ([[boards]] `project`); None: the command's own

    @property
    def label(self) -> str:
        return f"{self.role} ({self.port})" if self.role else self.port

    @property
    def slug(self) -> str:
        """A folder name for the board's logs."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.port).strip("_.") or "board"


def select_boards(
    ports: Sequence[str],
    config: ProjectConfig | None,
    places: str | None = None,
    comports: Callable[[], Iterable] | None = None,
) -> list[FleetBoard]:
    """The boards of `--all`: `ports` (every --port), else the labgrid places matching the glob `places`, else the
    project's [[boards]], else every attached board and running simulator (`comports` lists the serial ports;
    default: the system's)."""
    entries = {entry.port: entry for entry in config.boards if entry.port} if config is not None else {}

    def board(port: str) -> FleetBoard:
        entry = entries.get(port)
        return FleetBoard(port, entry.role, entry.project) if entry is not None else FleetBoard(port)

    if ports and places:
        raise UsageError("--port and --places both name the boards of --all", "give one of them")
    if ports:
        return [board(port) for port in dict.fromkeys(ports)]
    if places:
        from pytool.farm.labgrid import coordinator_address, place_names

        names = place_names(places)
        if not names:
            raise PytoolError(
                f"no labgrid place matches '{places}' on coordinator {coordinator_address()}",
                "`labgrid-client places` lists them; check the pattern (shell-style: bench-*)",
            )
        return [board(f"labgrid:{name}") for name in names]
    if config is not None and config.boards:
        for number, entry in enumerate(config.boards):
            if not entry.port:
                raise UsageError(
                    f"[[boards]] entry {entry.role or f'board{number}'} in {config.root} has no port",
                    'give it port = "..." in pytool.toml, or name the boards of --all with --port',
                )
        return [board(entry.port) for entry in config.boards if entry.port]
    from pytool.ports import list_devices

    found = list_devices(comports=comports) if comports is not None else list_devices()
    boards = [FleetBoard(device.port) for device in found if device.reset != "none"]
    if not boards:
        raise PytoolError(
            "no board found for --all",
            "plug boards in or start simulators (`pytool sim start`), list them as [[boards]] in pytool.toml, "
            "or give --port several times",
        )
    return boards


# ------------------------------------------------------------------------------------------------ one board's run


@dataclass
class BoardRun:
    """One board's child process, its files and what it reported."""

    board: FleetBoard
    folder: Path
    command: list[str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    ended: float | None = None
    exit_code: int | None = None
    events: list[dict] = field(default_factory=list)
    started_wall: float = 0.0  # time.time() at the start (a JUnit report older than that is a previous run's)

    @property
    def log(self) -> Path:
        return self.folder / "run.log"

    @property
    def events_file(self) -> Path:
        return self.folder / "events.jsonl"

    @property
    def junit(self) -> Path:
        return self.folder / "junit.xml"

    @property
    def running(self) -> bool:
        return self.exit_code is None

    @property
    def duration(self) -> float:
        return round((self.ended or time.monotonic()) - self.started, 1) if self.started else 0.0

    @property
    def steps(self) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "event"} for e in self.events if e["event"] == "step"]

    @property
    def address(self) -> str | None:
        """The board's Bluetooth address: as its deploy read it, else as the pytest plugin logged it."""
        found = [e.get("address") for e in self.events if e["event"] == "deploy" and e.get("address")]
        if found:
            return found[-1]
        for log in sorted((self.folder / "hil-logs").glob("*.log")):
            with contextlib.suppress(OSError):
                match = re.search(r"advertises from ([0-9A-Fa-f:]{17})", log.read_text(errors="replace"))
                if match:
                    return match.group(1).upper()
        return None

    @property
    def phase(self) -> str:
        """What the board is doing now (the deploy step running, "tests") or how it ended."""
        if not self.running:
            return self.status
        phase = "starting"
        for event in self.events:
            if event["event"] == "phase":
                phase = str(event.get("name"))
            elif event["event"] == "step" and event.get("name") in DEPLOY_STEPS:
                later = DEPLOY_STEPS[DEPLOY_STEPS.index(event["name"]) + 1 :]
                phase = later[0] if later else "deployed"
        if phase == "tests":  # the plugin writes one log per test as it ends
            done = len(list((self.folder / "hil-logs").glob("*.log")))
            return f"tests ({done} done)" if done else phase
        return phase

    @property
    def status(self) -> str:
        """running, ok, failed, or killed (the child died of a signal)."""
        if self.exit_code is None:
            return "running"
        if self.proc is not None and self.proc.returncode is not None and self.proc.returncode < 0:
            return f"killed ({signal.Signals(-self.proc.returncode).name})"
        return "ok" if self.exit_code == 0 else "failed"

    def poll(self) -> None:
        """Read what the child reported; note its end."""
        with contextlib.suppress(OSError):
            lines = self.events_file.read_text(encoding="utf-8", errors="replace").splitlines()
            events = []
            for line in lines:
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict) and isinstance(event.get("event"), str):
                        events.append(event)
            self.events = events
        if self.proc is not None and self.exit_code is None and self.proc.poll() is not None:
            self.ended = time.monotonic()
            code = self.proc.returncode
            self.exit_code = 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell reports

    def last_line(self, width: int = 200) -> str:
        """The last line the child printed (for the live view)."""
        try:
            with open(self.log, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
                tail = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        return lines[-1][:width] if lines else ""

    def error(self) -> str | None:
        """The child's one-line error ("Error: ..."), when it ended with one."""
        if self.exit_code in (None, 0):
            return None
        with contextlib.suppress(OSError):
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
            errors = [line.strip() for line in lines if line.startswith("Error:")]
            if errors:
                return errors[-1].removeprefix("Error:").strip()
        if self.status.startswith("killed"):
            return f"the board's run was {self.status}"
        return None

    def tests(self) -> dict[str, int] | None:
        """Counts of the board's test outcomes from its JUnit report (None when there is none)."""
        if not self.junit.is_file() or self.junit.stat().st_mtime < self.started_wall:
            return None
        import xml.etree.ElementTree as ET

        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        try:
            cases = list(ET.parse(self.junit).getroot().iter("testcase"))
        except (ET.ParseError, OSError):
            return None
        for case in cases:
            kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            counts[{"failure": "failed"}.get(kinds[0], kinds[0]) if kinds else "passed"] += 1
        return counts

    def to_json(self) -> dict:
        return {
            "port": self.board.port,
            "role": self.board.role,
            "address": self.address,
            "status": self.status,
            "exit_code": self.exit_code,
            "duration": self.duration,
            "started_at": _iso(self.started_wall) if self.started_wall else None,
            "ended_at": _iso(self.started_wall + self.duration) if self.ended else None,
            "steps": self.steps,
            "tests": self.tests(),
            "error": self.error(),
            "log": str(self.log),
            "junit": str(self.junit) if self.junit.is_file() else None,
        }


def _iso(wall: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


def _folders(boards: Sequence[FleetBoard], logs: Path) -> list[Path]:
    """One log folder per board (slugs made unique)."""
    seen: dict[str, int] = {}
    folders = []
    for board in boards:
        slug = board.slug
        seen[slug] = seen.get(slug, 0) + 1
        folders.append(logs / (slug if seen[slug] == 1 else f"{slug}-{seen[slug]}"))
    return folders


def _fresh(folder: Path) -> None:
    """Empty what a previous run left in a board's folder (only the files a run writes)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("run.log", "events.jsonl", "junit.xml"):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    shutil.rmtree(folder / "hil-logs", ignore_errors=True)


def child_command(command: str, board: FleetBoard, project: Path, args: Sequence[str], folder: Path) -> list[str]:
    """The `pytool` run of one board: `pytool -p PORT COMMAND DIR [--junit FOLDER/junit.xml] ARGS`."""
    from pytool.console import options

    line = [sys.executable, "-m", "pytool", "-p", board.port, *(["--debug"] if options.debug else []), command]
    line.append(str(board.project or project))
    if command == "test":
        line += ["--junit", str(folder / "junit.xml")]
    return [*line, *args]


def run_fleet(
    command: str,
    project: Path,
    boards: Sequence[FleetBoard],
    args: Sequence[str] = (),
    logs: Path | None = None,
    on_tick: Callable[[list[BoardRun]], None] = lambda _runs: None,
) -> list[BoardRun]:
    """Run `pytool COMMAND PROJECT ARGS` on every board at once, one child process each; returns when all ended.

    `on_tick(runs)` is called about four times a second while they run (the live view). Ctrl-C reaches the
    children too (same process group); they get STOP_GRACE seconds to end (and release their places)."""
    logs = (logs or project / ".pytool" / "fleet").resolve()
    runs = []
    for board, folder in zip(boards, _folders(boards, logs), strict=True):
        _fresh(folder)
        runs.append(BoardRun(board, folder, child_command(command, board, project, args, folder)))
    try:
        for run in runs:
            env = os.environ | {EVENTS_ENV: str(run.events_file), "COLUMNS": "160"}
            env.pop("PYTOOL_PORT", None)
            with open(run.log, "wb") as log:
                run.started, run.started_wall = time.monotonic(), time.time()
                run.proc = subprocess.Popen(run.command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=project)
        while True:
            for run in runs:
                run.poll()
            on_tick(runs)
            if not any(run.running for run in runs):
                return runs
            time.sleep(POLL_SECONDS)
    except BaseException:
        _stop(runs)
        raise


def _stop(runs: list[BoardRun]) -> None:
    """After Ctrl-C or an error in the parent: give the children time to end by themselves (a Ctrl-C at the
    terminal reached them too), then pass them a Ctrl-C, then terminate what is left after STOP_GRACE seconds."""
    started = time.monotonic()
    interrupted = False
    while any(run.proc is not None and run.proc.poll() is None for run in runs):
        waited = time.monotonic() - started
        if waited > STOP_GRACE:
            for run in runs:
                if run.proc is not None and run.proc.poll() is None:
                    run.proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        run.proc.wait(10)
            break
        if waited > INTERRUPT_AFTER and not interrupted:
            interrupted = True
            for run in runs:
                if run.proc is not None and run.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        run.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(POLL_SECONDS)
    for run in runs:
        run.poll()


def worst_exit_code(runs: Sequence[BoardRun]) -> int:
    """The exit code of the worst board: the highest (a signal death counts as 128 + N)."""
    return max((run.exit_code or 0 for run in runs), default=0)
