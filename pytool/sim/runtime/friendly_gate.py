"""Friendly-REPL input checked with the board's grammar before the interpreter compiles it.

The supervisor follows what the host types at the ">>> " prompt the way MicroPython's readline and pyexec do it
(shared/readline/readline.c, shared/runtime/pyexec.c, py/repl.c: backspace, auto-indent, continuation lines,
paste mode). When Enter (or Ctrl-D in paste mode) would make the REPL compile a statement that the board's
parser rejects, the interpreter gets Ctrl-C instead (it drops the statement) and the host sees what the board
prints: "\\r\\n", the SyntaxError traceback, ">>> ". Anything the gate does not follow exactly (cursor keys,
history, tab completion, Emacs keys) turns checking off for that statement: it then runs unchecked.
"""

from __future__ import annotations

from pytool.sim.runtime.grammar import GrammarChecker

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
_COMPOUND = ("if", "while", "for", "try", "with", "def", "class", "async")


def continue_with_input(text: str) -> bool:
    """py/repl.c mp_repl_continue_with_input: does the REPL want another line before compiling `text`?"""
    if not text:
        return False
    compound = text[0] == "@" or any(
        text.startswith(word) and (len(text) == len(word) or not (text[len(word)].isalnum() or text[len(word)] == "_"))
        for word in _COMPOUND
    )
    paren = brack = brace = 0
    quote = 0  # 0 none, 1 ', 2 ", 3 ''', 4 """
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            single, triple = (1, 3) if c == "'" else (2, 4)
            if quote in (0, triple) and text[i + 1 : i + 3] == c * 2:
                i += 2
                quote = triple - quote
            elif quote in (0, single):
                quote = single - quote
        elif c == "\\" and text[i + 1 : i + 2] in ("'", '"', "\\"):
            if quote:
                i += 1
        elif not quote:
            paren += c == "("
            paren -= c == ")"
            brack += c == "["
            brack -= c == "]"
            brace += c == "{"
            brace -= c == "}"
        i += 1
    if quote in (3, 4):
        return True
    if (paren > 0 or brack > 0 or brace > 0) and not quote:
        return True
    if text.endswith("\\"):
        return True
    return compound and not text.endswith("\n")


def auto_indent(text: str) -> int:
    """readline_auto_indent: how many 4-space steps the next continuation line starts with (`text` ends with
    the newline the REPL added)."""
    if len(text) <= 1 or not text.endswith("\n"):
        return 0
    i = len(text) - 1
    while i > 0 and text[i - 1] != "\n":
        i -= 1
    j = i
    while j < len(text) and text[j] == " ":
        j += 1
    if i > 0 and j + 1 == len(text):  # previous line is not the first one and is all spaces
        k = i - 1
        while k > 0:
            if text[k - 1] == "\n":
                return 0  # the last two lines are all spaces
            if text[k - 1] != " ":
                break
            k -= 1
    return (j - i) // 4 + (1 if text[-2] == ":" else 0)


class FriendlyGate:
    """Follows one statement typed at the friendly prompt (`idle` while the REPL reads it)."""

    def __init__(self, checker: GrammarChecker) -> None:
        self.checker = checker
        self.idle = False
        self._reset()

    def _reset(self) -> None:
        self._lines: list[str] = []
        self._cur = bytearray()
        self._auto = True
        self._just_indented = False
        self._paste: bytearray | None = None
        self._last_cr = False

    def prompt(self) -> None:
        """The REPL shows ">>> ": a new statement starts."""
        self.idle = True
        self._reset()

    def leave(self) -> None:
        """The REPL stopped reading statements (code runs, raw REPL, soft reboot) or the gate lost track."""
        self.idle = False
        self._reset()

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Host bytes -> actions: ("forward", bytes) to the interpreter, ("refused", text): the interpreter's
        answer to the Ctrl-C (its "\r\n" before the next ">>> ") is to be replaced by `text`."""
        out: list[tuple[str, bytes]] = []
        fwd = bytearray()
        i = 0
        while i < len(data) and self.idle:
            byte = data[i]
            i += 1
            if byte == 0x0A and self._last_cr:  # CRLF is one Enter on the board (the unix port makes it two)
                self._last_cr = False
                continue
            self._last_cr = byte == 0x0D
            verdict = self._paste_char(byte) if self._paste is not None else self._char(byte)
            if verdict is None:
                fwd.append(byte)
                continue
            if verdict == "lost":
                fwd.append(byte)
                self.leave()
                continue
            # verdict: the source the REPL compiles now
            issue = self.checker.check(verdict.encode())
            if issue is None:
                fwd.append(byte)
            else:  # the interpreter drops the statement; the host sees the board's error
                fwd.append(CTRL_C)
                out.append(("forward", bytes(fwd)))
                fwd.clear()
                out.append(("refused", b"\r\n" + issue.traceback("<stdin>").encode()))
            self.leave()
            if data[i : i + 1] == b"\n" and byte == 0x0D:
                i += 1  # the LF of a CRLF Enter
        if i < len(data):
            fwd += data[i:]
        if fwd:
            out.append(("forward", bytes(fwd)))
        return out

    def _paste_char(self, byte: int) -> str | None:
        if byte == CTRL_C:
            self.leave()
            return None
        if byte == CTRL_D:
            return bytes(self._paste).replace(b"\r\n", b"\n").replace(b"\r", b"\n").decode(errors="replace")
        self._paste.append(byte)
        return None

    def _char(self, byte: int) -> str | None:
        """One byte of line editing: None (keep following), "lost", or the statement to compile now."""
        just, self._just_indented = self._just_indented, False
        first = not self._lines
        if byte in (CTRL_A, CTRL_B, CTRL_D, CTRL_E) and not self._cur:
            if byte == CTRL_E and first:
                self._paste = bytearray()
                return None
            if byte == CTRL_D and not first:  # ends a compound statement
                return "\n".join(self._lines) + "\n"
            return "lost"  # raw REPL, banner, soft reset: the supervisor follows those itself
        if byte == CTRL_C:
            self._reset()
            return None
        if byte in (8, 127):
            if self._cur:
                spaces = len(self._cur) if not self._cur.strip(b" ") else 0
                del self._cur[-(4 if spaces >= 4 else 1) :]
            return None
        if just and byte in (9, 0x20):  # tab/space right after an auto-indent: auto-indent off
            self._auto = False
            if byte == 0x20:
                del self._cur[-3:]
            return None
        if byte == 0x0D:
            return self._enter()
        if byte >= 0x20 and byte != 0x7F:
            self._cur.append(byte)
            return None
        return "lost"  # escape sequences, tab completion, Emacs keys

    def _enter(self) -> str | None:
        line = self._cur.decode(errors="replace")
        self._cur = bytearray()
        if not self._lines and not line:
            return None  # an empty line: a new prompt
        text = "\n".join([*self._lines, line])
        if not continue_with_input(text):
            return text
        self._lines.append(line)
        if self._auto:
            steps = auto_indent(text + "\n")
            if steps:
                self._cur += b"    " * steps
                self._just_indented = True
        return None
