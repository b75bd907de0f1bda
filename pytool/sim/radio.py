"""The shared virtual BLE radio: one hub process owning one Bumble `LocalLink`.

Every TCP connection to the hub (127.0.0.1 only) gets a virtual Controller of its own on the link; the other end
speaks plain H4 HCI, so a board's Bumble Device and a tester (`tcp-client:127.0.0.1:PORT`) are both ordinary
HCI hosts. When a connection closes, its controller's links are terminated (the peer sees a disconnect with
reason CONNECTION_TIMEOUT, as after a lost supervision timeout) and the controller leaves the link.

Three sharp edges of Bumble's virtual controller are fixed here, so the air behaves like a real one:
- scan responses: a stock virtual controller repeats the advertising data as scan response; ours delivers the
  scan-response data the advertiser set, only to active scanners, only for scannable advertising, and reports
  legacy PDUs as legacy (ADV_IND + SCAN_RSP) to extended scanners.
- addresses: every controller gets a distinct public address, so two hosts with default settings don't collide.
- cancelling a connection attempt (a connect that timed out) ends it with an LE Connection Complete event, as the
  spec says; the stock controller left it pending forever.

And one cost: Bumble's controller formats every HCI packet it sends or receives for a debug log line (an f-string,
built whether or not debug logging is on); with several boards advertising every 20 ms that was a third of the
hub's CPU (issue 17). Ours formats them only when the `bumble.controller` logger is enabled for DEBUG.

`ensure_radio()` finds the running hub through its record in `state_dir()` or starts one (detached); the hub
exits by itself after `idle_exit` seconds without any connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bumble import controller as bumble_controller
from bumble import hci, ll
from bumble.controller import Controller
from bumble.core import PhysicalTransport
from bumble.link import LocalLink
from bumble.transport.common import StreamPacketSource

from pytool.errors import PytoolError
from pytool.paths import state_dir
from pytool.sim import registry

logger = logging.getLogger(__name__)

RECORD_NAME = "radio.json"
DEFAULT_IDLE_EXIT = 30.0  # seconds without connections or registered simulators
_ExtProps = hci.HCI_LE_Set_Extended_Advertising_Parameters_Command.AdvertisingProperties
_ExtReport = hci.HCI_LE_Extended_Advertising_Report_Event
_LegacyReport = hci.HCI_LE_Advertising_Report_Event


# Zephyr's vendor command BT_HCI_OP_VS_WRITE_BD_ADDR (OCF 0x0006): a host sets its controller's public address
# (a board's Bluetooth MAC), as controllers without a factory address allow.
HCI_WRITE_BD_ADDR_COMMAND = hci.hci_vendor_command_op_code(0x0006)
hci.HCI_Command.register_commands({"HCI_WRITE_BD_ADDR_COMMAND": HCI_WRITE_BD_ADDR_COMMAND})


@hci.HCI_SyncCommand.sync_command(hci.HCI_StatusReturnParameters)
@dataclasses.dataclass
class HCI_Write_BD_ADDR_Command(hci.HCI_SyncCommand[hci.HCI_StatusReturnParameters]):
    """Set the controller's public address (vendor command, see above)."""

    bd_addr: hci.Address = dataclasses.field(metadata=hci.metadata(hci.Address.parse_address))


@dataclasses.dataclass
class _AirAdv(ll.AdvInd):
    """An advertising PDU as it is on the air: with what a scanner's SCAN_REQ would get back."""

    scan_response: bytes | None = None  # None: not scannable
    connectable: bool = True
    legacy: bool = True


class HubLink(LocalLink):
    """Bumble's LocalLink, sending LE ACL data from the address the connection uses (a public-address advertiser
    would otherwise send from its unset random address and its peer would drop every packet)."""

    def send_acl_data(self, sender_controller, destination_address, transport, data):  # type: ignore[override]
        connection = sender_controller.le_connections.get(destination_address)
        if transport != PhysicalTransport.LE or connection is None:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        destination = self.find_le_controller(destination_address)
        if destination is not None:
            source = connection.self_address
            asyncio.get_running_loop().call_soon(destination.on_link_acl_data, source, transport, data)


