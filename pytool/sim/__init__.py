"""The simulated board. The rest of pytool reaches it only through this module (the names below, imported
lazily: this package is on the CLI's start-up path) and through what a running simulator publishes in its
registry record: a serial port (pty path or RFC2217 URL), a control socket (resets, faults) and an HCI transport
(the BLE radio).

    registry                    running simulators: `registry.find(name)`, `registry.running()`, `SimRecord`
    SimControl                  blocking client of a simulator's control socket (reset, power, status, faults)
    running_sim                 context manager: a simulator process for the duration (tests, benchmarks)
    prepare, launch, serve, stop    start a simulator (in the background or in this process) and stop it
    FAULTS, make_fault, describe_faults    the faults a simulator injects on request (`pytool sim fault`)
    FlashFS                     a simulator's /flash filesystem read from its flash image (`pytool sim fs`)
    RadioHub                    the virtual radio all simulators and testers share
    probe_sandbox               the OS sandbox layers this kernel lacks (`pytool sim start` warns about them)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytool.sim import registry
    from pytool.sim.control import SimControl
    from pytool.sim.daemon import launch, prepare, serve, stop
    from pytool.sim.fault_catalogue import FAULTS
    from pytool.sim.faults import describe as describe_faults
    from pytool.sim.faults import make_fault
    from pytool.sim.radio import RadioHub
    from pytool.sim.registry import SimRecord
    from pytool.sim.runtime.confine import probe as probe_sandbox
    from pytool.sim.runtime.fs_image import FlashFS
    from pytool.sim.testing import running_sim

#: public name -> (module, attribute in it)
_PUBLIC = {
    "SimRecord": ("pytool.sim.registry", "SimRecord"),
    "SimControl": ("pytool.sim.control", "SimControl"),
    "running_sim": ("pytool.sim.testing", "running_sim"),
    "prepare": ("pytool.sim.daemon", "prepare"),
    "launch": ("pytool.sim.daemon", "launch"),
    "serve": ("pytool.sim.daemon", "serve"),
    "stop": ("pytool.sim.daemon", "stop"),
    "FAULTS": ("pytool.sim.fault_catalogue", "FAULTS"),
    "make_fault": ("pytool.sim.faults", "make_fault"),
    "describe_faults": ("pytool.sim.faults", "describe"),
    "FlashFS": ("pytool.sim.runtime.fs_image", "FlashFS"),
    "RadioHub": ("pytool.sim.radio", "RadioHub"),
    "probe_sandbox": ("pytool.sim.runtime.confine", "probe"),
}

__all__ = [
    "FAULTS",
    "FlashFS",
    "RadioHub",
    "SimControl",
    "SimRecord",
    "describe_faults",
    "launch",
    "make_fault",
    "prepare",
    "probe_sandbox",
    "registry",
    "running_sim",
    "serve",
    "stop",
]


def __getattr__(name: str) -> Any:
    if name == "registry":
        return importlib.import_module("pytool.sim.registry")
    if name not in _PUBLIC:
        raise AttributeError(f"module 'pytool.sim' has no attribute {name!r}")
    module, attribute = _PUBLIC[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value
