# The board's grammar for code that device code compiles: exec(), eval(), compile() and `import` of .py files.
# On a simulated Pycom 1.20.x board (MicroPython 1.11) the host checks every source with mpy-cross 1.11 over the
# bridge ("grammar" service, cached by hash on both sides) before the interpreter compiles it; what 1.11
# rejects raises here with 1.11's type, message and line. The supervisor drops this module's frames from
# tracebacks (pytool/sim/runtime/frames.py), so a SyntaxError looks as on the board:
#   File "<stdin>", line 1, in <module>
#   File "<string>", line 1
# SyntaxError: invalid syntax
# (The REPL paths are checked by the supervisor on the host.)
import builtins
import io
import sys

import _bridge
import _builtin

_hashlib = _builtin.load("hashlib")
_compile = builtins.compile
_exec = builtins.exec
_eval = builtins.eval
_code = type(_compile("0", "", "eval"))
_real_import = None
_ok = set()  # digests of sources the board's parser accepts
_SYNTH = {  # 1.11 error -> a source the interpreter rejects the same way (on its last line)
    ("SyntaxError", "invalid syntax"): "$",
    ("IndentationError", "unexpected indent"): " x",
}


def _issue(src):
    """None if the board's parser accepts `src` (str or bytes), else [kind, message, line, in_block]. Neither
    copied nor sent whole: a small board's heap has no room for the text twice (on the board the compiler reads
    it in place)."""
    key = _hashlib.sha256(src).digest()
    if key in _ok:
        return None
    _bridge.call("grammar", "begin")
    for i in range(0, len(src), 1024):
        _bridge.call("grammar", "part", src[i : i + 1024])
    issue = _bridge.call("grammar", "end")
    if issue is None:
        _ok.add(key)
    return issue


def _issue_file(path):
    """_issue() of a file's source, read in small pieces (the whole text, its hex and its JSON at once would not
    fit a small board's heap; on the board the lexer streams it)."""
    h = _hashlib.sha256()
    buf = bytearray(512)
    mv = memoryview(buf)
    with open(path, "rb") as f:
        n = f.readinto(buf)
        while n:
            h.update(mv[:n])
            n = f.readinto(buf)
    key = h.digest()
    if key in _ok:
        return None
    _bridge.call("grammar", "begin")
    with open(path, "rb") as f:
        chunk = f.read(1024)
        while chunk:
            _bridge.call("grammar", "part", chunk)
            chunk = f.read(1024)
    issue = _bridge.call("grammar", "end")
    if issue is None:
        _ok.add(key)
    return issue


def _fail(issue, src, filename, mode):
    kind = issue[0]
    synth = _SYNTH.get((kind, issue[1]))
    if synth is not None:
        _compile("\n" * (issue[2] - 1) + synth, filename, "exec")
    _compile(src, filename, mode)  # the interpreter rejects it too: its error
    raise (IndentationError if kind == "IndentationError" else SyntaxError)(issue[1])


def _text(source, code_ok=True):
    """1.11's exec/eval/compile take a str or bytes (mp_obj_str_get_data), exec/eval also a code object: a
    bytearray (what uzlib.decompress returns) or a memoryview is refused as on the board."""
    if isinstance(source, (str, bytes)):
        return True
    if code_ok and type(source) is _code:
        return False
    raise TypeError("can't convert '%s' object to str implicitly" % type(source).__name__)


def compile(source, filename, mode, flags=0, dont_inherit=False):
    _text(source, False)
    issue = _issue(source)
    if issue is not None:
        _fail(issue, source, filename, mode)
    return _compile(source, filename, mode)


def exec(source, globals=None, locals=None):
    if _text(source):
        issue = _issue(source)
        if issue is not None:
            _fail(issue, source, "<string>", "exec")
    if globals is None:
        # the caller's module: the interpreter's dict_locals (what exec() without arguments uses as locals);
        # exact at module level and in functions of the module run at top level (__main__, the REPL)
        globals = builtins.locals()
    return _exec(source, globals, globals if locals is None else locals)


def eval(source, globals=None, locals=None):
    if _text(source):
        issue = _issue(source)
        if issue is not None:
            _fail(issue, source, "<string>", "eval")
    if globals is None:
        globals = builtins.locals()
    return _eval(source, globals, globals if locals is None else locals)


def _find(full, parent_dir):
    """What importing module `full` would load: ("py", path, bytes, None), ("mpy", path, bytes, None),
    ("pkg", init path or None, bytes or None, package dir) or None (not a file: built-in, frozen, missing)."""
    last = full.rpartition(".")[2]
    for base in [parent_dir] if parent_dir is not None else sys.path:
        stem = (base + "/" + last) if base else last
        if _kind(stem) == 0x4000:  # a package
            init = stem + "/__init__.py"
            if _kind(init) == 0x8000:
                return "pkg", init, None, stem
            return "pkg", None, None, stem
        for ext in (".py", ".mpy"):  # py/builtinimport.c: .py first
            if _kind(stem + ext) == 0x8000:
                return ext[1:], stem + ext, _read(stem + ext) if ext == ".mpy" else None, None
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
    """Full names of the modules this import may load from files, not yet loaded (parents first)."""
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
    for item in fromlist if isinstance(fromlist, tuple) else ():  # (the interpreter passes True internally)
        if item != "*" and name:
            full = name + "." + item
            if full not in sys.modules:
                out.append(full)
    return out