class HubController(Controller):
    """A Bumble virtual controller with faithful scan responses (see module docstring)."""

    active_scan: bool = True

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if bumble_controller.logger.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.host:  # what Bumble's send_hci_packet does after its debug line
            asyncio.get_running_loop().call_soon(self.host.on_packet, bytes(packet))

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if bumble_controller.logger.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
        elif isinstance(packet, hci.HCI_Command):  # Bumble's dispatch after its debug line
            self.on_hci_command_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        elif isinstance(packet, hci.HCI_Event):
            self.on_hci_event_packet(packet)
        else:
            super().on_hci_packet(packet)  # Bumble's warning for an unknown packet type

    def send_advertising_pdu(self, packet: ll.AdvertisingPdu) -> None:
        if isinstance(packet, ll.AdvInd) and not isinstance(packet, _AirAdv):
            # Bumble's legacy advertiser only ever sends ADV_IND: connectable and scannable
            packet = _AirAdv(packet.advertiser_address, packet.data, self.le_legacy_advertiser.scan_response_data)
        elif isinstance(packet, ll.AdvExtInd) and packet.periodic_advertising_data is None:
            adv_set = next(
                (s for s in self.advertising_sets.values() if s.enabled and s.address == packet.advertiser_address),
                None,
            )
            if adv_set is not None and adv_set.parameters is not None:
                props = int(adv_set.parameters.advertising_event_properties)
                scannable = props & _ExtProps.SCANNABLE_ADVERTISING
                packet = _AirAdv(
                    packet.advertiser_address,
                    packet.data,
                    scan_response=bytes(adv_set.scan_response_data) if scannable else None,
                    connectable=bool(props & _ExtProps.CONNECTABLE_ADVERTISING),
                    legacy=bool(props & _ExtProps.USE_LEGACY_ADVERTISING_PDUS),
                )
        super().send_advertising_pdu(packet)

    def on_hci_write_bd_addr_command(self, command: HCI_Write_BD_ADDR_Command) -> hci.HCI_StatusReturnParameters:
        self.public_address = hci.Address(bytes(command.bd_addr), hci.Address.PUBLIC_DEVICE_ADDRESS)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_le_create_connection_cancel_command(self, command):  # type: ignore[override]
        """Bumble's controller answers the cancel but leaves the attempt pending and never reports its end: the
        initiator's host waits forever and every later connect is refused. Spec (Vol 4 Part E 7.8.13): after the
        Command Complete, an LE Connection Complete with Unknown Connection Identifier."""
        pending, self.pending_le_connection = self.pending_le_connection, None
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        peer = getattr(pending, "peer_address", None) or hci.Address.ANY
        event = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=peer.address_type,
            peer_address=peer,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_le_set_scan_parameters_command(self, command):  # type: ignore[override]
        self.active_scan = command.le_scan_type == 1
        return super().on_hci_le_set_scan_parameters_command(command)

    def on_hci_le_set_extended_scan_parameters_command(self, command):  # type: ignore[override]
        self.active_scan = any(t == 1 for t in command.scan_types)
        return super().on_hci_le_set_extended_scan_parameters_command(command)

    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        if not isinstance(pdu, _AirAdv):
            super().on_advertising_pdu(pdu)
            return
        if self.le_scan_enable:
            reply = pdu.scan_response if self.active_scan else None
            for report in self._reports(pdu, reply):
                self.send_hci_packet(report)
        pending = self.pending_le_connection
        if pdu.connectable and pending and pending.peer_address == pdu.advertiser_address:
            self.create_le_connection(pdu.advertiser_address)

    def _reports(self, pdu: _AirAdv, reply: bytes | None) -> list[hci.HCI_Event]:
        """HCI advertising reports for one advertising event (+ its scan response), in the host's format."""
        scannable = pdu.scan_response is not None
        if self.le_features & hci.LeFeatureMask.LE_EXTENDED_ADVERTISING:
            flags = _ExtReport.EventType(0)
            if pdu.connectable:
                flags |= _ExtReport.EventType.CONNECTABLE_ADVERTISING
            if scannable:
                flags |= _ExtReport.EventType.SCANNABLE_ADVERTISING
            if pdu.legacy:
                flags |= _ExtReport.EventType.LEGACY_ADVERTISING_PDU_USED
            events = [self._ext_report(pdu, int(flags), pdu.data)]
            if reply is not None:
                rsp = flags | _ExtReport.EventType.SCAN_RESPONSE
                events.append(self._ext_report(pdu, int(rsp), reply))
            return events
        if pdu.connectable:
            kind = _LegacyReport.EventType.ADV_IND
        else:
            kind = _LegacyReport.EventType.ADV_SCAN_IND if scannable else _LegacyReport.EventType.ADV_NONCONN_IND
        events = [self._legacy_report(pdu, kind, pdu.data)]
        if reply is not None:
            events.append(self._legacy_report(pdu, _LegacyReport.EventType.SCAN_RSP, reply))
        return events

    @staticmethod
    def _ext_report(pdu: _AirAdv, event_type: int, data: bytes) -> hci.HCI_Event:
        report = _ExtReport.Report(
            event_type=event_type,
            address_type=pdu.advertiser_address.address_type,
            address=pdu.advertiser_address,
            primary_phy=hci.Phy.LE_1M,
            secondary_phy=0 if pdu.legacy else hci.Phy.LE_1M,
            advertising_sid=0xFF if pdu.legacy else 0,
            tx_power=0x7F,
            rssi=-50,
            periodic_advertising_interval=0,
            direct_address_type=0,
            direct_address=hci.Address.ANY,
            data=data,
        )
        return _ExtReport([report])

    @staticmethod
    def _legacy_report(pdu: _AirAdv, kind: int, data: bytes) -> hci.HCI_Event:
        report = _LegacyReport.Report(
            event_type=kind,
            address_type=pdu.advertiser_address.address_type,
            address=pdu.advertiser_address,
            data=data,
            rssi=-50,
        )
        return _LegacyReport([report])

    def power_off(self) -> None:
        """The radio is gone (its host went away): stop advertising, drop every link, leave the air."""
        self.le_legacy_advertiser.stop()
        for adv_set in self.advertising_sets.values():
            adv_set.stop()
        self.le_scan_enable = False
        self.pending_le_connection = None
        for connection in list(self.le_connections.values()):
            with contextlib.suppress(Exception):  # the peer may already be gone
                connection.send_ll_control_pdu(ll.TerminateInd(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR))
        self.le_connections.clear()
        self.host = None
        with contextlib.suppress(KeyError):
            self.link.remove_controller(self)


