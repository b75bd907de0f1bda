"""Line rates: the boot rate, esptool's flashing rate, and the bridge-rate switch for bulk transfers (issue 23).

A board's REPL runs on UART0 at the boot rate (115200: Pycom's frozen `_boot.py` does `os.dupterm(UART(0,
115200))`, stock MicroPython the same). Its USB-UART bridge sustains much more (FTDI, CP210x, CH340/CH9102:
921600; Pycom's PIC boards relay reads at 230400 at most, reference section 2), so for a bulk transfer (sync
uploads, `put`, `get`, `deploy`) the host asks the board to re-initialise UART0 at the bridge's rate, follows it,
and puts both back afterwards (`fast_link`). The switch can never strand the board:

1. at the boot rate the host runs `_pt_rate(...)` (pytool/board_code/rate.py): a timer on the board moves UART0 to
   the new rate `SWITCH_AFTER_MS` later, and back to the boot rate when its lease runs out (`CONFIRM_MS` at first);
2. the host waits until the board has switched, sets its own port to the new rate (over RFC2217 and labgrid ports
   pyserial sends SET_BAUDRATE; telnet has no line rate) and confirms with an exec at the new rate, which renews
   the lease (`_pt_rl()`); every later exec renews it again (`BoardSession.exec_prefix`), by `LEASE_MS`;
3. a confirmation that gets no answer leaves the board to go back by itself; the host waits out the longest lease
   it may have granted, returns to the boot rate and carries on there; a cable pulled mid-transfer: the lease runs
   out and the board is back at the boot rate a few seconds later;
4. afterwards `_pt_rate_end` sends the board back and the host follows.

Which rate: `PYTOOL_FAST_BAUD` (0 = never switch) > pytool.toml `[serial] fast_baud` (0 or false = never) > the
bridge family's rate. A switch costs about half a second, so sessions that would not save more never switch.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pytool.errors import PytoolError, UsageError

if TYPE_CHECKING:
    from pytool.board import BoardSession
    from pytool.ports import Target

BOOT_BAUD = 115200  # the ROM's and the firmware's console rate
FLASH_BAUD = 921600  # esptool's default flashing rate (CHANGE_BAUDRATE)
FAST_ENV = "PYTOOL_FAST_BAUD"
#: The rate a USB-UART bridge sustains both ways, by USB vendor id (ports.USB_FAMILIES names the families).
VENDOR_RATES = {
    0x0403: 921600,  # FTDI (FT232R, FT-X on Expansion Board 2.0, FT2232H)
    0x10C4: 921600,  # Silicon Labs CP210x
    0x1A86: 921600,  # WCH CH340 / CH341 / CH9102
    0x04D8: 230400,  # Pycom PIC boards: reads relayed at 230400 at most (pytool.pic.MAX_READ_BAUD)
}
SIM_RATE = 921600  # a paced simulator models a CP210x-class bridge

SWITCH_AFTER_MS = 100  # the board changes rate this long after the switch exec started ...
TICK_MS = 50  # ... checked by its timer this often
CONFIRM_MS = 1500  # the board goes back unless the host confirms within this (after switching)
LEASE_MS = 5000  # each exec at the new rate keeps it this much longer
CONFIRM_TIMEOUT_S = 0.8  # how long the host waits for the confirmation's answer
SWITCH_COST_S = 1.0  # what a switch up and down costs, about: shorter transfers stay at the boot rate
_MARGIN_S = 0.08


def family_rate(target: Target) -> int | None:
    """The rate the target's bridge sustains (None: unknown, or a port with no line rate such as telnet)."""
    from pytool.ports import USB_FAMILIES

    if target.kind == "telnet":
        return None
    if target.kind == "sim":
        from pytool.sim import registry

        with contextlib.suppress(PytoolError):
            if registry.find(target.sim or "").paced:
                return SIM_RATE
        return None  # an unpaced simulator moves bytes at any rate: nothing to gain
    for (vid, _pid), family in USB_FAMILIES.items():
        if family.name == target.family and family.reset != "none":
            return VENDOR_RATES.get(vid)
    return None


def fast_rate(
    target: Target, setting: int | bool | None = None, environ: Mapping[str, str] | None = None
) -> int | None:
    """The rate bulk transfers switch to, or None to stay at the boot rate (see the module docstring)."""
    environ = os.environ if environ is None else environ
    value: Any = environ.get(FAST_ENV, "").strip()
    if value:
        try:
            value = int(value)
        except ValueError:
            raise UsageError(f"{FAST_ENV}={value!r} is not a baud rate", "give a number such as 921600, or 0") from None
    elif setting is not None:
        value = int(setting)
    else:
        value = family_rate(target)
    if target.kind == "telnet" or not value or value <= BOOT_BAUD:
        return None
    return value


