"""`pytool watch`: Pymakr 2's development mode. On every save: check the changed files (a syntax error is shown,
nothing is uploaded and the board keeps running the old code), stop the running program (Ctrl-C), upload only
what changed (sync's plan and staged, verified uploads: every file old or new), restart as configured, and
stream the board's output in between. A board that resets keeps being streamed; a board that disappears (cable,
power) is waited for and, once back, synced and restarted.

The loop is split so that it can be driven step by step: `Watcher.process(paths)` handles one batch of changed
paths, `Watcher.pump(seconds)` streams output; `run` feeds them from a watchfiles watcher thread.

Restart modes (`watch_restart` in pytool.toml, `--restart`):
  main  re-run main.py in the running interpreter (the project's modules are imported afresh; no reset, so
        Pycom's Bluetooth stack keeps working), the default, as Pymakr 2's "restart script";
  soft  soft reset (Ctrl-D): boot.py and main.py run again;
  hard  machine.reset(): the board reboots.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import serial

from pytool import repl
from pytool.board import BoardSession, literal
from pytool.config import ProjectConfig
from pytool.errors import PytoolError, UsageError
from pytool.ports import Target

RESTART_CHOICES = ("main", "soft", "hard")
DEBOUNCE_MS = 300  # a save that writes several files (or delete + create) is one batch
RECONNECT_EVERY = 1.0  # seconds between attempts to reach a board that went away

#: Run main.py afresh in the raw REPL: the project's modules (those with a file on the board) are forgotten first,
#: so an edited module is imported again; firmware modules stay.
RUN_MAIN = (
    "for _pt_n in list(sys.modules):\n"
    " _pt_f = getattr(sys.modules[_pt_n], '__file__', None)\n"
    " if _pt_f and (_pt_st(_pt_f) or _pt_st(_pt_p(_pt_f))):\n"
    "  del sys.modules[_pt_n]\n"
    "gc.collect()\n"
    "exec(open(%s).read(), {'__name__': '__main__'})\n"
)

Say = Callable[[str], None]
Write = Callable[[bytes], None]


@dataclass
class BatchResult:
    """What one batch of changes did."""

    changed: list[str] = field(default_factory=list)  # project paths (relative to the sync folder)
    errors: list[str] = field(default_factory=list)  # check errors that stopped the upload
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    restart: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


class _RawOutput:
    """Board output of a program run in the raw REPL: stdout, EOT, stderr, EOT, '>' - shown without the markers."""

    def __init__(self, write: Write, say: Say) -> None:
        self.write, self.say = write, say
        self.eots = 0
        self.errors = b""

    def feed(self, data: bytes) -> None:
        while data:
            if self.eots >= 2:
                return  # the prompt after the program ended (and anything a reset board prints is not ours)
            head, eot, data = data.partition(repl.EOT)
            if self.eots == 0:
                self.write(head)
            else:
                self.errors += head
            if eot:
                self.eots += 1
                if self.eots == 2:
                    text = self.errors.decode("utf-8", "replace").strip()
                    self.say(f"main.py raised: {text}" if text else "main.py ended")


class Watcher:
    """One board running one project under `pytool watch`."""

    def __init__(
        self,
        config: ProjectConfig,
        resolve: Callable[[], Target],
        restart: str = "main",
        say: Say = lambda _: None,
        write: Write = lambda _: None,
        replace: bool = False,
    ) -> None:
        if restart not in RESTART_CHOICES:
            raise PytoolError(f"unknown restart mode {restart!r}", f"use one of {', '.join(RESTART_CHOICES)}")
        self.config, self.resolve, self.restart_mode = config, resolve, restart
        self.say, self.write, self.replace = say, write, replace
        self.board: BoardSession | None = None
        self.known: set[str] = set()  # the project's files as of the last sync
        self.raw: _RawOutput | None = None  # set while main.py runs in the raw REPL
        self.check_target = None
        self.blocked = False  # the project has check errors: nothing is uploaded until they are fixed

    # ------------------------------------------------------------------ connection
    def connect(self) -> None:
        """Open the board, sync the whole project (check first) and start it."""
        from pytool import check

        self.board = BoardSession.connect(self.resolve())
        caps = self.board.capabilities()
        if self.check_target is None:
            self.say(f"watching {self.config.sync_root} -> {self.board.target.spec} ({caps.label}); Ctrl-C stops")
        self.check_target = check.target_from(caps.flavour, caps.release)
        self.blocked = False
        if not self._check_failed(None):
            self._sync()
            self._restart()

    def close(self) -> None:
        """Release the board (it keeps running what it runs)."""
        board, self.board = self.board, None
        if board is not None:
            board.close(exit_raw=self.raw is None)

    def _reconnect(self, why: str, stop: threading.Event | None = None) -> None:
        """The board went away: wait until it is back (a new port of a simulator included), then sync and start."""
        from mpremote.transport import TransportError

        self.say(f"lost the board: {why}; waiting for it to come back (Ctrl-C stops)")
        with contextlib.suppress(Exception):
            self.close()
        self.raw = None
        while stop is None or not stop.is_set():
            time.sleep(RECONNECT_EVERY)
            try:
                self.connect()
            except UsageError:
                raise
            except (PytoolError, serial.SerialException, OSError, TransportError):
                with contextlib.suppress(Exception):
                    self.close()
                continue
            self.say("the board is back")
            return

    # ------------------------------------------------------------------ one batch
    def relevant(self, paths: Iterable[Path]) -> tuple[list[str], dict]:
        """The project files among `paths` (changed, added or deleted), and the project's files now."""
        from pytool import sync

        files = {f.rel: f for f in sync.collect(self.config)}
        root = self.config.sync_root.resolve()
        changed = set()
        for path in paths:
            with contextlib.suppress(ValueError):
                rel = Path(path).resolve().relative_to(root).as_posix()
                if rel in files or rel in self.known:
                    changed.add(rel)
        return sorted(changed), files

    def process(self, paths: Iterable[Path]) -> BatchResult | None:
        """Handle one batch of changed paths: check, stop, upload what changed, restart. None when none of them
        is a project file. A check error is reported and nothing else happens (the board runs on)."""
        changed, files = self.relevant(paths)
        if not changed:
            return None
        result = BatchResult(changed=changed)
        result.errors = self._check_failed(None if self.blocked else changed, files)
        if result.errors:
            return result
        outcome = self._sync()
        result.uploaded, result.deleted = outcome.result.uploaded, outcome.result.deleted
        result.restart = self._restart()
        return result

    def _check_failed(self, changed: list[str] | None, files: dict | None = None) -> list[str]:
        """`pytool check` of the changed .py files (None: of the whole project): its errors, each said, and
        while there are any nothing is uploaded."""
        from pytool import check, sync
        from pytool.paths import device_lib_dir

        if files is None:
            files = {f.rel: f for f in sync.collect(self.config)}
        lib = device_lib_dir().resolve()
        names = changed if changed is not None else list(files)
        py = [
            (files[rel].source, rel)
            for rel in names
            if rel in files and rel.endswith(".py") and lib not in files[rel].source.resolve().parents
        ]
        errors = [str(f) for f in check.check_files(py, self.check_target).errors] if py else []
        for line in errors:
            self.say(line)
        if errors:
            self.say("nothing was uploaded; the board keeps running the old code")
        self.blocked = bool(errors)
        return errors

    def _sync(self):
        from pytool.sync import sync_project

        assert self.board is not None
        self.raw = None
        self.board.enter_raw_repl()  # stop the program (Ctrl-C)
        outcome = sync_project(self.board, self.config, run_check=False, reset=False, replace=self.replace)
        self.known = {f.rel for f in outcome.plan.upload + outcome.plan.unchanged}
        done = outcome.result
        changes = [f"+{rel}" for rel in done.uploaded] + [f"-{rel}" for rel in done.deleted]
        self.say(f"synced: {', '.join(changes) or 'nothing changed'}")
        return outcome

    def _restart(self) -> str:
        board = self.board
        assert board is not None
        self.say(f"restart ({self.restart_mode})")
        if self.restart_mode == "soft":
            board.transport.exit_raw_repl()
            board.transport.read_until(1, repl.FRIENDLY_PROMPT, timeout=2)
            repl.soft_reset(board.wire.write)
        elif self.restart_mode == "hard":
            board.hard_reset()
        else:
            main = board.path("main.py")
            if board.stat(main) is None:
                self.say(f"there is no {main} on the board: nothing to run")
                return self.restart_mode
            self.raw = _RawOutput(self.write, self.say)
            board.transport.exec_raw_no_follow((RUN_MAIN % literal(main)).encode())  # helpers: defined by stat
        return self.restart_mode

    # ------------------------------------------------------------------ output
    def pump(self, seconds: float) -> None:
        """Stream what the board prints for `seconds`."""
        assert self.board is not None
        wire = self.board.wire
        deadline = time.monotonic() + seconds
        while True:
            waiting = wire.in_waiting
            if waiting:
                data = wire.read(waiting)
                if self.raw is not None:
                    self.raw.feed(data)
                else:
                    self.write(data)
            elif time.monotonic() >= deadline:
                return
            else:
                time.sleep(0.02)

    # ------------------------------------------------------------------ the loop
    def run(self, batches: queue.Queue, stop: threading.Event) -> None:
        """Until `stop` is set: process the batches of changed paths `batches` receives, stream output in
        between, and ride out a board that goes away."""
        from mpremote.transport import TransportError

        try:
            self.connect()
        except (serial.SerialException, OSError) as exc:
            self._reconnect(str(exc), stop)
        while not stop.is_set():
            try:
                if self.board is None:
                    raise OSError("no board")
                paths: set[Path] = set()
                with contextlib.suppress(queue.Empty):
                    while True:
                        paths |= batches.get_nowait()
                if paths:
                    self.process(paths)
                self.pump(0.1)
            except UsageError:
                raise  # a problem only the user can fix (e.g. another project on the board: --replace)
            except (PytoolError, serial.SerialException, OSError, TransportError) as exc:
                self._reconnect(str(exc), stop)  # the link, or a board that reset at the wrong moment


def watch_changes(folder: Path, batches: queue.Queue, stop: threading.Event) -> threading.Thread:
    """A thread putting each batch of changed paths under `folder` (a set of Paths) into `batches`."""
    import watchfiles

    def feed() -> None:
        for changes in watchfiles.watch(folder, debounce=DEBOUNCE_MS, step=50, stop_event=stop, raise_interrupt=False):
            batches.put({Path(p) for _, p in changes})

    thread = threading.Thread(target=feed, name="pytool-watch", daemon=True)
    thread.start()
    return thread
