"""Running firmware of a simulated board: a supervisor between the serial port and a real MicroPython
interpreter (on its own pty), Pycom's REPL and boot behaviour, /flash inside the flash image, the host bridge.

Contract: pytool/sim/README.md ("Running firmware", "The bridge")."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytool.sim.runtime.bridge import BridgeConnection, BridgeError, BridgeServer, BridgeService

if TYPE_CHECKING:
    from pytool.boards import BoardModel


@dataclass
class RuntimeContext:
    """Everything the running firmware needs from the board."""

    board: BoardModel
    identity: Any  # pytool.sim.boot.Identity
    flash_path: Path  # the image file; the interpreter opens /flash's region in it directly
    safe_boot: bool  # skip boot.py and main.py this boot (Ctrl-F, pycom.bootmgr)
    mac: bytes  # 6-byte base MAC (the same the ROM reports from eFuse)
    write: Callable[[bytes], None]  # bytes to the host side of the serial port (call from the loop thread)
    hard_reset: Callable[[bool], None]  # ask the board for a hard reset; arg = safe boot next time
    loop: asyncio.AbstractEventLoop
    services: dict[str, BridgeService] = field(default_factory=dict)  # host services ("bt", ...)
    workdir: Path = Path("/tmp")  # per-simulator scratch folder for sockets and ptys
    deep_sleep: Callable[[int | None], None] | None = None  # machine.deepsleep(ms): off, then a wake boot (None: none)
    reset_reason: str = ""  # the ROM's rst: text of this boot ("0x5 (DEEPSLEEP_RESET)" after a deep sleep)


from pytool.sim.runtime.supervisor import Runtime  # noqa: E402

__all__ = ["BridgeConnection", "BridgeError", "BridgeServer", "BridgeService", "Runtime", "RuntimeContext"]
