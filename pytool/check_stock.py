"""`pytool check` rules for stock MicroPython's `bluetooth` module (NimBLE, ESP32 port): misuse that fails at run
time or silently on the board, found on the host.

- `ble-register-advertising` (error): `gatts_register_services()` after `gap_advertise(...)` in the same function
  (or module body) with no `gap_advertise(None)` between: NimBLE's `ble_gatts_reset()` refuses while advertising,
  the call raises `OSError: [Errno 16] EBUSY`.
- `ble-irq-memoryview` (warning): an IRQ handler (a function given to `.irq()`) that keeps a memoryview of its
  data tuple (`addr`, `adv_data`, `char_data`, `notify_data`, or the tuple itself) past the handler, in a global,
  an attribute, a container or a list: the buffers are reused once the handler returns. Store `bytes(x)`.
"""

from __future__ import annotations

import ast
from typing import Any

# positions of the memoryviews in the data tuples, by tuple length (extmod/modbluetooth.c invoke_irq_handler_run)
_VIEW_POSITIONS = {
    3: (2,),  # (conn, addr_type, addr) / (conn, value_handle, char_data|notify_data)
    5: (1, 4),  # _IRQ_SCAN_RESULT (addr_type, addr, adv_type, rssi, adv_data)
}
_KEEPERS = ("append", "extend", "insert", "add", "put", "put_nowait", "appendleft", "setdefault")


def _method_calls(node: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(node)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == name
    ]


def _stops_advertising(call: ast.Call) -> bool:
    first = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "interval_us"), None)
    return isinstance(first, ast.Constant) and first.value is None


def _scopes(tree: ast.Module) -> list[Any]:
    return [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _own_calls(scope: Any, name: str) -> list[ast.Call]:
    """Calls of `.name()` in `scope` itself (not in nested functions)."""
    nested = {
        id(n)
        for d in ast.walk(scope)
        if d is not scope and isinstance(d, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for n in ast.walk(d)
    }
    return [c for c in _method_calls(scope, name) if id(c) not in nested]


def register_while_advertising(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, message) for every gatts_register_services() that follows a gap_advertise() in its scope."""
    found = []
    for scope in _scopes(tree):
        events = [(c.lineno, c.col_offset, "adv", c) for c in _own_calls(scope, "gap_advertise")]
        events += [(c.lineno, c.col_offset, "reg", c) for c in _own_calls(scope, "gatts_register_services")]
        advertising = False
        for line, _col, kind, call in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == "adv":
                advertising = not _stops_advertising(call)
            elif advertising:
                found.append(
                    (
                        line,
                        "gatts_register_services() while advertising: NimBLE refuses (OSError: [Errno 16] EBUSY); "
                        "register first, or call gap_advertise(None) before",
                    )
                )
    return found


def _irq_handlers(tree: ast.Module) -> list[ast.FunctionDef]:
    names = set()
    for call in _method_calls(tree, "irq"):
        if len(call.args) == 1:
            arg = call.args[0]
            if isinstance(arg, ast.Name):
                names.add(arg.id)
            elif isinstance(arg, ast.Attribute):
                names.add(arg.attr)
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in names]


def _views_in(handler: ast.FunctionDef) -> set[str]:
    """Names bound to memoryviews of the data tuple in `handler` (and the tuple's own name)."""
    params = [a.arg for a in handler.args.args]
    if params and params[0] == "self":
        params = params[1:]
    if len(params) < 2:
        return set()
    data = params[1]
    views = {data}
    for node in ast.walk(handler):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and node.value.id == data
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Tuple)
        ):
            elts = node.targets[0].elts
            for position in _VIEW_POSITIONS.get(len(elts), ()):
                if isinstance(elts[position], ast.Name):
                    views.add(elts[position].id)
    return views


def _is_view(node: ast.expr, views: set[str], data: str) -> str | None:
    if isinstance(node, ast.Name) and node.id in views:
        return node.id
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == data:
        index = node.slice
        if isinstance(index, ast.Constant) and index.value in (-1, 4):
            return f"{data}[{index.value}]"
    return None


def kept_memoryviews(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, message) where an IRQ handler keeps a data-tuple memoryview beyond its own run."""
    found = []
    for handler in _irq_handlers(tree):
        views = _views_in(handler)
        if not views:
            continue
        params = [a.arg for a in handler.args.args if a.arg != "self"]
        data = params[1]
        declared = {name for n in ast.walk(handler) if isinstance(n, ast.Global | ast.Nonlocal) for name in n.names}
        for node in ast.walk(handler):
            kept = None
            if isinstance(node, ast.Assign):
                name = _is_view(node.value, views, data)
                stored = any(
                    isinstance(t, ast.Attribute | ast.Subscript) or (isinstance(t, ast.Name) and t.id in declared)
                    for t in node.targets
                )
                kept = name if stored else None
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _KEEPERS:
                kept = next((n for n in (_is_view(a, views, data) for a in node.args) if n), None)
            if kept:
                found.append(
                    (
                        node.lineno,
                        f"IRQ handler {handler.name}() keeps {kept}, a memoryview valid only inside the handler "
                        f"(the stack reuses its buffer): store bytes({kept})",
                    )
                )
    return found
