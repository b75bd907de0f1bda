# help() of the board. help(module) of a module that the simulated firmware implements in Python lists its names
# in the order of the firmware's own (ROM) module table, as the board prints it; the interpreter would print
# a Python module's names in hash order. Everything else is the interpreter's help().
import builtins
import micropython

import _builtin

_real = builtins.help
_order = {}


def _module_help(mod):
    names = [n for n in _order[mod.__name__] if n in mod.__dict__]
    names += sorted(n for n in mod.__dict__ if n not in names and n != "__file__")
    print("object %s is of type module" % repr(mod))
    for n in names:
        print("  %s -- %s" % (n, mod.__dict__[n]))


@micropython.native
def help(*args):
    if len(args) == 1 and type(args[0]) is type(builtins) and _order.get(args[0].__name__) is not None:
        if args[0] is not _builtin.load(args[0].__name__):
            _module_help(args[0])
            return None
    if len(args) == 1 and args[0] is help:
        return _real(_real)  # help(help): the built-in function it stands for
    return _real(*args)


def install(names):
    """Record the table order of the interpreter's modules `names` and replace builtins.help."""
    for name in names:
        _order[name] = [n for n in dir(_builtin.load(name)) if n not in ("__class__", "__dict__")]
    builtins.help = help
