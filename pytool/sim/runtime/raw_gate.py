"""Raw-REPL code on its way to the interpreter: held until Ctrl-D, checked with the board's grammar, line ends
as the board's compiler sees them.

Pycom's raw REPL (pyexec.c, MicroPython 1.11) collects code bytes unchanged until Ctrl-D and then compiles them;
its lexer reads "\\r\\n" as one newline. The unix port's stdin turns every "\\n" into "\\r" (unix_mphal.c), so a
CRLF sent as is would reach the lexer as "\\r\\r" (two newlines: 'abc\\n\\ndef' instead of 'abc\\ndef' for a
CRLF inside a string literal). Sending "\\n" for "\\r\\n" gives the lexer exactly one newline, as on the board.
Code the board's parser rejects is not sent at all: the gate answers with what the board prints
("OK", "\\x04", the SyntaxError traceback, "\\x04", ">") and the interpreter stays at its raw prompt.

Boards with raw-paste (stock MicroPython) get their raw-paste requests answered here (pyexec.c: "R\\x01", the
window size, "\\x01" per window consumed, "\\x04" to acknowledge the end): the code then goes to the interpreter
as plain raw-REPL code with its line ends fixed, and the interpreter's "OK" (which raw-paste does not send) is
dropped by the supervisor ("drop_ok").
"""

from __future__ import annotations

import struct

from pytool.sim.runtime.grammar import GrammarChecker

CTRL_A, CTRL_B, CTRL_C, CTRL_D = 1, 2, 3, 4
PASTE_WINDOW = 128  # what the ESP32 port announces (MICROPY_REPL_STDIN_BUFFER_MAX / 2)


class RawCodeGate:
    """Raw-REPL input while the interpreter waits at its raw prompt (`idle`); see the module docstring."""

    def __init__(self, checker: GrammarChecker, raw_paste: bool = False) -> None:
        self.checker = checker
        self.raw_paste = raw_paste
        self.idle = False
        self._code = bytearray()
        self._pasting = False
        self._window = 0  # bytes left in the current raw-paste window

    def prompt(self) -> None:
        """The interpreter shows its raw prompt: the next bytes are code."""
        self.idle = True
        self._code.clear()
        self._pasting = False

    def leave(self) -> None:
        """The interpreter left the raw prompt (runs code, soft reboot, friendly REPL)."""
        self.idle = False
        self._code.clear()
        self._pasting = False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Bytes from the host -> [("forward", bytes to the interpreter) | ("emit", bytes to the host)]."""
        out: list[tuple[str, bytes]] = []
        i = 0
        while i < len(data) and self.idle:
            byte = data[i]
            i += 1
            if self._pasting:
                out += self._paste_byte(byte)
                continue
            if byte == CTRL_A and self.raw_paste and self._code == b"\x05A" and not self.checker.active:
                # the interpreter's own raw-paste: it streams the code to the compiler (the emulation below holds
                # all of it, a heap peak the board does not have); its CRLF handling is the unix port's
                self.leave()
                out.append(("forward", b"\x05A\x01"))
                continue
            if byte == CTRL_A and self.raw_paste and self._code == b"\x05A":
                self._code.clear()
                self._pasting = True
                self._window = PASTE_WINDOW
                out.append(("emit", b"R\x01" + struct.pack("<H", PASTE_WINDOW)))
                continue
            if byte == CTRL_D:
                if not self._code:
                    self.leave()  # Ctrl-D on an empty line: soft reset
                    out.append(("forward", b"\x04"))
                    continue
                code = bytes(self._code).replace(b"\r\n", b"\n")
                self._code.clear()
                issue = self.checker.check(code)
                if issue is None:
                    self.leave()
                    out.append(("forward", code + b"\x04"))
                else:
                    out.append(("emit", b"OK\x04" + issue.traceback("<stdin>").encode() + b"\x04>"))
            elif byte in (CTRL_A, CTRL_B, CTRL_C):  # reset the raw REPL / leave it / clear the line
                self._code.clear()
                if byte == CTRL_B:
                    self.leave()
                out.append(("forward", bytes([byte])))
            else:
                self._code.append(byte)
        if i < len(data):
            out.append(("forward", data[i:]))
        return out

    def _paste_byte(self, byte: int) -> list[tuple[str, bytes]]:
        if byte != CTRL_D:
            self._code.append(byte)
            self._window -= 1
            if self._window == 0:  # consumed: the host may send the next window
                self._window = PASTE_WINDOW
                return [("emit", b"\x01")]
            return []
        code = bytes(self._code).replace(b"\r\n", b"\n") or b"\n"  # (an empty line would soft-reset)
        self._code.clear()
        self._pasting = False
        issue = self.checker.check(code)
        if issue is None:
            self.leave()
            return [("emit", b"\x04"), ("drop_ok", b""), ("forward", code + b"\x04")]
        return [("emit", b"\x04\x04" + issue.traceback("<stdin>").encode() + b"\x04>")]
