# The interpreter's own module `name`, even where a file of the simulated firmware shadows it.
import sys


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


class AttrTuple(tuple):
    """MicroPython's attrtuple (os.uname(), Bluetooth.get_adv()): a tuple whose fields are also attributes and
    which prints with their names. Subclasses set `_fields`."""

    _fields = ()

    def __getattr__(self, name):
        try:
            return self[self._fields.index(name)]
        except ValueError:
            raise AttributeError(name)

    def __repr__(self):
        return "(" + ", ".join("%s=%r" % (f, v) for f, v in zip(self._fields, self)) + ")"

    __str__ = __repr__


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