def worth_switching(wire_bytes: int, rate: int, boot: int = BOOT_BAUD) -> bool:
    """Whether moving `wire_bytes` at `rate` instead of `boot` saves more than a switch costs."""
    return wire_bytes * 10 / boot - wire_bytes * 10 / rate > SWITCH_COST_S


def _set_host_rate(board: BoardSession, rate: int) -> None:
    board.wire.port.baudrate = rate  # pty: termios; rfc2217://: SET_BAUDRATE through the protocol


def _confirm(board: BoardSession, rate: int) -> bool:
    """Run the confirmation at the new rate (on mpremote's transport, as every exec); True when the board
    answered it intact within `CONFIRM_TIMEOUT_S`."""
    from mpremote.transport import TransportError
    from serial import SerialException

    from pytool.board import parse_result

    port = board.wire.port
    timeout, port.timeout = port.timeout, CONFIRM_TIMEOUT_S
    try:
        board.stats.round_trips += 1
        board.transport.exec_raw_no_follow(f"_pt_rl()\n_pt_out({rate})\n".encode())
        out, err = board.transport.follow(CONFIRM_TIMEOUT_S)
        return not err and parse_result(out) == rate
    except (TransportError, PytoolError, SerialException, OSError):
        return False
    finally:
        port.timeout = timeout


def _line_rate_writer(transport: Any, rate: int) -> Any:
    """mpremote's raw-REPL writer at the line rate: it sends code in 256-byte slices 10 ms apart (25.6 KB/s, a
    115200 line's pace), which would waste most of a faster line on boards without raw-paste (Pycom 1.20). The
    same writer with slices that take the line 10 ms at `rate`; raw-paste (flow-controlled by the board) as is."""
    from mpremote.transport import TransportError

    from pytool import repl

    original = type(transport).exec_raw_no_follow
    step = max(256, rate // 1000)

    def exec_raw_no_follow(command: bytes | str) -> Any:
        if transport.use_raw_paste:
            return original(transport, command)
        data = command if isinstance(command, bytes) else command.encode()
        if not transport.read_until(1, b">").endswith(b">"):
            raise TransportError("could not enter raw repl")
        for offset in range(0, len(data), step):
            transport.serial.write(data[offset : offset + step])
            time.sleep(0.01)
        transport.serial.write(repl.EOT)
        answer = transport.serial.read(2)
        if answer != b"OK":
            raise TransportError(f"could not exec command (response: {answer!r})")
        return None

    return exec_raw_no_follow


def switch_up(board: BoardSession, rate: int) -> bool:
    """Move board and host to `rate`; True when both are there, False when they are back at the boot rate."""
    from pytool.board_code import load

    board.exec(
        board.helpers("rate", load("rate.py")) + f"_pt_rate({rate},{BOOT_BAUD},{SWITCH_AFTER_MS},"
        f"{CONFIRM_MS},{LEASE_MS},{TICK_MS})\n"
    )
    time.sleep(SWITCH_AFTER_MS / 1000 + TICK_MS / 1000 + _MARGIN_S)
    _set_host_rate(board, rate)
    sent = time.monotonic()
    if _confirm(board, rate):
        board.exec_prefix = "_pt_rl()\n"
        board.transport.exec_raw_no_follow = _line_rate_writer(board.transport, rate)
        return True
    # The board goes back by itself: at the latest when a lease our confirmation may have renewed runs out.
    time.sleep(max(0.0, sent + LEASE_MS / 1000 + TICK_MS / 1000 + _MARGIN_S - time.monotonic()))
    _set_host_rate(board, BOOT_BAUD)
    with contextlib.suppress(Exception):
        board.wire.reset_input_buffer()
    board.enter_raw_repl()
    return False


def switch_down(board: BoardSession) -> None:
    """Send the board back to the boot rate and follow it (best effort: a board we lost goes back by itself)."""
    board.exec_prefix = ""
    vars(board.transport).pop("exec_raw_no_follow", None)  # mpremote's own writer again
    with contextlib.suppress(PytoolError):
        board.exec(f"_pt_rate_end({SWITCH_AFTER_MS})\n")
    time.sleep(SWITCH_AFTER_MS / 1000 + TICK_MS / 1000 + _MARGIN_S)
    with contextlib.suppress(Exception):  # (the raw prompt that ended the exec stays in the input buffer)
        _set_host_rate(board, BOOT_BAUD)


@contextlib.contextmanager
def fast_link(board: BoardSession, wire_bytes: int) -> Iterator[int]:
    """Run a bulk transfer of about `wire_bytes` at the bridge's rate when that pays; yields the rate in use."""
    rate = fast_rate(board.target, board.fast_baud)
    if rate is None or not worth_switching(wire_bytes, rate):
        yield BOOT_BAUD
        return
    switched = switch_up(board, rate)
    board.rate_switch = "on" if switched else "failed"
    try:
        yield rate if switched else BOOT_BAUD
    finally:
        if switched:
            switch_down(board)
