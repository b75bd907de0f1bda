"""The MicroPython REPL protocol in one place: control bytes, prompts, banner waits, raw-REPL exec.

Every byte sequence pytool sends to drive a board's REPL is spelled here and nowhere else (outside the
simulator); the two sessions use it:
- `pytool.board.BoardSession` (sync, board commands, deploy's sync step) on mpremote's SerialTransport: enters
  the raw REPL with `enter_raw_repl` (never a soft reset), then execs through mpremote (raw paste when offered);
- `pytool.monitor.BoardMonitor` (over-the-air tests, deploy's reset and firmware steps) on a port whose every
  byte goes into a capture: execs with `raw_exec`, paced, replies found in the capture.
`pytool.flash` and `pytool.deploy` ask a booted firmware for its banner with `ASK_BANNER`.

The raw REPL (MicroPython docs, "raw mode and raw-paste mode"): Ctrl-A enters it ("raw REPL; CTRL-B to exit\\r\\n>"),
code ends with Ctrl-D, the board answers "OK", the output, Ctrl-D, the error output, Ctrl-D, ">". Ctrl-B goes
back to the friendly REPL (which prints the banner), Ctrl-C interrupts, Ctrl-D in the friendly REPL soft-resets.
Pycom firmware adds Ctrl-F: reset into safe boot, at ANY time (reference 3) - hence `check_payload`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from pytool.errors import UsageError

CTRL_A = b"\x01"  # friendly REPL -> raw REPL
CTRL_B = b"\x02"  # raw REPL -> friendly REPL (prints the banner)
CTRL_C = b"\x03"  # KeyboardInterrupt
CTRL_D = b"\x04"  # raw REPL: end of code / end of output; friendly REPL: soft reset
CTRL_F = b"\x06"  # Pycom: reset into safe boot (skips boot.py and main.py once)
EOT = CTRL_D
#: Bytes that must never appear in code sent to the raw REPL (0x04 ends the code, 0x06 = safe-boot reset).
FORBIDDEN = frozenset(range(0x00, 0x07))

INTERRUPT = b"\r" + CTRL_C
INTERRUPT_TWICE = INTERRUPT + CTRL_C  # a program that caught the first KeyboardInterrupt
ENTER_RAW = b"\r" + CTRL_A
#: Interrupt whatever runs and ask the friendly REPL for its banner (as Pymakr does to identify firmware).
ASK_BANNER = INTERRUPT_TWICE + CTRL_B
#: Interrupt whatever runs and enter the raw REPL in one write.
INTERRUPT_TO_RAW = INTERRUPT_TWICE + CTRL_A
HARD_RESET_LINE = b"import machine; machine.reset()\r"  # typed at the friendly prompt
HARD_RESET_CODE = b"import machine\nmachine.reset()\n"  # run in the raw REPL

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n"
RAW_PROMPT_READY = RAW_PROMPT + b">"
#: The raw REPL's answer to one exec: OK, stdout, EOT, stderr, EOT, prompt.
RAW_REPLY = rb"OK(.*?)" + EOT + rb"(.*?)" + EOT + rb">"  # a bytes regular expression (search with re.S)
FRIENDLY_PROMPT = b">>> "
BANNER_END = b'Type "help()" for more information.\r\n>>> '
SOFT_REBOOT = b"soft reboot"
PACE_BYTES = 256  # Pycom 1.20 has no raw paste: code goes in slices of this size...
PACE_SECONDS = 0.01  # ...with this pause between them


class ControlByteError(UsageError, ValueError):
    """Code to run contains a byte the raw REPL would act on."""


def check_payload(code: bytes) -> None:
    """Refuse code that contains a raw-REPL control byte (0x00-0x06; 0x06 resets Pycom boards into safe boot)."""
    bad = FORBIDDEN.intersection(code)
    if bad:
        raise ControlByteError(
            f"the code contains control byte(s) {', '.join(f'0x{b:02x}' for b in sorted(bad))} that the raw REPL "
            "would act on (0x06 resets Pycom boards)",
            "write them as escapes in string literals, e.g. '\\x06'",
        )


def literal(value: str | bytes) -> str:
    """A Python literal for `value` that is pure ASCII (safe to send; MicroPython reads the escapes)."""
    return ascii(value)


def without_eot(text: str) -> str:
    """Serial text without the raw REPL's end-of-output markers."""
    return text.replace(EOT.decode(), "")


