"""The package's shape (issue 15): modules stay small, nothing imports in a circle, and the REPL's control bytes
are spelled in one module only (pytool/repl.py), outside the simulator (which plays the board's side)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pytool"
MAX_LINES = 600
#: Device-side code kept as .py resources (sent to the board, never imported on the host).
RESOURCES = PACKAGE / "board_code"
#: arch-fw (issue 15, part 2) splits these at the same time; empty the sets when that branch is merged.
REPL_MODULE = "pytool/repl.py"
#: A control byte spelled in a raw string: Python leaves the escape alone, a regular expression reads it.
RAW_CONTROL_ESCAPE = re.compile(r"\\(?:x0[1-4]|u000[1-4]|U0000000[1-4])", re.I)


def modules() -> dict[str, Path]:
    """Every host module of the package by dotted name (packages by their own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if RESOURCES in path.parents and path.name != "__init__.py":
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def rel(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix() if PACKAGE in path.parents else str(path)


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The pytool modules `name` imports anywhere: at the top, inside functions, under `if TYPE_CHECKING`
    (a type-only import still ties the two modules together)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def control_bytes(path: Path) -> list[str]:
    """Places in `path` that spell a REPL control byte (0x01-0x04): in a string or bytes literal, or chr(1..4)."""
    text = path.read_text()
    found = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type != tokenize.STRING:
            continue
        prefix = token.string[: min(token.string.find(q) for q in "'\"" if q in token.string)].lower()
        if "r" in prefix:
            spelled = bool(RAW_CONTROL_ESCAPE.search(token.string))
        else:
            value = ast.literal_eval(token.string.replace("f", "", 1) if "f" in prefix else token.string)
            chars = value if isinstance(value, str) else value.decode("latin-1")
            spelled = any(c in chars for c in "\x01\x02\x03\x04")
        if spelled:
            found.append(f"{rel(path)}:{token.start[0]} {token.string[:40]}")
    for node in ast.walk(ast.parse(text)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "chr"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in (1, 2, 3, 4)
        ):
            found.append(f"{rel(path)}:{node.lineno} chr({node.args[0].value})")
    return found


def test_no_module_is_over_600_lines():
    lengths = {rel(path): len(path.read_text().splitlines()) for path in modules().values()}
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_no_import_cycle_among_pytool_modules():
    found = set(cycles(import_graph()))
    assert not found, f"import cycles: {[sorted(c) for c in found]}"


def test_the_cycle_check_sees_function_level_imports():
    graph = import_graph()
    assert "pytool.ble.scanner" in graph["pytool.ble.selection"]  # imported inside install()
    assert "pytool.ble.transport" in graph["pytool.ble.scanner"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]


def test_repl_control_bytes_live_in_one_module():
    outside_sim = [p for p in modules().values() if PACKAGE / "sim" not in p.parents]
    spelled = {rel(p): found for p in outside_sim if (found := control_bytes(p))}
    assert list(spelled) == [REPL_MODULE], spelled


@pytest.mark.parametrize(
    "source",
    [
        'x = b"\\r\\x03"',
        "x = rb'OK\\x04'",
        'x = "\\u0002"',
        "x = chr(3)",
        'x = b"\\3"',
        'x = "\x01"',
        'x = f"{1}\\x02"',
    ],
)
def test_the_control_byte_check_finds_every_spelling(tmp_path, source):
    module = tmp_path / "m.py"
    module.write_text(source + "\n")
    assert control_bytes(module)
    module.write_text('x = b"\\r\\x06" + "0x04" + chr(65) + r"\\1"\n')  # Ctrl-F, text, "A", a backreference
    assert not control_bytes(module)


def test_device_code_resources_ship_inside_the_package():
    from pytool import board_code

    names = sorted(p.name for p in RESOURCES.glob("*.py") if p.name != "__init__.py")
    assert "prelude.py" in names and "sync_helpers.py" in names
    for name in names:
        text = board_code.load(name)
        assert text and not text.startswith("#")
        fields = {"file": "x", "key": "y", "missing": "z"} if name == "cache_stub.py" else ()
        compile(text % fields, name, "exec")  # valid Python


def test_device_code_files_never_redefine_each_others_names():
    """A session's helpers share the board's globals: a second definition of a name silently replaces the first (the
    rmdir helper was once called `_pt_rd`, the upload reader's name, and an upload after `cp` on the board failed)."""
    from pytool import board_code

    defined: dict[str, str] = {}
    for path in sorted(RESOURCES.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for name in re.findall(r"^def (\w+)\(", board_code.load(path.name), re.M):
            assert name not in defined, f"{name} is defined in {defined.get(name)} and {path.name}"
            defined[name] = path.name
    assert "_pt_rd" in defined and "_pt_rmd" in defined
