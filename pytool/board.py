"""A connected board: a raw-REPL session on mpremote's SerialTransport, with Pycom-aware probing and encoding.

What this adds to mpremote's transport:
- `--port` resolution (path, pyserial URL, sim:NAME, the single attached board) and one-line errors;
- entering the raw REPL without a soft reset (a soft reset breaks Pycom's Bluetooth stack, reference 4.10);
- a capability probe, once per session and folded into the first exec: firmware identity, raw-paste, hashlib
  behaviour, inflate (uzlib/deflate), free heap, /flash usage;
- payload checking: nothing pytool sends inside code may contain a byte 0x00-0x06 (0x06 = Ctrl-F resets Pycom
  boards into safe boot at ANY time, reference 3), so every payload is ASCII with escapes;
- counters (bytes on the wire, exec round trips) for `--json` summaries and bench/sync.py.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import functools
import hashlib
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import serial

from pytool import board_code, board_errors, board_feed, board_state, port_lock, repl
from pytool.capabilities import Capabilities, capabilities_from
from pytool.errors import PytoolError
from pytool.ports import Target, resolve_port
from pytool.repl import FORBIDDEN, check_payload, literal
from pytool.wire import CountingSerial, WireStats, waiting_read_until

__all__ = ["FORBIDDEN", "BoardCodeError", "BoardSession", "Capabilities", "check_payload", "literal", "parse_result"]

RAW_PROMPT_S = 5.0  # longest wait for the raw REPL prompt per attempt (a chatty board never stops the reads)
#: How long a board stays at its bridge's rate after the pytool that switched it was killed or interrupted (the
#: lease pytool.baud's last exec renewed, plus its timer's tick; tests/reliability/test_rate_switch_faults.py checks
#: the two agree): it answers nothing at the boot rate meanwhile, so connect waits that long before giving up.
STRANDED_S = 5.2
RESULT_MARK = "@@pt:"  # a `_pt_out(value)` line: mark, repr(value), " #<bytes>.<byte sum mod 65536>"
PROBE_MARK = "@@pt?"  # the capability probe's line (same form), so a garbled one is never taken for the other

# The device-side code lives in pytool/board_code/*.py (see there); sent byte-for-byte as those files hold it.
PRELUDE = board_code.load("prelude.py")  # helpers defined on the board once per session
# Large code goes compressed: the board inflates and exec()s it. Sent once per session; if the board has neither
# uzlib nor deflate it says so and pytool sends plain code from then on.
BOOTSTRAP = board_code.load("bootstrap.py")
NO_INFLATE = b"@@pt:noinflate"
PROBE = board_code.load("probe.py")
PROBE_CALL = "_pt_probe()\n"
PROBE_DEFS = PROBE.replace(PROBE_CALL, "")
#: Helper sets other modules define on the board (sync's); part of the cached helper file.
REGISTERED: dict[str, str] = {}
HELPERS_MISSING = "pytool-helpers-missing"
# Sessions with `cache_helpers` keep the helper definitions in a file on the board: the first exec of a session
# then sends a few hundred bytes instead of several KB (a no-change sync is mostly this exec), and the board
# compiles the file only when it does not still hold that very set in RAM from an earlier session.
# (terse: about 250 bytes; the file is stored in pieces the first time, see _store_helpers)
CACHE_STUB = board_code.load("cache_stub.py")  # % {"file", "key", "missing"}
CACHE_CLEAN = board_code.load("cache_clean.py")  # the file's first section
CACHE_SAVE = board_code.load("cache_save.py") + "_pt_piece(%s, %s, %s, %r)\n"  # % (first?, piece, last?, name)
HELPER_PIECE = 1500  # characters of the helper file sent per exec while it is being stored on the board


def register_helpers(name: str, definitions: str) -> None:
    """Add a set of helper definitions that cached sessions keep on the board (see `BoardSession.helpers`)."""
    REGISTERED[name] = definitions


def helper_file() -> tuple[str, str, str]:
    """(file name, key, text) of the cached helpers: every definition a session needs; the last section sets `_pt_v`
    to (key: a hash of the definitions, the `_pt_out` they defined); the name is a hash of the whole text."""
    sections = [CACHE_CLEAN, PRELUDE, PROBE_DEFS]
    for key in sorted(REGISTERED):
        sections += board_code.pieces(REGISTERED[key], HELPER_PIECE, "def ")  # cut before top-level defs
    key = "v" + hashlib.sha256("".join(sections).encode()).hexdigest()[:10]
    sections.append(f"_pt_v = ('{key}', _pt_out)\n")
    text = "#" + " ".join(str(len(s)) for s in sections) + "\n" + "".join(sections)
    return f"h{hashlib.sha256(text.encode()).hexdigest()[:10]}.py", key, text


class _NotStarted(Exception):
    """The board did not acknowledge the code with "OK": it never ran."""


class BoardCodeError(PytoolError):
    """Code on the board raised: `message` is the exception line, `traceback` the whole stderr."""

    def __init__(self, message: str, traceback: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.traceback = traceback


class _Garbled(Exception):
    """A result line whose length or checksum does not match what the board computed (line noise)."""


def _result_value(line: bytes, mark: str) -> Any:
    """The value a `_pt_out` line carries, checked against its length and byte sum (_Garbled otherwise)."""
    body, sep, check = line.rstrip(b"\r").rpartition(b" #")
    if not sep or check != b"%d.%d" % (len(body), sum(body) & 0xFFFF):
        raise _Garbled(line[:60])
    try:
        return ast.literal_eval(body[len(mark) :].decode())
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as exc:
        raise _Garbled(line[:60]) from exc


def parse_result(output: bytes) -> Any:
    """The value of the last `_pt_out(...)` line in `output` (board prints may interleave: other lines are skipped).

    A missing line, or one that arrived with bytes lost or changed, is a PytoolError: a noisy line never gives the
    host a wrong answer."""
    for line in reversed(output.split(b"\n")):
        if line.startswith(RESULT_MARK.encode()):
            try:
                return _result_value(line, RESULT_MARK)
            except _Garbled:
                break
    raise PytoolError(
        "the board's answer was cut or garbled", "run again; if it persists, reset the board (`pytool reset`)"
    )


def parse_results(output: bytes) -> list[Any]:
    """Every `_pt_out(...)` value in `output`, in order (an answer too big for one line comes as several); a line
    that was cut or garbled is a PytoolError, as in `parse_result`."""
    values = []
    for line in output.split(b"\n"):
        if line.startswith(RESULT_MARK.encode()):
            try:
                values.append(_result_value(line, RESULT_MARK))
            except _Garbled:
                values = []
                break
    if not values:
        raise PytoolError(
            "the board's answer was cut or garbled", "run again; if it persists, reset the board (`pytool reset`)"
        )
    return values


class BoardSession:
    """A raw-REPL session with one board. Use `BoardSession.connect(target)` as a context manager."""

    def __init__(self, transport: Any, target: Target, timeout: float = 10.0) -> None:
        self.transport = transport
        self.target = target
        self.timeout = timeout
        self.wire = CountingSerial(transport.serial)
        transport.serial = self.wire
        transport.read_until = functools.partial(waiting_read_until, transport)  # no 10 ms naps (pytool.wire)
        self._prelude_sent = False
        self._caps: Capabilities | None = None
        self._inflate: bool | None = None  # can the board inflate compressed code? None = not tried yet
        self._loaded: dict[str, str] = {}  # helper sets defined on the board this session (see `helpers`)
        self.cache_helpers = False  # keep the helpers in a file on the board (sync turns this on)
        self.fast_baud: int | None = None  # pytool.toml [serial] fast_baud (None: by bridge family; pytool.baud)
        self.exec_prefix = ""  # code every exec starts with (pytool.baud: renews the fast rate's lease)
        self.rate_switch: str | None = None  # what pytool.baud.fast_link did: "on", "failed" (None: no switch)
        self.lock = threading.Lock()
        self._lock: contextlib.AbstractContextManager | None = None  # the port, held for this session

    # ------------------------------------------------------------------ session
    @classmethod
    def connect(cls, target: Target | str | None, baudrate: int = 115200, timeout: float = 10.0) -> BoardSession:
        """Open the target board (a Target, or a port value resolved here: path, URL, sim:NAME, None = the single
        attached board), stop its program, enter the raw REPL."""
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        resolved = target if isinstance(target, Target) else resolve_port(target)
        lock = port_lock.hold(resolved.url)  # one pytool per port: wait (--wait) or refuse naming the holder
        lock.__enter__()
        try:
            transport = SerialTransport(resolved.url, baudrate=baudrate)
        except (TransportError, serial.SerialException, OSError) as exc:
            lock.__exit__(None, None, None)
            port_lock.refuse_if_open_elsewhere(resolved.url)
            raise board_state.open_failure(resolved, exc) from exc  # missing, busy, no permission
        transport.serial.timeout = 2  # mpremote reads a pty without timeout: never block forever
        try:  # nor write forever to a board that stopped reading
            transport.serial.write_timeout = 20
        except NotImplementedError:  # pyserial's rfc2217:// ports have none (and, left set, refuse every later
            transport.serial.write_timeout = None  # change of rate or timeout)
        board = cls(transport, resolved, timeout)
        board._lock = lock
        try:
            board.enter_raw_repl()
        except BaseException:
            board.close(exit_raw=False)
            raise
        return board

    def __enter__(self) -> BoardSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> WireStats:
        return self.wire.stats

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        from mpremote.transport import TransportError

        try:
            yield
        except (TransportError, serial.SerialException, OSError) as exc:
            raise PytoolError(
                f"lost the board on {self.target.spec} while {doing}: {exc}",
                "check the cable and run again; if the board is stuck, press reset or run `pytool reset`",
            ) from exc

    def enter_raw_repl(self) -> None:
        """Interrupt whatever runs (Ctrl-C) and enter the raw REPL, without a soft reset.

        Like mpremote's, but bounded: a board that keeps printing cannot keep pytool draining its output forever."""

        seen = bytearray()  # what the board printed meanwhile: tells why, if no prompt comes (board_state)

        def discard_pending(seconds: float) -> None:  # drop what it printed so far
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and self.wire.in_waiting:
                seen.extend(self.wire.read(self.wire.in_waiting))

        def read_until(marker: bytes) -> bytes:
            # the prompt follows Ctrl-A at once; a board that keeps printing without one is told in seconds, not 2x10
            data = self.transport.read_until(1, marker, timeout=2, timeout_overall=min(self.timeout, RAW_PROMPT_S))
            seen.extend(data)
            return data

        started = time.monotonic()
        try:
            entered = repl.enter_raw_repl(self.wire.write, discard_pending, read_until)
            if not entered and self.target.kind != "telnet":
                # a pytool killed or interrupted while this board ran at its bridge's rate (pytool.baud) left it
                # there until its lease runs out: wait that out, then ask once more at the boot rate
                time.sleep(max(0.0, started + STRANDED_S - time.monotonic()))
                self.wire.reset_input_buffer()
                entered = repl.enter_raw_repl(self.wire.write, discard_pending, read_until, attempts=1)
            if entered:
                self.transport.in_raw_repl = True
                self._prelude_sent = False
                self._inflate = None if self._inflate else self._inflate  # a reset board lost _pt_x: send it again
                return
        except (serial.SerialException, OSError) as exc:
            raise PytoolError(f"cannot talk to {self.target.spec}: {exc}", "check the cable and run again") from exc
        port_lock.refuse_if_open_elsewhere(self.target.url)  # a terminal or mpremote reading the port eats replies
        raise board_state.diagnose(self.target, self.wire.port, bytes(seen))  # blank, erased, download mode, ...

    def close(self, exit_raw: bool = True) -> None:
        """Leave the raw REPL (back to the friendly prompt) and release the port."""
        with contextlib.suppress(Exception):
            if exit_raw and self.wire.is_open and self.transport.in_raw_repl:
                self.transport.exit_raw_repl()
        with contextlib.suppress(Exception):
            self.transport.close()
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.__exit__(None, None, None)

    # ------------------------------------------------------------------ exec
    def _pack(self, code: str) -> str:
        """`code` as compressed base64 run by _pt_x(), when that is shorter (and the board can inflate)."""
        if self._inflate is False or len(code) < 512:
            return code
        packer = zlib.compressobj(9, zlib.DEFLATED, 12)
        packed = base64.b64encode(packer.compress(code.encode()) + packer.flush()).decode()
        # _pt_x is gone with the interpreter: send it again whenever the board may have rebooted (a reset, a retry)
        boot = BOOTSTRAP if self._inflate is None or not self._prelude_sent else ""
        if len(packed) + len(boot) + 16 > len(code) * 0.9:
            return code
        return f"{boot}_pt_x('{packed}')\n"

    def exec(self, code: str, timeout: float | None = None, stream: Callable[[bytes], None] | None = None) -> bytes:
        """Run `code` in the raw REPL and return its stdout; raise BoardCodeError if it raised on the board.

        If the board did not even start the code (no "OK": it rebooted meanwhile, or printed over the prompt),
        the raw REPL is entered again and the code sent once more (with the session's helpers)."""
        try:
            return self._exec_once(code, timeout, stream)
        except _NotStarted:
            self.enter_raw_repl()
            # maybe a new interpreter (the board rebooted): `code` counted on helpers it no longer has
            cached = REGISTERED if self.cache_helpers else {}
            lost = "".join(d for name, d in self._loaded.items() if name not in cached)
            try:
                return self._exec_once(lost + code, timeout, stream)
            except _NotStarted as exc:
                raise PytoolError(
                    f"the board on {self.target.spec} does not run code: {exc}",
                    "press reset; if main.py floods the console, boot without it: `pytool reset --safe`",
                ) from exc

    def exec_feeding(
        self, code: str, pieces: list[tuple[bytes, int]], timeout: float, sent: Callable[[int], None] | None = None
    ) -> None:
        """Run `code`, whose `_pt_rd` calls read `pieces` (board_feed: escaped bytes, payload size) from stdin as the
        board asks. A feed cut short interrupts the board and fills its read (Pycom ends it only when full)."""
        feeder = board_feed.Feeder(self.wire.write, pieces, sent)
        try:
            self.exec(code, timeout, feeder)
        except BaseException:
            if not feeder.done:  # drop the unsent, interrupt, fill the board's read, take its answer, clear the line
                with contextlib.suppress(Exception):
                    self.wire.reset_output_buffer()
                    repl.interrupt(self.wire.write)
                    self.wire.write(b" " * feeder.owed)
                    self.transport.follow(3, lambda _b: None)
                with contextlib.suppress(Exception):
                    repl.interrupt(self.wire.write)
            raise
        if not feeder.done:
            raise PytoolError(
                f"the board read {feeder.next} of {len(pieces)} pieces of data and stopped",
                "run again; if it persists, reset the board (`pytool reset`)",
            )

    def _exec_once(self, code: str, timeout: float | None, stream: Callable[[bytes], None] | None) -> bytes:
        if self._prelude_sent:
            return self._run(code, timeout, stream)
        probe = "" if self._caps else PROBE_CALL
        if not self.cache_helpers:
            return self._run(PRELUDE + PROBE_DEFS + probe + code, timeout, stream)
        name, key, text = helper_file()
        self._loaded.update(REGISTERED)
        stub = CACHE_STUB % {"file": name, "key": key, "missing": HELPERS_MISSING} + probe
        for attempt in range(2):
            try:
                return self._run(stub + code, timeout, stream)
            except BoardCodeError as exc:
                if HELPERS_MISSING not in exc.traceback:
                    raise
                self._prelude_sent = False
            if attempt == 0:
                with contextlib.suppress(BoardCodeError):  # not stored (a full filesystem): sent with the code
                    self._store_helpers(name, text)
        return self._run(text + probe + code, timeout, stream)  # its first line is a comment

    def _store_helpers(self, name: str, text: str) -> None:
        """Store the helper file on the board in pieces of a few KB, one exec each (checked by its hash there)."""
        pieces = board_code.pieces(text, HELPER_PIECE)
        try:
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                self._run(CACHE_SAVE % (index == 0, literal(piece), last, name), 30, None)
        finally:
            self._prelude_sent = False

    def _run(self, code: str, timeout: float | None, stream: Callable[[bytes], None] | None) -> bytes:
        code = self.exec_prefix + code
        packed = self._pack(code)
        out, err = self._exec_raw(packed, timeout, stream)
        if packed is not code:
            if out.startswith(NO_INFLATE):
                self._inflate = False
                out, err = self._exec_raw(code, timeout, stream)
            else:
                self._inflate = True
        self._prelude_sent = True
        out = self._take_probe(out)
        if err:
            text = err.decode("utf-8", "replace").strip()
            last = text.splitlines()[-1] if text else "an error"
            raise BoardCodeError(f"the board raised {last}", text, board_errors.hint_for(text))
        return out

    def _take_probe(self, out: bytes) -> bytes:
        """Parse (and cut) the probe's result line from the first exec's output."""
        if self._caps is not None:
            return out
        lines = out.split(b"\n")
        for i, line in enumerate(lines):
            if line.startswith(PROBE_MARK.encode()):
                with contextlib.suppress(_Garbled, ValueError, TypeError):  # left unset: capabilities() asks again
                    self._caps = capabilities_from(_result_value(line, PROBE_MARK), self.transport.use_raw_paste)
                return b"\n".join(lines[:i] + lines[i + 1 :])
        return out

    def _exec_raw(
        self, code: str, timeout: float | None, stream: Callable[[bytes], None] | None
    ) -> tuple[bytes, bytes]:
        from mpremote.transport import TransportError

        payload = code.encode()
        check_payload(payload)
        with self.lock, self._errors("running code"):
            self.stats.round_trips += 1
            try:
                self.transport.exec_raw_no_follow(payload)
            except TransportError as exc:
                raise _NotStarted(str(exc)) from exc
            try:
                out, err = self.transport.follow(timeout or self.timeout, stream)
            except TransportError as exc:
                raise PytoolError(
                    f"the board did not finish within {timeout or self.timeout:.0f} s",
                    "it may be busy or stuck: press reset or run `pytool reset`",
                ) from exc
        return out, err

    def helpers(self, name: str, definitions: str) -> str:
        """`definitions` the first time they are needed in this session (prefix them to the exec's code), else ""."""
        if self.cache_helpers and not self._prelude_sent and name in REGISTERED:
            return ""  # the session's first exec brings them (from the cached file, or with it)
        if name in self._loaded and self._prelude_sent:
            return ""
        self._loaded[name] = definitions
        return definitions

    def query(self, code: str, timeout: float | None = None) -> Any:
        """Run `code` that ends with `_pt_out(value)` and return `value`."""
        return parse_result(self.exec(code, timeout))

    def query_all(self, code: str, timeout: float | None = None) -> list[Any]:
        """Run `code` that prints several `_pt_out(value)` lines and return their values in order."""
        return parse_results(self.exec(code, timeout))

    def eval(self, expression: str, timeout: float | None = None) -> Any:
        """Evaluate a Python expression on the board and return its value (it must have a literal repr)."""
        return self.query(f"_pt_out({expression})\n", timeout)

    def capabilities(self) -> Capabilities:
        """The board's capabilities (probed once per session; free heap/space as of the probe)."""
        if self._caps is None:
            self.exec(PROBE_CALL if self._prelude_sent else "")  # the session's first exec carries the probe
            if self._caps is None:
                raise PytoolError("the board did not answer the capability probe", "reset it and run again")
        return self._caps

    def path(self, remote: str) -> str:
        """An absolute board path: relative paths are under the board's root (/flash on Pycom). A leading ':'
        (mpremote's mark of the board side) is dropped."""
        remote = remote.removeprefix(":")
        if remote.startswith("/"):
            return remote.rstrip("/") or "/"
        root = self.capabilities().root
        return f"{root}/{remote}".rstrip("/") if remote not in ("", ".") else (root or "/")

    # ------------------------------------------------------------------ files
    def listdir(self, remote: str = "", recursive: bool = False) -> list[tuple[str, int]]:
        """(path, size) of the entries below `remote`; size -1 = folder."""
        path = self.path(remote)
        try:
            return [tuple(e) for e in self.eval(f"_pt_ls({literal(path)}, {recursive})")]
        except BoardCodeError as exc:
            raise _fs_error(exc, path) from exc

    def stat(self, remote: str) -> tuple[bool, int] | None:
        """(is_dir, size) or None when `remote` does not exist."""
        path = self.path(remote)
        res = self.eval(f"(lambda s: None if s is None else (s[0] & 0x4000 != 0, s[6]))(_pt_st({literal(path)}))")
        return tuple(res) if res else None

    def read_file(self, remote: str, progress: Callable[[int], None] | None = None) -> bytes:
        """The contents of a board file (sent back base64-encoded, in board-sized chunks)."""
        path = self.path(remote)
        st = self.stat(path)
        if st is None:
            raise PytoolError(f"{path}: no such file on the board", "list the files with `pytool ls -r`")
        if st[0]:
            raise PytoolError(f"{path} is a folder", "use `pytool get` for folders")
        chunk = self.capabilities().chunk_size()
        data = bytearray()
        while len(data) < st[1]:
            out = self.exec(f"_pt_read({literal(path)}, {len(data)}, {chunk})\n")
            piece = base64.b64decode(out.strip())
            if not piece:
                break
            data += piece
            if progress:
                progress(len(piece))
        return bytes(data)

    def remove(self, remote: str, recursive: bool = False) -> None:
        """Delete a file (or, with `recursive`, a folder and everything in it)."""
        path = self.path(remote)
        st = self.stat(path)
        if st is None:
            raise PytoolError(f"{path}: no such file or folder on the board")
        if st[0] and not recursive:
            raise PytoolError(f"{path} is a folder", "use `pytool rm -r` to delete it with its contents")
        if path in ("/", self.capabilities().root or "/"):
            raise PytoolError(f"refusing to delete the board's root {path}", "delete the files in it instead")
        try:
            self.exec(f"_pt_rm({literal(path)})\n")
        except BoardCodeError as exc:
            raise _fs_error(exc, path, "removing") from exc

    def mkdir(self, remote: str, parents: bool = True) -> None:
        """Create a folder (and its parents)."""
        path = self.path(remote)
        try:
            self.exec(f"_pt_md({literal(path + '/x')})\n" if parents else f"os.mkdir({literal(path)})\n")
        except BoardCodeError as exc:
            raise _fs_error(exc, path, "creating") from exc

    def df(self) -> tuple[int, int]:
        """(total, free) bytes of the board's filesystem."""
        total, free = self.eval("(lambda s: (s[0] * s[2], s[0] * s[3]))(os.statvfs(_pt_root or '/'))")
        if not all(isinstance(v, int) and v >= 0 for v in (total, free)):
            raise PytoolError(
                f"the board reported an impossible filesystem size ({total!r}, {free!r})",
                "check the board's filesystem (`pytool info`); reformat it if it persists",
            )
        return total, min(free, total)  # a full LittleFS can count more free blocks than it has

    # ------------------------------------------------------------------ programs, resets, REPL
    def run(self, code: str, out: Callable[[bytes], None]) -> bytes:
        """Run a program, streaming its stdout to `out`; Ctrl-C (KeyboardInterrupt) stops it on the board.

        Returns the error output (a traceback) or b"" when it ended normally."""
        check_payload(code.encode())
        if not self._prelude_sent:
            self.exec("")
        with self._errors("running the program"):
            self.stats.round_trips += 1
            self.transport.exec_raw_no_follow(code.encode())
            try:
                _, err = self.transport.follow(None, lambda b: repl.is_eot(b) or out(b))
            except KeyboardInterrupt:
                repl.interrupt(self.wire.write)
                with contextlib.suppress(Exception):
                    self.transport.follow(5, lambda b: None)
                raise
        return err

    def soft_reset(self) -> None:
        """Ctrl-D from the friendly REPL: boot.py and main.py run again (waits for the prompt, at most `timeout`)."""
        with self._errors("resetting"):
            self.transport.exit_raw_repl()
            repl.soft_reset(self.wire.write)
            self.transport.read_until(1, repl.SOFT_REBOOT, timeout=self.timeout)
            self.wait_for_banner(self.timeout)  # boot.py and main.py have run (or main.py is still running)
        self._caps = None
        self._prelude_sent = False

    def hard_reset(self) -> None:
        """machine.reset(): the board reboots (boot.py, main.py); the session is over afterwards."""
        with self._errors("resetting"):
            self.stats.round_trips += 1
            self.transport.exec_raw_no_follow(repl.HARD_RESET_CODE)
        self.transport.in_raw_repl = False
        self._caps = None
        self._prelude_sent = False

    def safe_boot(self) -> bytes:
        """Pycom safe boot: Ctrl-F from the friendly REPL (skips boot.py and main.py once); returns the boot text."""
        if self.capabilities().flavour != "pycom":
            raise PytoolError("safe boot is a Pycom firmware feature", "use `pytool reset --hard` on this board")
        with self._errors("resetting into safe boot"):
            self.transport.exit_raw_repl()
            time.sleep(0.05)
            repl.safe_boot(self.wire.write)
            text = self.transport.read_until(1, repl.BANNER_END, timeout=15)
        self._caps = None
        self._prelude_sent = False
        return text

    def wait_for_banner(self, timeout: float = 15.0) -> bytes:
        """Read until the friendly prompt after a reset."""
        return self.transport.read_until(1, repl.FRIENDLY_PROMPT, timeout=timeout, timeout_overall=timeout)

    def repl(self, escape: bytes = b"\x1d") -> None:
        """Interactive friendly REPL on this terminal until `escape` (Ctrl-]) is typed."""
        from mpremote.console import Console

        with self._errors("in the REPL"):
            self.transport.exit_raw_repl()
            console = Console()
            console.enter()
            try:
                self.wire.write(b"\r")
                while True:
                    console.waitchar(self.wire.port)
                    char = console.readchar()
                    if char == escape:
                        break
                    if char:
                        self.wire.write(char)
                    waiting = self.wire.in_waiting
                    if waiting:
                        console.write(self.wire.read(waiting))
                        sys.stdout.flush()
            finally:
                console.exit()
        self._prelude_sent = False
        self._caps = None


def _fs_error(exc: BoardCodeError, path: str, doing: str = "listing") -> PytoolError:
    from pytool.board_errors import fs_error

    return fs_error(exc, exc.traceback, path, doing)
