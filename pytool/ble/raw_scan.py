"""Is a board advertising? A scan over an H4 HCI transport on TCP (`tcp-client:HOST:PORT`: a simulator's radio,
a Bumble `tcp-server`), spoken with the standard library alone.

`pytool deploy`'s advertise step only needs to see one advertisement from the board; doing that through bleak on
Bumble costs ~0.35 s of CPU for importing Bumble alone, paid again by every board of `pytool test --all` whose tests
then import it anyway (issue 17). This is a real HCI host all the same: it resets the controller it gets, enables
the LE events, scans actively and reads the advertising reports (legacy and extended) the controller sends, like
any host would; what it finds came over the air. Everything else over the air (tests, `pytool.air`) uses bleak.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from dataclasses import dataclass

from pytool.errors import PytoolError

PREFIX = "tcp-client:"
COMMAND_TIMEOUT = 10.0  # seconds a controller may take to answer a command (HCI_Reset included)
CLOSE_GRACE = 2.0  # seconds the other end may take to close its side after ours

_COMMAND, _ACL, _EVENT = 0x01, 0x02, 0x04
_COMMAND_COMPLETE, _COMMAND_STATUS, _LE_META = 0x0E, 0x0F, 0x3E
_LEGACY_REPORT, _EXTENDED_REPORT = 0x02, 0x0D
_RESET = 0x0C03
_SET_EVENT_MASK = 0x0C01
_LE_SET_EVENT_MASK = 0x2001
_LE_SET_SCAN_PARAMETERS = 0x200B
_LE_SET_SCAN_ENABLE = 0x200C
_EVENT_MASK = 0x20001FFFFFFFFFFF  # the default events plus LE Meta (bit 61)
_LE_EVENT_MASK = 0x101F  # the default LE events plus the extended advertising report (bit 12)
_SHORT_NAME, _COMPLETE_NAME = 0x08, 0x09


@dataclass(frozen=True)
class Advertiser:
    """Who was heard: 'AA:BB:CC:DD:EE:FF' and the local name in that report (None when it has none)."""

    address: str
    name: str | None


def handles(transport: str) -> bool:
    """True if `transport` (a resolved Bumble transport string) is one this module can scan on."""
    return transport.startswith(PREFIX)


def find_advertiser(transport: str, name: str | None, address: str | None, timeout: float) -> Advertiser | None:
    """The first advertisement from `address` (any name), or else with the local name `name`, heard within
    `timeout` seconds on `transport`; None if none. PytoolError when the transport or its controller fails."""
    host, _, port = transport[len(PREFIX) :].rpartition(":")
    try:
        link = socket.create_connection((host, int(port)), timeout=COMMAND_TIMEOUT)
    except (OSError, ValueError) as error:
        raise PytoolError(
            f"cannot open Bluetooth transport {transport}: {error}",
            "check the PYTOOL_BLE transport (is the radio or simulator running?)",
        ) from error
    try:
        hci = _Hci(link, transport)
        hci.command(_RESET)
        hci.command(_SET_EVENT_MASK, struct.pack("<Q", _EVENT_MASK))
        hci.command(_LE_SET_EVENT_MASK, struct.pack("<Q", _LE_EVENT_MASK))
        # active scan (the names may be in scan responses), 10 ms interval and window, public address, no filter
        hci.command(_LE_SET_SCAN_PARAMETERS, struct.pack("<BHHBB", 1, 16, 16, 0, 0))
        hci.command(_LE_SET_SCAN_ENABLE, bytes([1, 0]))
        wanted = address.upper() if address else None
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            event = hci.event(left)
            if event is None or event[0] != _LE_META:
                continue
            for heard in _reports(event[1]):
                if (heard.address == wanted) if wanted else (name is not None and heard.name == name):
                    with contextlib.suppress(PytoolError, OSError):
                        hci.command(_LE_SET_SCAN_ENABLE, bytes([0, 0]))
                    return heard
        return None
    finally:
        _close(link)


class _Hci:
    """Commands and events over one H4 byte stream."""

    def __init__(self, link: socket.socket, transport: str) -> None:
        self.link = link
        self.transport = transport
        self.buffer = b""

    def command(self, opcode: int, parameters: bytes = b"") -> None:
        """Send a command and wait for its Command Complete (or Status) with status 0 (PytoolError otherwise)."""
        self.link.sendall(struct.pack("<BHB", _COMMAND, opcode, len(parameters)) + parameters)
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            event = self.event(left)
            if event is None:
                continue
            code, body = event
            if code == _COMMAND_COMPLETE and len(body) >= 4 and struct.unpack_from("<H", body, 1)[0] == opcode:
                status = body[3]
            elif code == _COMMAND_STATUS and len(body) >= 4 and struct.unpack_from("<H", body, 2)[0] == opcode:
                status = body[0]
            else:
                continue
            if status:
                raise PytoolError(
                    f"the Bluetooth controller on {self.transport} refused HCI command 0x{opcode:04X} "
                    f"(status 0x{status:02X})",
                    "check the PYTOOL_BLE transport (is another host using that controller?)",
                )
            return
        raise PytoolError(
            f"no Bluetooth controller answered on {self.transport} (HCI command 0x{opcode:04X}, {COMMAND_TIMEOUT:g} s)",
            "the transport opened but no controller answers there; check the PYTOOL_BLE transport",
        )

    def event(self, timeout: float) -> tuple[int, bytes] | None:
        """The next HCI event (code, parameters) within `timeout` s; None if none came (ACL data is skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            packet = self._packet()
            if packet is not None:
                kind, body = packet
                if kind == _EVENT:
                    return body[0], body[2:]
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.link], [], [], left)[0]:
                return None
            data = self.link.recv(65536)
            if not data:
                raise PytoolError(
                    f"the Bluetooth transport {self.transport} closed",
                    "is the radio (the simulator's radio hub) still running?",
                )
            self.buffer += data

    def _packet(self) -> tuple[int, bytes] | None:
        """One whole H4 packet from the buffer (type, header + parameters), or None if more bytes are needed."""
        if not self.buffer:
            return None
        kind = self.buffer[0]
        if kind == _EVENT:
            header, size = 2, (self.buffer[2] if len(self.buffer) >= 3 else None)
        elif kind == _ACL:
            header, size = 4, (struct.unpack_from("<H", self.buffer, 3)[0] if len(self.buffer) >= 5 else None)
        else:
            raise PytoolError(
                f"the Bluetooth transport {self.transport} sent a packet of unknown type 0x{kind:02X}",
                "check the PYTOOL_BLE transport: it must carry H4 HCI",
            )
        if size is None or len(self.buffer) < 1 + header + size:
            return None
        body, self.buffer = self.buffer[1 : 1 + header + size], self.buffer[1 + header + size :]
        return kind, body


