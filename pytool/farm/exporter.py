"""labgrid exporter configuration for running simulators (`pytool sim export`).

Each simulator becomes one resource group named after it, holding
- a static `NetworkSerialPort` on the simulator's own RFC2217 server (127.0.0.1; it carries DTR/RTS, so
  esptool's auto-reset works through it, and labgrid publishes it as it is, with no ser2net), and
- when the simulator has a radio, a `NetworkService` named `hci` whose address and port are its Bumble HCI
  transport (`tcp-client:127.0.0.1:PORT`); `pytool -p labgrid:PLACE` hands it to bleak (pytool.farm.labgrid);
- with `power=True`, a `NetworkPowerPort` (model `simplerest`) on the simulator's power switch
  (pytool.sim.power_switch): the place then resets the board by a power cycle, as a farm's switched socket does.

The output is YAML. labgrid's exporter reads it as a Jinja2 template in which `#` starts a line statement, so
comments are written `##` (Jinja2's line comment).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pytool.errors import PytoolError
from pytool.farm.labgrid import HCI_RESOURCE
from pytool.sim.registry import SimRecord

SIM_SPEED = 115200
HCI_USERNAME = "bumble-hci"  # NetworkService needs a user name; nothing logs in


def _host_port(url: str, scheme: str) -> tuple[str, int]:
    """(host, port) of `rfc2217://HOST:PORT[?...]` or `tcp-client:HOST:PORT`."""
    if scheme == "tcp-client":
        host, _, port = url.removeprefix("tcp-client:").rpartition(":")
        return host, int(port)
    parts = urlsplit(url)
    if parts.scheme != scheme or parts.hostname is None or parts.port is None:
        raise ValueError(url)
    return parts.hostname, parts.port


def group_for(record: SimRecord, power: bool = False) -> dict[str, dict[str, object]]:
    """The exporter resource group for one simulator (with its power switch when `power`)."""
    if not record.rfc2217:
        raise PytoolError(f"simulator '{record.name}' has no RFC2217 server", "restart it with `pytool sim start`")
    host, port = _host_port(record.rfc2217, "rfc2217")
    group: dict[str, dict[str, object]] = {
        "NetworkSerialPort": {"host": host, "port": port, "speed": SIM_SPEED, "protocol": "rfc2217"},
    }
    if record.hci and record.hci.startswith("tcp-client:"):
        address, hci_port = _host_port(record.hci, "tcp-client")
        group[HCI_RESOURCE] = {"cls": "NetworkService", "address": address, "port": hci_port, "username": HCI_USERNAME}
    if power:
        if not record.power:
            raise PytoolError(
                f"simulator '{record.name}' has no power switch (started by an older pytool)",
                f"restart it with `pytool sim stop {record.name}` and `pytool sim start`",
            )
        group["NetworkPowerPort"] = {"model": "simplerest", "host": record.power + "/{value}", "index": 0}
    return group


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def exporter_yaml(records: list[SimRecord], exporter_name: str = "pytool-sims", power: bool = False) -> str:
    """The exporter YAML for `records`, with the labgrid-client commands that make one place per simulator
    (each simulator's power switch too when `power`)."""
    lines = [
        "## labgrid exporter configuration for pytool's simulated boards (written by `pytool sim export`).",
        f"##   labgrid-exporter --coordinator HOST:PORT --name {exporter_name} --hostname 127.0.0.1 THIS_FILE",
        "## one place per simulated board:",
    ]
    for record in records:
        lines.append(
            f"##   labgrid-client -p {record.name} create && "
            f"labgrid-client -p {record.name} add-match '{exporter_name}/{record.name}/*'"
        )
    for record in records:
        lines.append(f"{record.name}:")
        for resource, params in group_for(record, power).items():
            lines.append(f"  {resource}:")
            lines.extend(f"    {key}: {_scalar(value)}" for key, value in params.items())
    return "\n".join(lines) + "\n"
