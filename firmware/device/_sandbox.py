# The inner layer of the simulated board's sandbox (the outer one is the OS: pytool/sim/runtime/confine.py).
#
# Device code must never get a reference to the unix port's host modules or functions (host os.system/getenv/
# VfsPosix, socket, termios, vfs, raw host memory) by any attribute path. MicroPython functions expose
# `__globals__` (their module's dict) but closures expose no cells, so the simulated firmware keeps every host
# capability in a closure and hands its modules only restricted objects:
# - restrict(mod, names): an object with only `names` of `mod` (no way back to `mod`);
# - bounded_file(f, writable): the flash image, written only inside the given regions;
# - seal(): at the end of the boot, the import guard (blocked host modules, the firmware's modules served
#   from a private table, native .mpy refused), open() without file descriptors, uctypes on own buffers only,
#   the firmware's private modules out of sys.modules.
import sys

BLOCKED = ("ffi", "termios", "vfs", "socket", "usocket", "jni", "platform", "mip", "requests", "websocket")
# (_bridge stays: the device API of host services)
PRIVATE = ("_flash", "_builtin", "_sandbox", "_grammar", "_help", "_sys", "_network_stock")


def restrict(mod, names):
    """A stand-in for `mod` with only the attributes `names` (the module itself stays unreachable)."""

    class Restricted:
        def __repr__(self):
            return "<module '%s'>" % getattr(self, "__name__", "?")

    r = Restricted()
    for n in names:
        if hasattr(mod, n):
            setattr(r, n, getattr(mod, n))
    return r


def bounded_file(f, writable):
    """The open image file `f` as an object whose writes must fall inside one of `writable` [(start, end)]."""
    pos = [0]

    def _check(n):
        a = pos[0]
        for start, end in writable:
            if start <= a and a + n <= end:
                return
        raise OSError(5)  # EIO: outside the regions the firmware may write

    class Image:
        def seek(self, off):
            if off < 0:
                raise OSError(22)
            pos[0] = off
            f.seek(off)

        def read(self, n):
            data = f.read(n)
            pos[0] += len(data)
            return data

        def readinto(self, buf):
            n = f.readinto(buf)
            pos[0] += n or 0
            return n

        def write(self, data):
            _check(len(data))
            n = f.write(data)
            pos[0] += n or 0
            return n

    return Image()


def _mpy_arch_ok(path):
    # .mpy header: b"M", version, (arch << 2) | sub-version; arch 0 = bytecode only
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return True  # not there: the import itself reports it
    return len(head) < 3 or head[0] != 0x4D or (head[2] >> 2) == 0


def _mpy_for(name):
    """The .mpy file the interpreter would load for module `name` (None: a .py, a package or nothing)."""
    rel = name.replace(".", "/")
    import os

    for d in sys.path:
        base = (d + "/" if d else "") + rel
        for suffix, kind in (("", "dir"), (".py", "py"), (".mpy", "mpy")):
            try:
                st = os.stat(base + suffix)
            except OSError:
                continue
            if kind == "dir":
                if st[0] & 0x4000:
                    return None
                continue
            return base + suffix if kind == "mpy" else None
    return None


def _uctypes(u):
    # uctypes on buffers device code owns (addresses from addressof()); raw addresses would be the host's memory
    known = []  # the latest 64 buffers addressof() was asked for (they stay alive while listed)
    m = restrict(u, [n for n in dir(u) if n.isupper()])

    def addressof(obj):
        a = u.addressof(obj)
        try:
            len(obj)
        except TypeError:  # a struct: its address lies in a buffer already known
            return a
        if not any(k is obj for k in known):
            known.append(obj)
            if len(known) > 64:
                known.pop(0)
        return a

    def _check(addr, size):
        for k in known:  # where the buffer is now (a bytearray that grew has moved) and how long
            a = u.addressof(k)
            if a <= addr and addr + size <= a + len(k):
                return
        raise ValueError("address outside the board's own buffers (the simulator has no raw memory access)")

    def struct(addr, desc, layout_type=u.NATIVE):
        _check(addr, u.sizeof(desc, layout_type))
        return u.struct(addr, desc, layout_type)

    def bytearray_at(addr, size):
        _check(addr, size)
        return u.bytearray_at(addr, size)

    def bytes_at(addr, size):
        _check(addr, size)
        return u.bytes_at(addr, size)

    m.addressof, m.struct, m.bytearray_at, m.bytes_at, m.sizeof = addressof, struct, bytearray_at, bytes_at, u.sizeof
    m.__name__ = "uctypes"
    return m


def _gone(*args):
    raise ImportError("not available after boot")


def seal():
    """End of the boot: from here on device code reaches only the board's API."""
    import builtins

    real_import = builtins.__import__
    real_open = builtins.open
    served = {}  # the firmware's own modules (shadowing the interpreter's), whatever sys.modules says later
    for name, mod in sys.modules.items():
        if name not in PRIVATE:
            served[name] = mod

    def guarded_open(file, *args, **kw):
        if not isinstance(file, str):  # a file descriptor: the host's (the flash image, the bridge)
            raise TypeError("expected a path")
        return real_open(file, *args, **kw)

    # the interpreter's io and uctypes reach host file descriptors and host memory: device code (and the
    # firmware's modules) get restricted ones
    real_io, real_uctypes = real_import("io"), real_import("uctypes")
    io = restrict(real_io, ("BytesIO", "StringIO", "IOBase", "TextIOWrapper", "FileIO", "BufferedWriter"))
    io.open = guarded_open
    io.__name__ = "io"
    u = _uctypes(real_uctypes)
    swap = {id(real_io): io, id(real_uctypes): u}
    for mod in list(sys.modules.values()):
        for name in dir(mod):
            if id(getattr(mod, name, None)) in swap:
                setattr(mod, name, swap[id(getattr(mod, name))])
    for name, mod in (("io", io), ("uio", io), ("uctypes", u)):
        served[name] = mod
    b = sys.modules.get("_builtin")
    if b is not None:  # nothing loads the interpreter's own modules any more
        b.load = b.restricted = _gone
    for name in PRIVATE:
        sys.modules.pop(name, None)

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0:
            top = name.split(".")[0]
            if top in BLOCKED or top in PRIVATE:
                raise ImportError("no module named '%s'" % name)
            mod = served.get(name)
            if mod is not None:
                sys.modules[name] = mod
                return mod
            full = name
        else:  # relative: from the importing module's package
            parts = (globals or {}).get("__name__", "").split(".")
            if "__path__" not in (globals or {}):
                parts = parts[:-1]
            parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
            full = ".".join(parts + ([name] if name else []))
        names = fromlist if isinstance(fromlist, (tuple, list)) else ()  # (the interpreter also passes True)
        for mod_name in [full] + [full + "." + f for f in names if f != "*"]:
            path = _mpy_for(mod_name)
            if path is not None and not _mpy_arch_ok(path):
                raise ValueError("incompatible .mpy arch")
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded_import
    builtins.open = guarded_open
    return guarded_import  # (the import in force: reading builtins.__import__ gives the interpreter's own)
