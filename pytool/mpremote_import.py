"""Import mpremote's transport without its package `__init__`, which imports `importlib.metadata` (with email,
zipfile, csv) only to set `mpremote.__version__`: about a sixth of a no-change `pytool sync`'s CPU (issue 23).

`defer_version()` registers the `mpremote` package object without running its `__init__` (the submodules load
from the same folder as usual) and computes `__version__` the first time someone asks (`mpremote.main` does for
`--version`). The console script calls it before anything imports mpremote; elsewhere (tests, the pytest plugin)
mpremote loads as usual, and once it has, this does nothing.
"""

from __future__ import annotations

import importlib.util
import sys


def _version(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'mpremote' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mpremote")
    except PackageNotFoundError:  # as mpremote's own __init__ answers
        return "0.0.0-local"


def defer_version() -> None:
    """Make `import mpremote.<submodule>` skip mpremote's version lookup (a no-op when mpremote is loaded or
    missing)."""
    if "mpremote" in sys.modules:
        return
    spec = importlib.util.find_spec("mpremote")
    if spec is None or spec.submodule_search_locations is None:
        return
    package = importlib.util.module_from_spec(spec)  # the package object, __path__ set; __init__ not run
    package.__getattr__ = _version  # PEP 562: module attribute looked up only when missing
    sys.modules["mpremote"] = package
