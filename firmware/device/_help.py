# help() of the board. help() and help('modules') print the firmware's text and module list (the host has them:
# pytool/sim/runtime/firmware_help.py; the interpreter's would list the host build's modules and the simulator's
# shims). help(module) of a module that the simulated firmware implements in Python lists its names in the order
# of the firmware's own (ROM) module table, as the board prints it; the interpreter would print a Python module's
# names in hash order. Everything else is the interpreter's help().
import builtins

import _bridge
import _builtin

_real = builtins.help
_order = {}
_interpreter = {"micropython": _builtin.load("micropython")}  # (the interpreter's own: its help() is right)


def _module_help(mod):
    names = [n for n in _order[mod.__name__] if n in mod.__dict__]
    names += sorted(n for n in mod.__dict__ if n not in names and n != "__file__")
    print("object %s is of type module" % repr(mod))
    for n in names:
        print("  %s -- %s" % (n, mod.__dict__[n]))


def help(*args):
    if not args or (len(args) == 1 and args[0] == "modules"):
        print(_bridge.call("runtime", "help", "modules" if args else ""), end="")
        return None
    if len(args) == 1 and type(args[0]) is type(builtins) and _order.get(args[0].__name__) is not None:
        if args[0] is not _interpreter.get(args[0].__name__):
            _module_help(args[0])
            return None
    if len(args) == 1 and args[0] is help:
        return _real(_real)  # help(help): the built-in function it stands for
    return _real(*args)


#: py/modmicropython.c's table (v1.11 .. v1.29)
_order["micropython"] = (
    "__name__ const opt_level mem_total mem_current mem_peak mem_info qstr_info stack_use "
    "alloc_emergency_exception_buf pystack_use heap_lock heap_unlock heap_locked kbd_intr RingIO schedule"
).split()


def install():
    """Replace builtins.help."""
    builtins.help = help
