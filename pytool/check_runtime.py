"""`pytool check` for Pycom 1.20.x: runtime features that MicroPython added after 1.11 and users commonly reach for.

The simulated board's interpreter is MicroPython 1.2x: its built-in types cannot be made to lack a method, so
what a real Pycom board (MicroPython 1.11) lacks is flagged here instead (warnings: the code compiles, then
fails on the board with AttributeError/ImportError). Each entry was checked against MicroPython's sources at
tag v1.11 (no such name in py/, extmod/, ports/esp32/). Modules that 1.11 lacks are also refused by the
simulated Pycom board itself (firmware/device/_grammar.py), so those are exact there; see pytool/sim/README.md.
"""

from __future__ import annotations

import ast

#: attribute/method name -> what to write instead on MicroPython 1.11
METHODS = {
    "hex": "bytes.hex() needs MicroPython >= 1.13; use ubinascii.hexlify(b)",
    "fromhex": "bytes.fromhex() needs MicroPython >= 1.13; use ubinascii.unhexlify(s)",
    "time_ns": "time.time_ns() needs MicroPython >= 1.12; use time.time() or time.ticks_us()",
    "isclose": "math.isclose() needs MicroPython >= 1.20; compare abs(a - b) <= tol",
    "bit_length": "int.bit_length() is not in MicroPython 1.11; use len(bin(n)) - 2",
    "removeprefix": "str.removeprefix() is not in MicroPython 1.11; slice the string",
    "removesuffix": "str.removesuffix() is not in MicroPython 1.11; slice the string",
    "atexit": "sys.atexit() needs MicroPython >= 1.13",
    "RingIO": "micropython.RingIO needs MicroPython >= 1.23",
}
#: modules MicroPython 1.11 does not have (and the simulated Pycom board refuses)
MODULES = {
    "asyncio": "asyncio needs MicroPython >= 1.13 (uasyncio v3); not in Pycom 1.20.x firmware",
    "uasyncio": "uasyncio is not built into MicroPython 1.11 / Pycom 1.20.x firmware",
    "deflate": "deflate needs MicroPython >= 1.21; use uzlib.decompress / uzlib.DecompIO",
    "platform": "platform needs MicroPython >= 1.21; use os.uname()",
    "tls": "tls needs MicroPython >= 1.22; use ussl",
    "collections": "Pycom 1.20.x firmware has no `collections`; use ucollections",
    "heapq": "Pycom 1.20.x firmware has no heapq (nor uheapq)",
    "uheapq": "Pycom 1.20.x firmware has no uheapq",
    "random": "Pycom 1.20.x firmware has no random module; use os.urandom() or machine.rng()",
    "urandom": "Pycom 1.20.x firmware has no urandom module; use os.urandom() or machine.rng()",
}


def runtime_findings(path: str, tree: ast.AST) -> list[tuple[int, str]]:
    """(line, message) for every use of a 1.12+ runtime feature in `tree`."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in METHODS:
            out.append((node.lineno, METHODS[node.attr]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, MODULES[a.name.split(".")[0]]) for a in node.names if a.name.split(".")[0] in MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in MODULES:
            out.append((node.lineno, MODULES[node.module.split(".")[0]]))
    return out
