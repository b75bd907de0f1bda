# The interpreter's own module `name`, even where a file of the simulated firmware shadows it.
import sys
from collections import namedtuple


def load(name):
    saved = sys.path[:]
    shadow = sys.modules.pop(name, None)
    sys.path.clear()
    try:
        return __import__(name)
    finally:
        sys.path.extend(saved)
        if shadow is not None:
            sys.modules[name] = shadow
        else:
            sys.modules.pop(name, None)


def restricted(name, names):
    """The interpreter's module `name` with only the attributes `names` (see _sandbox.restrict)."""
    import _sandbox

    return _sandbox.restrict(load(name), names)


_attrtuple_types = {}


def attrtuple(fields, values):
    """MicroPython's attrtuple (os.uname(), Bluetooth.get_adv()): a real tuple (so `"%s" % t` and unpacking work
    as on the board) whose fields are also attributes and which prints as "(sysname='LoPy4', ...)". Built as a
    namedtuple without a name (only type(t) differs: <class ''> instead of <class 'tuple'>)."""
    cls = _attrtuple_types.get(fields)
    if cls is None:
        cls = _attrtuple_types[fields] = namedtuple("", fields)
    return cls(*values)


def print_exception(e):
    """sys.print_exception without the frames of the simulated firmware's own modules (on the board they
    are frozen C code and do not show up in tracebacks)."""
    import io

    buf = io.StringIO()
    sys.print_exception(e, buf)
    out = []
    skip = False
    for line in buf.getvalue().split("\n"):
        if line.startswith('  File "') and _HERE in line:
            skip = True
            continue
        if skip and line.startswith("    "):
            continue
        skip = False
        out.append(line)
    sys.stdout.write("\n".join(out))


_HERE = __file__.rsplit("/", 1)[0] + "/"