def _prepare_import(name, globals, fromlist, level):
    """Check every module this import loads from a file with the board's rules before the interpreter does:
    None (all fine) or [issue, source, path] (a .py the board's parser rejects) or [exception] (a .mpy the board
    refuses). .mpy v4 modules are loaded here from their recorded source."""
    dirs = {}
    for full in _modules_to_load(name, globals, fromlist, level):
        parent = full.rpartition(".")[0]
        parent_dir = None
        if parent:
            mod = sys.modules.get(parent)
            parent_dir = getattr(mod, "__path__", None) if mod is not None else dirs.get(parent)
            if parent_dir is None:
                continue
        found = _find(full, parent_dir)
        if found is None:
            continue
        kind, path, data, pkg_dir = found
        if kind == "pkg":
            dirs[full] = pkg_dir
        if kind == "mpy":
            bad = _load_mpy(full, path, data)
            if bad is not None:
                return bad
        elif path is not None:
            issue = _issue_file(path)
            if issue is not None:
                return [issue, _read(path), path]
    return None


def _load_mpy(full, path, data):
    """Load a .mpy as MicroPython 1.11 does (py/persistentcode.c): header 'M', version 4, feature flags 2
    (unicode strings), small-int bits <= 31, else "incompatible .mpy file". Returns [exception] or None."""
    if len(data) < 4 or data[0] != 0x4D or data[1] != 4 or data[2] != 2 or data[3] > 31:
        return [ValueError("incompatible .mpy file")]
    found = _bridge.call("grammar", "mpy_source", data)
    if found is None:
        return [ImportError("the simulator has no source for %s (.mpy v4 runs only when compiled on this machine "
                            "with `pytool check`/`pytool sync --mpy`)" % path)]
    source, source_name = found
    mod = _empty_module(full)
    if path.rpartition("/")[2] == "__init__.mpy":
        mod.__path__ = path.rpartition("/")[0]
    mod.__file__ = path
    sys.modules[full] = mod
    try:
        _exec(_compile(source, source_name, "exec"), mod.__dict__)
    except BaseException as e:
        del sys.modules[full]
        return [e]
    parent, _, last = full.rpartition(".")
    if parent and parent in sys.modules:
        setattr(sys.modules[parent], last, mod)
    return None


class _File(io.IOBase):
    def __init__(self):
        self.done = False

    def readinto(self, buf):
        return 0

    def ioctl(self, op, arg):
        return 0


class _EmptyVfs:
    # a one-file filesystem for a fresh module object (MicroPython cannot create module instances directly)
    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def stat(self, path):
        if path.lstrip("/") == "_mpy_module.py":
            return (0x8000, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        raise OSError(2)

    def open(self, path, mode):
        return _File()

    def ilistdir(self, path):
        return iter(())


def _empty_module(full):
    point = "/.pytool-mpy"
    _os.mount(_EmptyVfs(), point)
    saved = sys.path[:]
    sys.path[:] = [point]
    try:
        mod = _real_import("_mpy_module", None, None, (), 0)
    finally:
        sys.path[:] = saved
        _os.umount(point)
        sys.modules.pop("_mpy_module", None)
    mod.__name__ = full
    return mod


# modules the interpreter has and MicroPython 1.11 has not (pytool/check_runtime.py MODULES)
_MISSING = ("asyncio", "uasyncio", "deflate", "platform", "tls", "mip", "requests", "websocket", "argparse")


# the interpreter's built-in modules that 1.20.x has under no name (Pycom's tables: pytool/sim/runtime/firmware_help.py;
# it has ucollections but no collections weak link): a file of that name on the board's path still imports
_ABSENT = ("collections", "heapq", "uheapq", "random", "urandom")


def _on_path(top):
    for d in sys.path:
        for suffix in (".py", ".mpy", ""):
            try:
                _os.stat((d + "/" if d else "") + top + suffix)
                return True
            except OSError:
                pass
    return False


def __import__(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name.split(".")[0] in _MISSING and name not in _modules:
        raise ImportError("no module named '%s'" % name)
    if level == 0 and name.split(".")[0] in _ABSENT and not _on_path(name.split(".")[0]):
        raise ImportError("no module named '%s'" % name)
    if not (level == 0 and not fromlist and name in _modules):
        bad = _prepare_import(name, globals, fromlist, level)
        if bad is not None:
            if len(bad) == 1:
                raise bad[0]
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