class _Sink:
    """Controller -> host: H4 packets onto one TCP connection."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def on_packet(self, packet: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(packet)


class RadioHub:
    """The link plus a TCP server handing out one controller per connection."""

    def __init__(self, idle_exit: float | None = DEFAULT_IDLE_EXIT) -> None:
        self.link = HubLink()
        self.idle_exit = idle_exit
        self.port = 0
        self.connections = 0
        self._addresses = itertools.count(1)
        self._idle_since = time.monotonic()
        self._server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (`port` 0 = any free port); returns the port."""
        hub = self

        class Protocol(asyncio.Protocol):
            controller: HubController | None = None

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.source = StreamPacketSource()
                self.controller = hub._new_controller(self.source, _Sink(transport))  # type: ignore[arg-type]

            def data_received(self, data: bytes) -> None:
                self.source.data_received(data)

            def connection_lost(self, exc: Exception | None) -> None:
                if self.controller is not None:
                    hub._drop_controller(self.controller)
                    self.controller = None

        self._server = await asyncio.get_running_loop().create_server(Protocol, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def transport(self) -> str:
        """The Bumble transport string HCI hosts use to get a controller on this radio."""
        return f"tcp-client:127.0.0.1:{self.port}"

    def _new_controller(self, source: StreamPacketSource, sink: _Sink) -> HubController:
        n = next(self._addresses)
        address = hci.Address(":".join(f"{b:02X}" for b in b"\x00\x5a" + n.to_bytes(4, "big")))
        controller = HubController(f"radio-{n}", host_source=source, host_sink=sink, link=self.link)
        controller.public_address = address
        self.connections += 1
        logger.info("controller %s (%s) joined", controller.name, address)
        return controller

    def _drop_controller(self, controller: HubController) -> None:
        controller.power_off()
        self.connections -= 1
        self._idle_since = time.monotonic()
        logger.info("controller %s left", controller.name)

    def unused_for(self) -> float:
        """Seconds without any connection and without any registered simulator (which lists this hub as its
        `hci` even while its own stack is down)."""
        if self.connections or registry.running():
            self._idle_since = time.monotonic()
        return time.monotonic() - self._idle_since

    async def serve(self) -> None:
        """Run until unused for `idle_exit` seconds (None: forever)."""
        while self.idle_exit is None or self.unused_for() < self.idle_exit:
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


# ------------------------------------------------------------------------------------------------------------
# Finding or starting the shared hub


def _record_path() -> Path:
    return state_dir() / RECORD_NAME


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def running_radio() -> dict | None:
    """The record of the running hub ({"pid", "port", "transport"}), or None."""
    try:
        record = json.loads(_record_path().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not registry.process_alive(int(record.get("pid", 0))):
        return None
    return record


def ensure_radio(timeout: float = 15.0, idle_exit: float = DEFAULT_IDLE_EXIT) -> str:
    """The transport string of the shared radio hub, starting the hub (detached) if none is running."""
    lock_path = state_dir() / "radio.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = running_radio()
        if record is not None and _reachable(int(record["port"])):
            return record["transport"]
        _record_path().unlink(missing_ok=True)
        log = open(state_dir() / "radio.log", "ab")  # noqa: SIM115 - handed to the child
        with log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pytool.sim.radio", "--idle-exit", str(idle_exit)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, "PYTOOL_STATE_DIR": str(state_dir())},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = running_radio()
            if record is not None and record.get("pid") == proc.pid:
                return record["transport"]
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise PytoolError(
            "the virtual BLE radio did not start",
            f"see {state_dir() / 'radio.log'}; run `python -m pytool.sim.radio --debug` to try it in the foreground",
        )


def stop_radio(timeout: float = 5.0) -> bool:
    """Stop the running hub (if any) of this state dir; True if one was stopped."""
    record = running_radio()
    if record is None:
        return False
    pid = int(record["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while registry.process_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return True


async def _main(port: int, idle_exit: float | None) -> None:
    hub = RadioHub(idle_exit=idle_exit)
    await hub.start(port)
    record = {"pid": os.getpid(), "port": hub.port, "transport": hub.transport}
    path = _record_path()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    logger.info("radio hub on %s", hub.transport)
    try:
        await hub.serve()
    finally:
        await hub.close()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()


def main(argv: list[str] | None = None) -> None:
    """`python -m pytool.sim.radio`: run the hub in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m pytool.sim.radio", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free one)")
    parser.add_argument(
        "--idle-exit", type=float, default=DEFAULT_IDLE_EXIT, help="exit after this many seconds unused (<=0: never)"
    )
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(asctime)s %(message)s")
    import signal

    loop = asyncio.new_event_loop()
    task = loop.create_task(_main(args.port, args.idle_exit if args.idle_exit > 0 else None))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    loop.add_signal_handler(signal.SIGINT, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        loop.run_until_complete(task)
    loop.close()


if __name__ == "__main__":
    main()
