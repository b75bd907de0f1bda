"""Flashing through esptool's Python API, in-process: skip-if-unchanged by flash MD5, Pycom config-block
protection, and a check of what boots.

The flash plan (what goes where) comes from `pytool.firmware`, bootloader entry and exit per board family
(DTR/RTS, Pycom PIC, manual, simulator) from `pytool.reset`; this module only talks to the chip.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytool import firmware as fwmod
from pytool import repl
from pytool.baud import FLASH_BAUD
from pytool.boards import catalogue, get_board
from pytool.errors import PytoolError
from pytool.ports import Target
from pytool.reset import CONSOLE_BAUD, ResetStrategy, strategy_for

DEFAULT_BAUD = FLASH_BAUD
ROM_BAUD = CONSOLE_BAUD


class FlashError(PytoolError):
    """Flashing failed or was refused."""


# --------------------------------------------------------------------------------------------- progress


class ProgressSink:
    """Receives flashing progress; the CLI shows it with rich, tests and --json use this silent one."""

    def start(self, label: str, total: int) -> None: ...
    def update(self, done: int, total: int) -> None: ...
    def finish(self, label: str, note: str) -> None: ...
    def message(self, text: str) -> None: ...


def _esptool_logger(sink: ProgressSink, debug: bool) -> Any:
    """An esptool logger (esp_pylib EspLogBase subclass) forwarding progress bars to `sink`."""
    from esp_pylib.logger import EspLogBase

    class PytoolEsptoolLogger(EspLogBase):
        def print(self, *args: Any, **kwargs: Any) -> None:
            if debug:
                sink.message(" ".join(str(a) for a in args))

        def note(self, *args: Any) -> None:
            self.print(*args)

        def hint(self, *args: Any) -> None:
            self.print(*args)

        def debug(self, *args: Any) -> None:
            self.print(*args)

        def warn(self, *args: Any, suggestion: str | None = None) -> None:
            self.print("warning:", *args)

        def err(self, *args: Any, suggestion: str | None = None) -> None:
            self.print("error:", *args)

        def set_verbosity(self, mode: int | str) -> None:
            pass

        def progress_bar(self, cur_iter: int, total_iters: int, prefix: str = "", suffix: str = "", bar_length=30):
            sink.update(cur_iter, total_iters)

    return PytoolEsptoolLogger()


@contextlib.contextmanager
def esptool_logging(sink: ProgressSink, debug: bool = False) -> Iterator[None]:
    """Install pytool's esptool logger for the duration (esptool's logger is process-global)."""
    from esp_pylib.logger import EspLog

    previous = EspLog.instance
    from esptool.logger import log

    log.set_logger(_esptool_logger(sink, debug))
    try:
        yield
    finally:
        EspLog.instance = previous


# --------------------------------------------------------------------------------------------- connection


@dataclass
class Session:
    """A chip in its ROM bootloader with esptool's stub running, at the working baud rate."""

    esp: Any  # esptool ESPLoader (stub)
    port: Target
    reset: ResetStrategy  # how the chip entered the bootloader, and leaves it
    baud: int
    flash_size: int
    mac: str
    rebooted: bool = False

    def read(self, offset: int, size: int) -> bytes:
        """Read flash (no faster than the strategy relays reads: 230400 baud through a PIC)."""
        cap = self.reset.max_read_baud
        if cap is not None and self.baud > cap:
            self.esp.change_baud(cap)
            try:
                return self.esp.read_flash(offset, size)
            finally:
                self.esp.change_baud(self.baud)
        return self.esp.read_flash(offset, size)

    def md5(self, offset: int, size: int) -> str:
        return self.esp.flash_md5sum(offset, size)


def _fatal(exc: Exception, port: Target) -> FlashError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return FlashError(
        f"esptool could not talk to the chip on {port.spec}: {text}",
        "check the port and cable; for boards without auto-reset jumper G23 to GND, press reset and use --reset manual",
    )


def _detect(port: Target, strategy: ResetStrategy) -> Any:
    from esptool.cmds import detect_chip
    from esptool.util import FatalError

    deadline = time.monotonic() + strategy.connect_patience
    while True:
        try:
            return detect_chip(port.url, ROM_BAUD, strategy.esptool_before, connect_attempts=strategy.connect_attempts)
        except (FatalError, OSError) as exc:
            if time.monotonic() < deadline:
                time.sleep(1.0)
                continue
            raise _fatal(exc, port) from exc


