"""The simulated Pycom board's WiFi servers (`network.Server`): telnet REPL and FTP on 127.0.0.1.

`install(board)` is called once per simulator by the daemon: it registers the bridge service "wifi" in
`board.services`, chooses the ports and returns them for the simulator's registry record
(`{"telnet": "telnet://127.0.0.1:P", "ftp": "ftp://127.0.0.1:P", "ftp_data_port": P}`), and adds the control
operation "wifi-drop" (`{"op": "wifi-drop", "after": N}`: the link drops after N more bytes from clients).
"""

from __future__ import annotations

from typing import Any

from pytool.sim.wifi.service import WifiService

__all__ = ["WifiService", "install"]


async def install(board: Any) -> dict[str, Any] | None:
    """Register the "wifi" service for `board` and return its endpoints (None: not a Pycom module, no servers)."""
    catalogue = getattr(board, "board", None)
    if catalogue is not None and not getattr(catalogue, "is_pycom", True):
        return None
    service = WifiService(board)
    endpoints = await service.reserve_ports()
    board.services["wifi"] = service
    board.on_shutdown.append(service.close)
    if getattr(board, "control", None) is not None:
        board.control.add_handler("wifi-drop", service.fault)
    return endpoints
