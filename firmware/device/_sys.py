# The board's sys module (installed as sys.modules["sys"] by _boot.py): what the firmware reports, not the host
# interpreter. Pycom 1.20.x = MicroPython 1.11 (py/modsys.c at v1.11): implementation (name, version) =
# ('micropython', (1, 11, 0)), version '3.4.0', platform 'esp32', and only 1.11's names. Stock MicroPython 1.2x
# for ESP32: implementation (name, version, _machine, _mpy) with its own version, version
# '3.4.0; MicroPython vX on DATE', platform 'esp32'. Lists and streams are the interpreter's own objects.
import _builtin

_s = _builtin.load("sys")

# MPY_VERSION | (MPY_SUB_VERSION | arch xtensawin (10) << 2) << 8 of stock ESP32 builds (py/persistentcode.h)
_MPY_SUB = ((1, 23, 3), (1, 22, 2), (1, 20, 1), (1, 19, 0))


def _mpy(version):
    for since, sub in ((v[:2], v[2]) for v in _MPY_SUB):
        if tuple(version[:2]) >= since:
            return 6 | (sub | 10 << 2) << 8
    return 6 | (10 << 2) << 8


class _Sys:
    # A built-in module is read-only: `sys.x = 1` raises AttributeError (tests/basics/module2.py); a Python
    # module would accept it. The names are class attributes (all are built-in objects: nothing gets bound).
    _writable = ()

    def __setattr__(self, name, value):
        if name not in self._writable:
            raise AttributeError("'module' object has no attribute '%s'" % name)
        setattr(_Sys, name, value)

    def __repr__(self):
        return "<module 'sys'>"


def setup(cfg):
    """The board's sys for the firmware in `cfg` (flavour, micropython tag, build date, machine)."""
    g = {"__name__": "sys"}
    for name in ("argv", "byteorder", "exit", "maxsize", "modules", "path", "print_exception"):
        g[name] = getattr(_s, name)
    for name in ("stdin", "stdout", "stderr"):
        g[name] = getattr(_s, name)
    tag = cfg["version"].split(" on ")[0]  # "v1.11-ffb0e1c on 2021-01-12" -> "v1.11-ffb0e1c"
    nums = [int(n) for n in tag.lstrip("v").split("-")[0].split(".") if n.isdigit()] + [0, 0, 0]
    g["version_info"] = (3, 4, 0)
    g["platform"] = "esp32"
    if cfg["flavour"] == "pycom":
        g["implementation"] = _builtin.attrtuple(("name", "version"), ("micropython", tuple(nums[:3])))
        g["version"] = "3.4.0"
    else:
        ver = tuple(nums[:3]) + ("",)
        fields = ("name", "version", "_machine", "_mpy")
        g["implementation"] = _builtin.attrtuple(fields, ("micropython", ver, cfg["machine"], _mpy(ver)))
        g["version"] = "3.4.0; MicroPython " + cfg["version"]
        for name in ("atexit", "exc_info", "ps1", "ps2"):
            if hasattr(_s, name):
                g[name] = getattr(_s, name)
        _Sys._writable = ("ps1", "ps2")  # sys_mutable in 1.2x (tracebacklimit: not in the ESP32 build)
    for name, value in g.items():
        setattr(_Sys, name, value)
    for name in ("_s", "_builtin"):  # nothing of the host's left in this module's globals
        globals().pop(name, None)
    return _Sys()