@contextlib.contextmanager
def open_session(
    port: Target,
    baud: int = DEFAULT_BAUD,
    reset: str | ResetStrategy | None = None,
    say: Callable[[str], None] = lambda _: None,
    reboot: bool = True,
) -> Iterator[Session]:
    """Enter the bootloader with the port's reset strategy (or `reset`: a strategy or its name), upload the stub,
    switch to `baud`, attach the flash. On exit the chip is reset into its firmware when `reboot`."""
    from esptool.cmds import attach_flash, detect_flash_size, run_stub
    from esptool.util import FatalError, flash_size_bytes

    strategy = reset if isinstance(reset, ResetStrategy) else strategy_for(reset or port.reset)
    strategy.enter_bootloader(port, say)
    esp = _detect(port, strategy)
    session = None
    try:
        try:
            esp = run_stub(esp)
            if baud != ROM_BAUD:
                esp.change_baud(baud)
            attach_flash(esp)
            size_name = detect_flash_size(esp)
            flash_size = flash_size_bytes(size_name) if size_name else None
            mac = ":".join(f"{b:02x}" for b in esp.read_mac())
        except FatalError as exc:
            raise _fatal(exc, port) from exc
        if not flash_size:
            raise FlashError("could not detect the flash size of the chip", "check the module's flash chip")
        session = Session(esp, port, strategy, baud, flash_size, mac)
        yield session
    finally:
        if reboot and session is not None and not session.rebooted:
            with contextlib.suppress(Exception):
                reboot_into_firmware(session)
        with contextlib.suppress(Exception):
            esp._port.close()


def reboot_into_firmware(session: Session) -> None:
    """Leave the bootloader: hard reset by the session's strategy (manual: the user presses reset)."""
    session.rebooted = True
    session.reset.run_firmware(session.esp, session.port)


# --------------------------------------------------------------------------------------------- banner check


def wait_for_banner(
    read: Callable[[], bytes], write: Callable[[bytes], None], timeout: float, seen: bytearray | None = None
) -> str | None:
    """Read boot output until a firmware banner appears (see `pytool.repl.wait_for_banner`)."""
    return repl.wait_for_banner(read, write, fwmod.BANNER_PATTERNS, timeout, seen)


def _read_banner(session: Session, say: Callable[[str], None], seen: bytearray) -> str | None:
    """Reset into the firmware and read its banner from the serial port (`seen`: what the board printed)."""
    session.rebooted = True
    ser = session.reset.open_console(session.esp, session.port, say)

    def read() -> bytes:
        return ser.read(max(1, ser.in_waiting))

    try:
        return wait_for_banner(read, ser.write, session.reset.banner_timeout, seen)
    finally:
        with contextlib.suppress(Exception):
            ser.close()


# --------------------------------------------------------------------------------------------- flashing


@dataclass
class RegionResult:
    label: str
    file: str | None
    offset: int
    size: int
    action: str  # "written" | "skipped" (already on the chip) | "erased"
    seconds: float


