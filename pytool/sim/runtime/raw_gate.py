"""Raw-REPL code on its way to the interpreter: held until Ctrl-D, checked with the board's grammar, line ends
as the board's compiler sees them.

Pycom's raw REPL (pyexec.c, MicroPython 1.11) collects code bytes unchanged until Ctrl-D and then compiles them;
its lexer reads "\\r\\n" as one newline. The unix port's stdin turns every "\\n" into "\\r" (unix_mphal.c), so a
CRLF sent as is would reach the lexer as "\\r\\r" (two newlines: 'abc\\n\\ndef' instead of 'abc\\ndef' for a
CRLF inside a string literal). Sending "\\n" for "\\r\\n" gives the lexer exactly one newline, as on the board.
Code the board's parser rejects is not sent at all: the gate answers with what the board prints
("OK", "\\x04", the SyntaxError traceback, "\\x04", ">") and the interpreter stays at its raw prompt.

Boards with raw-paste (stock MicroPython) get their raw-paste requests answered here where a grammar is checked
(pyexec.c: "R\\x01", the window size, "\\x01" per window consumed, "\\x04" to acknowledge the end): the code then
goes to the interpreter as plain raw-REPL code with its line ends fixed, and the interpreter's "OK" (which
raw-paste does not send) is dropped by the supervisor ("drop_ok"). Elsewhere the interpreter serves raw-paste
itself, streaming the code into its compiler as the board does (no copy of the whole code in its heap); the gate
still gives its lexer one newline per "\\r\\n" and, as that drops bytes the interpreter's window count would
miss, takes over the flow control: it grants the host a window per window of bytes the host sent (the pty and
the supervisor's buffer hold what the interpreter has not read yet) and drops the interpreter's own grants
(`output`).
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
        self._stream = False  # the interpreter serves raw-paste: host bytes go through _stream_byte
        self._out = ""  # its output then: "header" (its answer to come), "grants" (its grants to drop), ""
        self._stream_window = PASTE_WINDOW
        self._header = b""
        self._cr = False  # a "\r" held back: the start of a "\r\n"?

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
        self._stream, self._out, self._cr = False, "", False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Bytes from the host -> [("forward", bytes to the interpreter) | ("emit", bytes to the host)]."""
        out: list[tuple[str, bytes]] = []
        i = 0
        while i < len(data) and self.idle:
            byte = data[i]
            i += 1
            if self._stream:
                out += self._stream_byte(byte)
                continue
            if self._pasting:
                out += self._paste_byte(byte)
                continue
            if byte == CTRL_A and self.raw_paste and self._code == b"\x05A" and not self.checker.active:
                # the interpreter's own raw-paste: it streams the code to the compiler (the emulation below holds
                # all of it, a heap peak the board does not have); line ends and flow control: _stream_byte, output
                self._code.clear()
                self._stream, self._out, self._header = True, "header", b""
                self._window = self._stream_window = PASTE_WINDOW
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

    def _stream_byte(self, byte: int) -> list[tuple[str, bytes]]:
        """A byte of the host's raw-paste code while the interpreter serves raw-paste itself."""
        out: list[tuple[str, bytes]] = []
        if byte in (CTRL_C, CTRL_D):  # the end of the code (Ctrl-D) or an interrupt: the interpreter takes over
            out.append(("forward", (b"\r" if self._cr else b"") + bytes([byte])))
            self.idle, self._stream, self._cr = False, False, False
            return out
        if self._cr:
            self._cr = False
            out.append(("forward", b"\n" if byte == ord("\n") else bytes([ord("\r"), byte])))
        elif byte == ord("\r"):
            self._cr = True
        else:
            out.append(("forward", bytes([byte])))
        self._window -= 1
        if self._window == 0:  # the host used its window: grant the next (see the module docstring)
            self._window = self._stream_window
            out.append(("emit", b"\x01"))
        return out

    def output(self, data: bytes) -> bytes:
        """The interpreter's output: while it serves raw-paste, its answer goes out (and sets the window), its
        own window grants do not (the gate grants) until its "\\x04" that acknowledges the end of the code."""
        if self._out == "header":
            data, self._header = self._header + data, b""
            if len(data) < 4 and (data == b"R" or data.startswith(b"R\x01")):
                self._header = data  # (wait for the whole answer)
                return b""
            if not (data.startswith(b"R\x01") and len(data) >= 4):  # refused ("R\x00"): plain raw REPL
                self._out, self._stream = "", False
                return data
            self._out = "grants"
            self._stream_window = self._window = struct.unpack("<H", data[2:4])[0] or PASTE_WINDOW
            return data[:4] + self.output(data[4:])
        if self._out == "grants":
            end = data.find(b"\x04")
            if end < 0:
                return data.replace(b"\x01", b"")
            self._out = ""
            return data[:end].replace(b"\x01", b"") + data[end:]
        return data
