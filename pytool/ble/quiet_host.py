"""A Bumble `Device` whose `Host` formats HCI packets for Bumble's debug log only when that log is on.

Bumble's `Host.send_hci_packet` and `Host.on_hci_packet` build a debug line with the whole packet as text (an
f-string, so built whether or not debug logging is on) for every HCI packet: with a simulator's radio carrying
several boards that was a noticeable share of the CPU of every tester and every simulated board (issue 17). The
hub's controllers do the same (pytool/sim/radio.py). With the `bumble.host` logger on DEBUG, Bumble's own methods
run, lines included.
"""

from __future__ import annotations

import logging

from bumble import hci
from bumble import host as bumble_host
from bumble.device import Device, DeviceConfiguration
from bumble.snoop import Snooper
from bumble.transport.common import TransportSink, TransportSource


class QuietHost(bumble_host.Host):
    """Bumble's Host, minus the eager debug formatting (see the module docstring)."""

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if bumble_host.logger.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
            return
        # what Bumble's method does after its debug line
        if self.snooper:
            self.snooper.snoop(bytes(packet), Snooper.Direction.HOST_TO_CONTROLLER)
        if self.hci_sink:
            self.hci_sink.on_packet(bytes(packet))

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if bumble_host.logger.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
            return
        # what Bumble's method does after its debug line
        if self.snooper:
            self.snooper.snoop(bytes(packet), Snooper.Direction.CONTROLLER_TO_HOST)
        if isinstance(packet, hci.HCI_Event):
            self.on_hci_event_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        else:  # commands (unexpected from a controller), SCO and ISO data, unknown packets: Bumble's own handling
            super().on_hci_packet(packet)


def device_with_hci(
    source: TransportSource,
    sink: TransportSink,
    name: str | None = None,
    address: hci.Address | None = None,
    config: DeviceConfiguration | None = None,
) -> Device:
    """Bumble's `Device.with_hci(name, address, ...)` or `Device.from_config_with_hci(config, ...)`, on a QuietHost."""
    host = QuietHost(controller_source=source, controller_sink=sink)
    if config is not None:
        return Device(config=config, host=host)
    return Device(name=name, address=address, host=host)