def _reports(meta: bytes) -> list[Advertiser]:
    """The advertisers in an LE Advertising Report or LE Extended Advertising Report event (other LE events: [])."""
    if not meta or meta[0] not in (_LEGACY_REPORT, _EXTENDED_REPORT):
        return []
    found = []
    at, count = 2, meta[1] if len(meta) > 1 else 0
    for _ in range(count):
        if meta[0] == _LEGACY_REPORT:  # event type, address type, address, data length, data, RSSI
            address_at, length_at = at + 2, at + 8
        else:  # event type (2), address type, address, PHYs, SID, TX power, RSSI, interval, direct address ...
            address_at, length_at = at + 3, at + 23
        if length_at >= len(meta):
            break
        data = meta[length_at + 1 : length_at + 1 + meta[length_at]]
        raw = meta[address_at : address_at + 6]
        found.append(Advertiser(":".join(f"{b:02X}" for b in reversed(raw)), _local_name(data)))
        at = length_at + 1 + meta[length_at] + (1 if meta[0] == _LEGACY_REPORT else 0)
    return found


def _local_name(data: bytes) -> str | None:
    """The complete (else shortened) local name in advertising data, as bleak reports it."""
    names: dict[int, str] = {}
    at = 0
    while at < len(data) and data[at]:
        length = data[at]
        kind, value = data[at + 1], data[at + 2 : at + 1 + length]
        if kind in (_SHORT_NAME, _COMPLETE_NAME):
            names[kind] = value.decode("utf-8", "replace")
        at += 1 + length
    return names.get(_COMPLETE_NAME, names.get(_SHORT_NAME))


def _close(link: socket.socket) -> None:
    """Close so that the other end has let go of its controller when this returns (as pytool.ble.host does)."""
    with contextlib.suppress(OSError):
        link.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + CLOSE_GRACE
        while (left := deadline - time.monotonic()) > 0 and select.select([link], [], [], left)[0]:
            if not link.recv(65536):
                break
    link.close()
