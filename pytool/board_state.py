"""Why a board does not answer the raw REPL, told apart by what it prints; and getting it back without the REPL.

When Ctrl-C + Ctrl-A bring no raw REPL prompt, the port is read for what the module says (reference:
esp32-rom-protocol.txt, pycom-platform.txt):
- a blank module (never flashed, or `erase --all`): the ROM finds no bootloader, "invalid header: 0xffffffff";
- erased firmware (`pytool erase`): the bootloader runs but "image at 0x10000 has invalid magic byte";
- a half-flashed or damaged firmware: the bootloader's other image errors (checksum, hash, segments, partition
  table) or a ROM "invalid header" that is not all 0xff;
- ROM download mode ("waiting for download"): the ROM serial loader answers esptool's SYNC;
- a program that does not stop on Ctrl-C: the module boots cleanly (ROM and bootloader text, no error);
- silence: nothing at all, even after a reset.
What the module printed during the attempt is read first; if that does not tell, its ROM loader is asked (SYNC,
harmless to a running firmware) and, where pytool has a reset line (a simulator, DTR/RTS), the module is reset
and its boot text read. Another program reading the port is found before any of this (`port_lock`).
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from typing import TYPE_CHECKING, Any

from pytool.errors import PytoolError

if TYPE_CHECKING:
    from pytool.ports import Target

#: The ROM's reset line ("rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)"): the module (re)booted.
ROM_RESET = re.compile(rb"rst:0x[0-9a-f]+ \([A-Z0-9_]+\),boot:0x[0-9a-f]+")
DOWNLOAD = b"waiting for download"
BLANK = re.compile(rb"invalid header: 0xffffffff|flash read err, 1000")  # the ROM finds no bootloader
BAD_HEADER = re.compile(rb"invalid header: 0x[0-9a-f]{8}")
APP_ERASED = re.compile(rb"esp_image: image at 0x[0-9a-f]+ has invalid magic byte")
#: The 2nd-stage bootloader's error lines ("E (50) esp_image: ...", "E (40) boot: ...", "E (40) flash_parts: ...").
BOOT_ERROR = re.compile(rb"E \(\d+\) (?:esp_image|boot|flash_parts): [^\r\n]*")
FLASH_HINT = "flash a firmware: `pytool flash FIRMWARE` (a Pycom archive or an ESP32 image)"
BOOT_WAIT_S = 2.5  # boot text arrives within this after a reset (ROM + bootloader: well under a second)


def _last_boot(text: bytes) -> bytes:
    """What the module printed since its last reset (the whole text when no reset line is in it)."""
    starts = [m.start() for m in ROM_RESET.finditer(text)]
    return text[starts[-1] :] if starts else text


def verdict(target: Target, text: bytes) -> PytoolError | None:
    """The error that says what state the module on `target` is in, judged from what it printed; None when the
    text does not tell (no boot text in it)."""
    spec = target.spec
    boot = _last_boot(text)
    if DOWNLOAD in boot:
        return download_mode(target)
    if BLANK.search(boot):
        return blank(target, None)
    if found := BAD_HEADER.search(boot):
        return PytoolError(
            f"the board on {spec} has a damaged bootloader (the ROM says '{found.group(0).decode()}'): "
            "a flash was interrupted",
            f"flash the firmware again: {FLASH_HINT.split(': ', 1)[1]}",
        )
    errors = [m.group(0).decode("ascii", "replace") for m in BOOT_ERROR.finditer(boot)]
    if errors and APP_ERASED.search(boot) and all("esp_image" not in e or "invalid magic" in e for e in errors):
        return PytoolError(
            f"the firmware on {spec} is erased: the bootloader finds no app to start ({errors[0]})", FLASH_HINT
        )
    if errors:
        return PytoolError(
            f"the board on {spec} does not boot: its firmware is damaged or half-flashed ({errors[0]})",
            f"flash it again (an interrupted flash leaves it so): {FLASH_HINT.split(': ', 1)[1]}",
        )
    if ROM_RESET.search(boot):
        return PytoolError(
            f"the board on {spec} boots, but its program does not stop on Ctrl-C (no raw REPL prompt)",
            "boot it without boot.py and main.py: `pytool reset --safe`, then fix main.py",
        )
    return None


def blank(target: Target, data_kept: bool | None) -> PytoolError:
    """No bootloader at 0x1000 ("invalid header: 0xffffffff"): a never-flashed module, or `pytool erase`d firmware
    whose /flash and NVS are still there (`data_kept`, when the ROM loader could be asked; None: not known)."""
    said = "(the ROM says 'invalid header: 0xffffffff')"
    if data_kept:
        return PytoolError(
            f"the firmware on {target.spec} is erased {said}; its files (/flash) and settings (NVS) are still there",
            f"{FLASH_HINT}; the files come back with it",
        )
    if data_kept is False:
        return PytoolError(
            f"the board on {target.spec} is blank: no bootloader, no firmware, no files {said}", FLASH_HINT
        )
    return PytoolError(
        f"the board on {target.spec} has no bootloader and no firmware: its flash is blank or erased {said}", FLASH_HINT
    )


def data_kept(target: Target, port: Any) -> bool | None:
    """Does the flash still hold NVS or a filesystem (firmware erased) or nothing at all (blank)? Asked of the ROM
    loader, which the module is reset into (a simulator's control socket, or esptool's DTR/RTS reset) and out of
    again; None when pytool cannot reset it."""
    from esptool.cmds import attach_flash
    from esptool.targets import ESP32ROM

    from pytool.boards import get_board

    layout = get_board(target.board).layout if target.board else None
    fs, size = (layout.fs.offset, layout.flash_size) if layout else (0x380000, 0x400000)
    loader = ESP32ROM(port)
    try:
        if target.reset == "sim" and target.sim:
            from pytool import sim

            sim.SimControl(sim.registry.find(target.sim).control or "").reset(bootloader=True)
            time.sleep(0.2)
            loader.flush_input()
            loader.sync()
        elif target.reset == "dtr-rts":
            loader.connect()
        else:
            return None
        with contextlib.redirect_stdout(io.StringIO()):  # esptool's notes
            attach_flash(loader)
            loader.flash_set_parameters(size)  # the ROM assumes 2 MB until told
            found = loader.read_flash(0x9000, 64) + loader.read_flash(fs, 64)
    except Exception:  # esptool's FatalError, a lost port: not known
        return None
    finally:
        press_reset(target, port)
    return found != b"\xff" * len(found)


def download_mode(target: Target) -> PytoolError:
    """The module waits in its ROM serial loader (IO0 was low at reset) instead of running its firmware."""
    if target.reset == "sim" and target.sim:
        boot = f"`pytool sim reset {target.sim}`"
    elif target.reset == "manual":
        boot = "remove the G23 jumper and press reset"
    else:
        boot = "release IO0 (G23: remove the jumper) and press reset"
    return PytoolError(
        f"the board on {target.spec} is in its ROM download mode (waiting for download), not running its firmware",
        f"flash it (`pytool flash FIRMWARE`), or boot its firmware: {boot}",
    )


def silent(spec: str, reset: bool) -> PytoolError:
    """Nothing came from the port at all."""
    after = ", not even boot text after a reset" if reset else ""
    return PytoolError(
        f"the board on {spec} prints nothing{after}",
        "check it is powered and that this is its port (`pytool devices`), then press reset",
    )


def rom_loader_answers(port: Any) -> bool:
    """Does the ESP32 ROM serial loader answer esptool's SYNC on the open pyserial `port`? (A running firmware
    reads the frame as a line of junk.)"""
    from esptool.targets import ESP32ROM
    from esptool.util import FatalError

    loader = ESP32ROM(port)
    for _ in range(3):
        with contextlib.suppress(FatalError, OSError, ValueError):
            loader.flush_input()
            loader.sync()
            return True
    return False


def press_reset(target: Target, port: Any, safe_boot: bool = False) -> bool:
    """Reset the module through the reset line pytool has for `target` (a simulator's control socket; EN by RTS on
    the classic auto-reset circuit). False when there is none (the person has to press the button)."""
    if target.reset == "sim" and target.sim:
        from pytool import sim

        record = sim.registry.find(target.sim)
        if not record.control:
            return False
        sim.SimControl(record.control).reset(safe_boot=safe_boot)
        return True
    if target.reset == "dtr-rts" and not safe_boot:
        try:  # esptool's HardReset: EN low for 100 ms with IO0 high
            port.dtr = False
            port.rts = True
            time.sleep(0.1)
            port.rts = False
        except (OSError, ValueError):  # a pty or socket has no modem lines
            return False
        return True
    return False


def read_for(port: Any, seconds: float) -> bytes:
    """What the module prints within `seconds`."""
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            data += port.read(max(1, port.in_waiting))
    return data


def _told_blank(target: Target, port: Any, text: bytes) -> PytoolError | None:
    """For a module without bootloader: blank or erased firmware, asked of its ROM loader; else None."""
    if not BLANK.search(_last_boot(text)):
        return None
    return blank(target, data_kept(target, port))


def diagnose(target: Target, port: Any, seen: bytes) -> PytoolError:
    """The one-line error for a module on `target` that gave no raw REPL prompt; `seen` is what it printed
    meanwhile, `port` the open pyserial port. May reset the module to read its boot text."""
    found = verdict(target, seen)
    if found is not None:
        return _told_blank(target, port, seen) or found
    try:
        if rom_loader_answers(port):
            return download_mode(target)
    except Exception:  # esptool on an odd port: the other signs still tell
        pass
    reset = press_reset(target, port)
    if reset:
        text = read_for(port, BOOT_WAIT_S)
        found = verdict(target, text)
        if found is not None:
            return _told_blank(target, port, text) or found
        seen += text
    if not seen.strip(b"\r\n\x00"):
        return silent(target.spec, reset)
    return PytoolError(
        f"the board on {target.spec} does not answer (no raw REPL prompt), though it prints",
        "press reset; if main.py blocks Ctrl-C, boot without it: `pytool reset --safe`",
    )


def open_failure(target: Target, exc: BaseException) -> PytoolError:
    """The one-line error for a port that would not open: missing, busy or refused (another program holding it
    is named before this, by `port_lock.refuse_if_open_elsewhere`)."""
    import errno
    import os

    url = target.url
    if url.startswith("/") and not os.path.exists(url):
        return PytoolError(
            f"there is no port {target.spec}" + (f" ({url})" if url != target.spec else ""),
            "plug the board in, or pick a port from `pytool devices`",
        )
    exc = _real_reason(url, exc)
    text, code = str(exc), getattr(exc, "errno", None)
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text or "busy" in text.lower():
        return PytoolError(
            f"{target.spec} is busy: another program holds it ({text})",
            "close the other program (a terminal, mpremote, Pymakr), then try again",
        )
    if code == errno.EACCES or "Permission denied" in text:
        return PytoolError(
            f"no permission to open {target.spec}",
            "add yourself to the port's group (`sudo usermod -aG dialout $USER`, then log in again)",
        )
    return PytoolError(
        f"cannot open {target.spec}: {text}",
        "check the port name (`pytool devices`) and that no other program (a REPL, Pymakr) holds it",
    )


def _real_reason(url: str, exc: BaseException) -> BaseException:
    """pyserial's own error for opening `url` (mpremote's "failed to access PORT" hides it), else `exc`."""
    import serial

    if getattr(exc, "errno", None) is not None:
        return exc
    try:
        serial.serial_for_url(url, exclusive=True).close()
    except (serial.SerialException, OSError, ValueError) as real:
        return real
    return exc


def _read_until(port: Any, marker: bytes, seconds: float, text: bytes = b"") -> bytes:
    deadline = time.monotonic() + seconds
    while marker not in text and time.monotonic() < deadline:
        text += port.read(max(1, port.in_waiting))
    return text


def safe_boot(target: Target, wait: float = 8.0) -> bytes:
    """Pycom safe boot (boot.py and main.py skipped once) without the raw REPL, so that it also works on a board
    whose main.py catches KeyboardInterrupt: Ctrl-F, which the firmware acts on at any time, even while main.py
    runs (reference 3); if no prompt follows (main.py called micropython.kbd_intr(-1)), the reset line: with the
    safe-boot pin held on a simulator, else a reset followed by Ctrl-F while the module boots (armed once the frozen
    _boot.py has run, before main.py). Returns the boot text up to the friendly prompt."""
    import serial

    from pytool import port_lock, repl

    with port_lock.hold(target.url):
        try:
            port = serial.serial_for_url(target.url, baudrate=115200, timeout=0.1, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            port_lock.refuse_if_open_elsewhere(target.url)
            raise open_failure(target, exc) from exc
        with contextlib.closing(port):
            port.reset_input_buffer()
            repl.safe_boot(port.write)
            text = _read_until(port, repl.BANNER_END, wait)
            if repl.BANNER_END not in text and target.reset == "sim":
                press_reset(target, port, safe_boot=True)  # the simulator holds P12 high through the reset
                text = _read_until(port, repl.BANNER_END, wait)
            elif repl.BANNER_END not in text and press_reset(target, port):
                text = b""
                deadline = time.monotonic() + 3.0
                while len(ROM_RESET.findall(text)) < 2 and time.monotonic() < deadline:  # until Ctrl-F resets it
                    repl.safe_boot(port.write)
                    text += port.read(max(1, port.in_waiting))
                text = _read_until(port, repl.BANNER_END, wait, text)
    if repl.BANNER_END not in text:
        found = verdict(target, text)
        raise found or PytoolError(
            f"the board on {target.spec} did not come back in safe boot (no prompt after Ctrl-F and a reset)",
            "hold P12 (G28) high while you press reset (Expansion Board 3: its Safe Boot button), then run again",
        )
    return text