@dataclass
class FlashResult:
    """The --json summary of `pytool flash`."""

    ok: bool
    port: str
    firmware: str
    board: str | None  # firmware's board name
    version: str | None
    target_board: str | None  # what the module is, as far as pytool knows
    flash_size: str
    script: str | None
    mac: str
    regions: list[RegionResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config_block: str = "unchanged"
    booted: str | None = None  # banner read after the reset
    boot_check: str = "not checked"
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class FlashOptions:
    baud: int = DEFAULT_BAUD
    skip_unchanged: bool = True
    erase_fs: bool = False
    force: bool = False
    board: str | None = None  # catalogue key the user says the module is
    offset: int | None = None  # single images
    reset: str | ResetStrategy | None = None  # override the port's reset strategy (or its name)
    check_boot: bool = True
    debug: bool = False


def _current_identity(session: Session) -> fwmod.FirmwareIdentity | None:
    """The firmware on the chip now (partition table, otadata, first 16 KB of the app): for the board check."""
    try:
        parts = fwmod.parse_partition_table(
            session.read(fwmod.PARTITION_TABLE_OFFSET, fwmod.PARTITION_TABLE_MAX), session.flash_size
        )
    except fwmod.FirmwareError:
        return None
    apps = {p.subtype: p for p in parts if p.type == fwmod.APP}
    active = apps.get(0x00)
    otadata = fwmod.find_partition(parts, fwmod.DATA, 0x00)
    if otadata is not None and 0x10 in apps:
        info = fwmod.parse_boot_info(session.read(otadata.offset, 40))
        if info is not None and info.active_img == fwmod.ACTIVE_OTA0:
            active = apps[0x10]
    if active is None:
        return None
    return fwmod.identify(session.read(active.offset, 0x4000))


def _target_board(port: Target, options: FlashOptions, session: Session) -> tuple[str | None, str]:
    """(board name, how we know) of the module being flashed."""
    if options.board:
        return get_board(options.board).name, "--board"
    if port.sim:
        from pytool.sim import registry

        return catalogue()[registry.find(port.sim).board].name, "simulator"
    current = _current_identity(session)
    if current is not None:
        return current.board_name, "installed firmware"
    return None, "unknown"


def _check_board(fw: fwmod.Firmware, target: str | None, how: str, force: bool, result: FlashResult) -> None:
    wanted = fw.board_name
    if target is None or wanted is None or wanted.lower() == target.lower():
        if target is None and wanted is not None:
            result.notes.append("board not known before flashing (no firmware on it): checked after the reset")
        return
    if target == "ESP32" and fw.identity and fw.identity.flavour == "pycom":
        pass  # stock MicroPython on the module now: nothing says which Pycom board it is
    elif force:
        result.notes.append(f"--force: flashing {wanted} firmware onto a {target} ({how})")
        return
    else:
        raise FlashError(
            f"{fw.source} is {wanted} firmware but the module is a {target} ({how})",
            f"download the {target} firmware, or pass --force (or --board) if you are sure",
        )


def _expected_after(plan: fwmod.FlashPlan, offset: int, size: int) -> bytes:
    """Contents of an erase region once the plan has run (0xFF, overlaid with the writes inside it)."""
    data = bytearray(b"\xff" * size)
    for w in plan.writes:
        start, end = max(w.offset, offset), min(w.end, offset + size)
        if start < end:
            data[start - offset : end - offset] = w.data[start - w.offset : end - w.offset]
    return bytes(data)


def execute_plan(session: Session, plan: fwmod.FlashPlan, options: FlashOptions, sink: ProgressSink) -> list:
    """Erase and write as planned, skipping regions whose flash MD5 already matches. Returns RegionResults."""
    from esptool.cmds import write_flash
    from esptool.util import FatalError

    results: list[RegionResult] = []
    esp = session.esp
    try:
        for offset, size in plan.erases:
            t = time.monotonic()
            label = f"erase 0x{offset:06x}+0x{size:x}"
            sink.start(label, size)
            if (
                options.skip_unchanged
                and session.md5(offset, size) == hashlib.md5(_expected_after(plan, offset, size)).hexdigest()
            ):
                sink.finish(label, "unchanged")
                results.append(RegionResult(label, None, offset, size, "skipped", time.monotonic() - t))
                continue
            esp.erase_region(offset, size)
            sink.finish(label, "erased")
            results.append(RegionResult(label, None, offset, size, "erased", time.monotonic() - t))
        for w in plan.writes:
            t = time.monotonic()
            label = w.file or w.label
            sink.start(label, len(w.data))
            if options.skip_unchanged and session.md5(w.offset, len(w.data)) == hashlib.md5(w.data).hexdigest():
                sink.finish(label, "unchanged")
                results.append(RegionResult(w.label, w.file, w.offset, len(w.data), "skipped", time.monotonic() - t))
                continue
            write_flash(esp, [(w.offset, w.data)], compress=True, force=True)
            sink.finish(label, "written, verified")
            results.append(RegionResult(w.label, w.file, w.offset, len(w.data), "written", time.monotonic() - t))
    except FatalError as exc:
        raise FlashError(
            f"flashing failed: {str(exc).strip().splitlines()[0]}", "run the same command again; it resumes"
        ) from exc
    return results


def flash(
    fw: fwmod.Firmware,
    port: Target,
    options: FlashOptions,
    sink: ProgressSink | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> FlashResult:
    """Flash `fw` onto the chip at `port`: plan, protect the config block, write what changed, reset, check."""
    sink = sink or ProgressSink()
    started = time.monotonic()
    if fw.kind == "image":
        valid, problem = fwmod.image_validity(fw)
        if not valid and not options.force:
            raise FlashError(
                f"{Path(fw.source).name} is not a bootable {fw.image_kind} image ({problem})",
                "download it again, or pass --force to write it anyway",
            )
    with (
        esptool_logging(sink, options.debug),
        _link_lost(port),
        open_session(port, options.baud, options.reset, say) as session,
    ):
        target, how = _target_board(port, options, session)
        # 0x3FF000 is the Pycom config block on every Pycom module; on other ESP32 boards it is ordinary flash
        cb_offset, cb_size = fwmod.CONFIG_BLOCK
        generic = target == "ESP32" and how in ("--board", "simulator")  # not "installed firmware": could be a Pycom
        protect_cb = not generic and session.flash_size >= cb_offset + cb_size
        if fw.kind == "pycom":
            plan = fwmod.plan_archive(fw, session.flash_size, options.erase_fs)
        else:
            plan = fwmod.plan_image(fw, session.flash_size, options.offset, options.erase_fs, protect_cb)
        ident = fw.identity
        result = FlashResult(
            ok=False,
            port=port.spec,
            firmware=fw.source,
            board=ident.board_name if ident else None,
            version=ident.version if ident else None,
            target_board=target,
            flash_size=f"{session.flash_size // 0x100000}MB",
            script=plan.script,
            mac=session.mac,
            notes=list(plan.notes),
        )
        _check_board(fw, target, how, options.force, result)
        cb_before = session.read(cb_offset, cb_size) if protect_cb else b""
        result.regions = execute_plan(session, plan, options, sink)
        if protect_cb and session.md5(cb_offset, cb_size) != hashlib.md5(cb_before).hexdigest():
            result.config_block = "CHANGED"
            raise FlashError(
                "the Pycom config block at 0x3FF000 changed during flashing",
                "restore it with `pytool erase --all`'s backup; please report this as a bug",
            )
        result.config_block = "unchanged" if protect_cb else "n/a"
        if options.check_boot and ident is not None:
            seen = bytearray()
            banner = _read_banner(session, say, seen)
            result.booted = banner
            result.boot_check = _boot_verdict(ident, banner, target)
            if banner is None:  # what the board said instead, as the last thing on the line
                result.boot_check += f" (the board's last output: {bytes(seen[-160:])!r})" if seen else " (no output)"
        else:
            reboot_into_firmware(session)
            result.boot_check = "not checked"
    result.ok = result.boot_check in ("ok", "not checked")
    result.seconds = round(time.monotonic() - started, 2)
    if not result.ok:
        raise FlashError(
            f"flashed, but the board did not come up as expected: {result.boot_check}",
            "check the firmware matches the board (pytool firmware info) and flash again",
        )
    return result


@contextlib.contextmanager
def _link_lost(port: Target) -> Iterator[None]:
    """The port vanished mid-flash (cable pulled, board lost power): pyserial's SerialException is an OSError;
    pyserial's termios calls on a vanished pty raise termios.error."""
    try:
        import termios

        errors: tuple[type[BaseException], ...] = (OSError, termios.error)
    except ImportError:  # Windows
        errors = (OSError,)
    try:
        yield
    except errors as exc:
        raise FlashError(
            f"lost the chip on {port.spec} while flashing: {str(exc).strip() or type(exc).__name__}",
            "reconnect the board and run the same command again; it resumes",
        ) from exc


def _boot_verdict(ident: fwmod.FirmwareIdentity, banner: str | None, target: str | None) -> str:
    if banner is None:
        return "no firmware banner after the reset"
    booted = fwmod.identify(banner.encode())
    if booted is None:
        return f"unrecognised banner {banner!r}"
    if (booted.board_name, booted.version) != (ident.board_name, ident.version):
        return f"running {booted.board_name} {booted.version}, expected {ident.board_name} {ident.version}"
    if target and booted.flavour == "pycom" and booted.board_name.lower() != target.lower():
        return f"{booted.board_name} firmware runs on a {target}"
    return "ok"


# --------------------------------------------------------------------------------------------- erase


@dataclass
class EraseResult:
    ok: bool
    port: str
    flash_size: str
    mac: str
    erased: list[tuple[int, int]]
    backup: str | None = None
    config_block: str = "unchanged"

    def to_json(self) -> dict:
        return asdict(self)


def backup_dir() -> Path:
    from pytool.paths import data_home

    path = data_home() / "backups"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_backup(session: Session) -> Path:
    """Save the config block and NVS to <data>/backups/<mac>-<time>.tar (config.bin @0x3FF000, nvs.bin @0x9000)."""
    layout = "8MB" if session.flash_size >= 0x800000 else "4MB"
    from pytool.boards import layouts

    lay = layouts()[layout]
    regions = {"config.bin": lay.config, "nvs.bin": lay.nvs}
    path = backup_dir() / f"{session.mac.replace(':', '')}-{time.strftime('%Y%m%d-%H%M%S')}.tar"
    with tarfile.open(path, "w") as tar:
        for name, region in regions.items():
            data = session.read(region.offset, region.size)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return path


def firmware_regions(session: Session) -> list[tuple[int, int]]:
    """What `pytool erase` removes: bootloader and partition table, then the app partitions and otadata of the
    chip's own partition table (Pycom's table for its flash size if it has none). Data partitions stay."""
    from pytool.boards import layouts

    try:
        table = fwmod.parse_partition_table(
            session.read(fwmod.PARTITION_TABLE_OFFSET, fwmod.PARTITION_TABLE_MAX), session.flash_size
        )
        parts = [(p.offset, p.size) for p in table if p.type == fwmod.APP or (p.type, p.subtype) == (fwmod.DATA, 0)]
    except fwmod.FirmwareError:
        lay = layouts()["8MB" if session.flash_size >= 0x800000 else "4MB"]
        parts = [(r.offset, r.size) for r in (lay.factory, lay.otadata, lay.ota_0)]
    regions = [(fwmod.BOOTLOADER_OFFSET, fwmod.PARTITION_TABLE_OFFSET + 0x1000 - fwmod.BOOTLOADER_OFFSET)]
    for offset, size in sorted(parts):  # merge neighbours: fewer, larger erases
        last_offset, last_size = regions[-1]
        if offset == last_offset + last_size:
            regions[-1] = (last_offset, last_size + size)
        else:
            regions.append((offset, size))
    return regions


def erase(
    port: Target,
    everything: bool,
    baud: int = DEFAULT_BAUD,
    reset: str | ResetStrategy | None = None,
    say: Callable[[str], None] = lambda _: None,
    debug: bool = False,
) -> EraseResult:
    """`pytool erase`: the firmware (bootloader, table, app partitions, otadata; keeps NVS, /flash and the
    config block) or, with `everything`, the whole chip after backing up the config block and NVS."""
    from esptool.cmds import erase_flash
    from esptool.util import FatalError

    sink = ProgressSink()
    with esptool_logging(sink, debug), open_session(port, baud, reset, say, True) as session:
        result = EraseResult(False, port.spec, f"{session.flash_size // 0x100000}MB", session.mac, [])
        try:
            if everything:
                result.backup = str(write_backup(session))
                say(f"Backed up the config block and NVS to {result.backup}")
                erase_flash(session.esp)
                result.erased = [(0, session.flash_size)]
                result.config_block = "erased (backed up)"
            else:
                cb_before = session.md5(*fwmod.CONFIG_BLOCK)
                regions = firmware_regions(session)
                for offset, size in regions:
                    session.esp.erase_region(offset, size)
                result.erased = regions
                if session.md5(*fwmod.CONFIG_BLOCK) != cb_before:
                    result.config_block = "CHANGED"
                    raise FlashError("the config block changed during the erase", "please report this as a bug")
        except FatalError as exc:
            raise FlashError(f"erase failed: {str(exc).strip().splitlines()[0]}") from exc
        result.ok = True
    return result