def is_eot(data: bytes) -> bool:
    """True for the end-of-output marker mpremote's `follow` hands to its stream callback."""
    return data == EOT


# --------------------------------------------------------------------------------------------- operations

Write = Callable[[bytes], object]


def enter_raw_repl(
    write: Write,
    discard_pending: Callable[[float], None],
    read_until: Callable[[bytes], bytes],
    attempts: int = 2,
) -> bool:
    """Interrupt whatever runs (Ctrl-C; twice on the 2nd attempt) and enter the raw REPL, WITHOUT a soft reset
    (a soft reset breaks Pycom's Bluetooth stack, reference 4.10). True once the raw prompt is seen.

    `discard_pending(seconds)` drops what the board printed meanwhile; `read_until(marker)` reads up to it (bounded
    by the caller's timeouts)."""
    for attempt in range(attempts):
        write(INTERRUPT_TWICE if attempt else INTERRUPT)
        discard_pending(0.5)
        write(ENTER_RAW)
        if read_until(RAW_PROMPT).endswith(RAW_PROMPT):
            return True
    return False


def raw_exec(
    write: Write, wait: Callable[[bytes, int], re.Match[bytes]], since: int, code: bytes
) -> tuple[bytes, bytes]:
    """Run `code` through the raw REPL on a captured port; (stdout, stderr) as the board sent them.

    `wait(pattern, position)` blocks until `pattern` appears in what the board printed after `position` (the
    match is relative to it), raising when it does not. Interrupts first; leaves the board at the friendly REPL."""
    check_payload(code)
    write(INTERRUPT_TO_RAW)
    entered = wait(re.escape(RAW_PROMPT_READY), since)
    start = since + entered.end()
    for offset in range(0, len(code), PACE_BYTES):
        write(code[offset : offset + PACE_BYTES])
        time.sleep(PACE_SECONDS)
    write(EOT)
    reply = wait(RAW_REPLY, start)
    write(CTRL_B)
    return reply.group(1), reply.group(2)


def soft_reset(write: Write) -> None:
    """Ctrl-D at the friendly prompt: boot.py and main.py run again (the board prints "soft reboot")."""
    write(CTRL_D)


def safe_boot(write: Write) -> None:
    """Ctrl-F at the friendly prompt: Pycom firmware resets and skips boot.py and main.py once."""
    write(CTRL_F)


def interrupt(write: Write) -> None:
    """Ctrl-C: stop the running program (KeyboardInterrupt on the board)."""
    write(CTRL_C)


def wait_for_banner(
    read: Callable[[], bytes],
    write: Write,
    patterns: list[re.Pattern[bytes]],
    timeout: float,
    seen: bytearray | None = None,
) -> str | None:
    """Read boot output until one of the banner `patterns` appears. After a few quiet seconds, interrupt whatever
    runs and ask the friendly REPL to print its banner (`ASK_BANNER`), again every few seconds (a request that
    came while the firmware was still starting, or that a busy program swallowed, gets no answer). Returns the
    banner line or None; then `seen` gets the last 8 KB the board printed (what to show instead)."""
    buffer = b""
    deadline = time.monotonic() + timeout
    every = min(4.0, timeout / 3)
    nudge_at = time.monotonic() + every
    while time.monotonic() < deadline:
        chunk = read()
        buffer = (buffer + chunk)[-8192:]
        for pattern in patterns:
            m = pattern.search(buffer)
            if m:
                return m.group(0).decode("ascii", "replace")
        if time.monotonic() > nudge_at:
            write(ASK_BANNER)
            nudge_at = time.monotonic() + every
    if seen is not None:
        seen[:] = buffer
    return None
