# The board's grammar for code that device code compiles: exec(), eval(), compile() and `import` of .py files.
# On a simulated Pycom 1.20.x board (MicroPython 1.11) the host checks every source with mpy-cross 1.11 over the
# bridge ("grammar" service, cached by hash on both sides) before the interpreter compiles it; what 1.11
# rejects raises here with 1.11's type, message and line. The wrappers are @micropython.native: native frames
# do not appear in tracebacks, so a SyntaxError looks as on the board:
#   File "<stdin>", line 1, in <module>
#   File "<string>", line 1
# SyntaxError: invalid syntax
# (The REPL paths are checked by the supervisor on the host.)
import builtins
import micropython
import sys

import _bridge
import _builtin

_hashlib = _builtin.load("hashlib")
_compile = builtins.compile
_exec = builtins.exec
_eval = builtins.eval
_real_import = None
_ok = set()  # digests of sources the board's parser accepts
_SYNTH = {  # 1.11 error -> a source the interpreter rejects the same way (on its last line)
    ("SyntaxError", "invalid syntax"): "$",
    ("IndentationError", "unexpected indent"): " x",
}


def _issue(src):
    """None if the board's parser accepts `src` (str or bytes), else [kind, message, line, in_block]."""
    data = src.encode() if isinstance(src, str) else bytes(src)
    key = _hashlib.sha256(data).digest()
    if key in _ok:
        return None
    issue = _bridge.call("grammar", "check", data)
    if issue is None:
        _ok.add(key)
    return issue


@micropython.native
def _fail(issue, src, filename, mode):
    kind = issue[0]
    synth = _SYNTH.get((kind, issue[1]))
    if synth is not None:
        _compile("\n" * (issue[2] - 1) + synth, filename, "exec")
    _compile(src, filename, mode)  # the interpreter rejects it too: its error
    raise (IndentationError if kind == "IndentationError" else SyntaxError)(issue[1])


@micropython.native
def compile(source, filename, mode, flags=0, dont_inherit=False):
    if isinstance(source, (str, bytes, bytearray)):
        issue = _issue(source)
        if issue is not None:
            _fail(issue, source, filename, mode)
    return _compile(source, filename, mode)


@micropython.native
def exec(source, globals=None, locals=None):
    if isinstance(source, (str, bytes, bytearray)):
        issue = _issue(source)
        if issue is not None:
            _fail(issue, source, "<string>", "exec")
    if globals is None:
        # the caller's module: the interpreter's dict_locals (what exec() without arguments uses as locals);
        # exact at module level and in functions of the module run at top level (__main__, the REPL)
        globals = builtins.locals()
    return _exec(source, globals, globals if locals is None else locals)


@micropython.native
def eval(source, globals=None, locals=None):
    if isinstance(source, (str, bytes, bytearray)):
        issue = _issue(source)
        if issue is not None:
            _fail(issue, source, "<string>", "eval")
    if globals is None:
        globals = builtins.locals()
    return _eval(source, globals, globals if locals is None else locals)


def _source_of(full, parent_path):
    """(path, source bytes) of the .py file that importing module `full` would compile, or None."""
    last = full.rpartition(".")[2]
    if parent_path is not None:
        bases = [parent_path]
    else:
        bases = sys.path
    for base in bases:
        stem = (base + "/" + last) if base else last
        kind = _kind(stem)
        if kind == 0x4000:  # a package
            init = stem + "/__init__.py"
            return (init, _read(init)) if _kind(init) == 0x8000 else None
        if _kind(stem + ".py") == 0x8000:
            return stem + ".py", _read(stem + ".py")
        if _kind(stem + ".mpy") == 0x8000:
            return None
    return None


def _kind(path):
    try:
        return _os.stat(path)[0] & 0xF000
    except OSError:
        return 0


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _modules_to_load(name, globals, fromlist, level):
    """Full names of the modules this import may load from files, not yet loaded."""
    if level:
        here = (globals or {}).get("__name__", "")
        pkg = here if "__path__" in (globals or {}) else here.rpartition(".")[0]
        for _ in range(level - 1):
            pkg = pkg.rpartition(".")[0]
        name = (pkg + "." + name) if name else pkg
    out = []
    parts = name.split(".") if name else []
    for i in range(len(parts)):
        full = ".".join(parts[: i + 1])
        if full not in sys.modules:
            out.append(full)
    for item in fromlist or ():
        if item != "*" and name:
            full = name + "." + item
            if full not in sys.modules:
                out.append(full)
    return out


def _check_import(name, globals, fromlist, level):
    """[issue, source, path] for the first module of this import that the board's parser rejects, or None."""
    for full in _modules_to_load(name, globals, fromlist, level):
        parent = full.rpartition(".")[0]
        parent_path = None
        if parent:
            mod = sys.modules.get(parent)
            parent_path = getattr(mod, "__path__", None) if mod is not None else None
            if parent_path is None:
                continue  # resolved once the parent is loaded
        found = _source_of(full, parent_path)
        if found is None:
            continue
        issue = _issue(found[1])
        if issue is not None:
            return [issue, found[1], found[0]]
    return None


@micropython.native
def __import__(name, globals=None, locals=None, fromlist=(), level=0):
    bad = None if (level == 0 and not fromlist and name in _modules) else _check_import(name, globals, fromlist, level)
    if bad is not None:
        _fail(bad[0], bad[1], bad[2], "exec")
    return _real_import(name, globals, locals, fromlist, level)


_os = None
_modules = {}


def install(os_module, modules, current_import):
    """Replace the builtins (called by _boot.py; `os_module` is the interpreter's os, `current_import` the
    __import__ in force: reading builtins.__import__ gives the interpreter's own, not an override)."""
    global _real_import, _os, _modules
    _os = os_module
    _modules = modules
    _real_import = current_import
    builtins.compile = compile
    builtins.exec = exec
    builtins.eval = eval
    builtins.__import__ = __import__
