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
