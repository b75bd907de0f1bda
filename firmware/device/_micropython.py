# The interpreter's micropython module with Pycom's kbd_intr: disabling Ctrl-C with kbd_intr(-1) also disarms
# Ctrl-F (reset into safe boot) until the REPL runs the next command (py/modmicropython.c, pyexec.c).
# Named "micropython" with only the module's own names (help(micropython) and dir() show no simulator helpers).
import micropython as _mp

import _bridge as _b

__name__ = "micropython"
const = _mp.const
heap_lock = _mp.heap_lock
heap_unlock = _mp.heap_unlock
mem_info = _mp.mem_info
qstr_info = _mp.qstr_info
schedule = _mp.schedule
stack_use = _mp.stack_use
opt_level = _mp.opt_level
alloc_emergency_exception_buf = getattr(_mp, "alloc_emergency_exception_buf", lambda size: None)


def kbd_intr(chr, reset_chr=None, _intr=_mp.kbd_intr, _call=_b.call):
    _intr(chr)
    _call("runtime", "kbd_intr", chr, reset_chr)


del _mp, _b
