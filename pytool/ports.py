"""Which board pytool talks to: serial-port discovery, port kinds, and THE target resolution.

`resolve_target()` is the one place that turns the command line, the environment and `pytool.toml` into a
`Target` (what to open, how to reset it, its Bluetooth transport, the board when known, and where each came
from). Precedence, for every command and for the pytest plugin:

    command line (--port / --board-port)  >  PYTOOL_PORT  >  pytool.toml `port`  >  the single attached board

A port value is a device path, any pyserial URL (rfc2217://, socket://, loop://) or `sim:NAME`. New port kinds
plug in at ONE place: `PORT_KINDS` (a prefix -> resolver table, see `port_kind`); round 2 adds `telnet://HOST`
and `labgrid:PLACE` there. Reset strategies are carried out by pytool/reset.py:
  dtr-rts  classic ESP32 auto-reset circuit (EN and IO0 through DTR/RTS), as esptool's default reset
  pic      Pycom PIC expansion boards: 5-data-bit CDC command protocol (reference 1.6(b))
  manual   Expansion Board 2.0: the user jumpers G23 to GND and presses reset
  sim      the simulator's control socket
  labgrid  a farm place's reset/boot outputs or power switch (pytool/farm/labgrid_reset.py)
  none     the port cannot reach the ESP32 (a PIC in DFU mode)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from pytool.errors import PytoolError, UsageError

if TYPE_CHECKING:
    from pytool.config import ProjectConfig


@dataclass(frozen=True)
class Family:
    name: str
    reset: str
    pycom: bool = False
    note: str = ""


PIC_NOTE = "Pycom expansion board with a PIC: bootloader entry through the PIC (5-bit CDC commands)"
DFU_NOTE = "PIC is in DFU (firmware update) mode: replug the board without holding its button"

#: VID:PID -> family. Pycom ids: reference section 2 (pycom-documentation expansionboard.md, updater.py PIC_BOARDS).
USB_FAMILIES: dict[tuple[int, int], Family] = {
    (0x04D8, 0xF013): Family("Pytrack", "pic", True, PIC_NOTE),
    (0x04D8, 0xF012): Family("Pysense", "pic", True, PIC_NOTE),
    (0x04D8, 0xEF98): Family("Expansion Board 3", "pic", True, PIC_NOTE),
    (0x04D8, 0xEF38): Family("Pyscan", "pic", True, PIC_NOTE),
    (0x04D8, 0xED14): Family("Pygate", "pic", True, PIC_NOTE),
    (0x04D8, 0xF014): Family("Pytrack (DFU)", "none", True, DFU_NOTE),
    (0x04D8, 0xF011): Family("Pysense (DFU)", "none", True, DFU_NOTE),
    (0x04D8, 0xEF99): Family("Expansion Board 3 (DFU)", "none", True, DFU_NOTE),
    (0x04D8, 0xEF37): Family("Pyscan (DFU)", "none", True, DFU_NOTE),
    (0x04D8, 0xED15): Family("Pygate (DFU)", "none", True, DFU_NOTE),
    (0x0403, 0x6015): Family(
        "Expansion Board 2.0 / FTDI FT-X",
        "manual",
        True,
        "no auto-reset wiring: jumper G23 to GND and press reset to flash",
    ),
    (0x10C4, 0xEA60): Family("Silicon Labs CP210x", "dtr-rts"),
    (0x10C4, 0xEA70): Family("Silicon Labs CP2105", "dtr-rts"),
    (0x10C4, 0xEA71): Family("Silicon Labs CP2108", "dtr-rts"),
    (0x1A86, 0x7523): Family("WCH CH340", "dtr-rts"),
    (0x1A86, 0x5523): Family("WCH CH341", "dtr-rts"),
    (0x1A86, 0x55D4): Family("WCH CH9102", "dtr-rts"),
    (0x0403, 0x6001): Family("FTDI FT232R", "dtr-rts"),
    (0x0403, 0x6014): Family("FTDI FT232H", "dtr-rts"),
    (0x0403, 0x6010): Family("FTDI FT2232H", "dtr-rts"),
}
SIM_FAMILY = Family("pytool simulator", "sim", True, "simulated board (pytool sim)")
UNKNOWN_FAMILY = Family("unknown USB serial", "dtr-rts")
RESET_STRATEGIES = ("dtr-rts", "pic", "manual", "sim", "labgrid", "none")


@dataclass(frozen=True)
class Device:
    """An attached (or simulated) serial device and what pytool will do with it."""

    port: str
    vid: int | None
    pid: int | None
    description: str
    serial_number: str | None
    family: str
    reset: str
    pycom: bool
    note: str

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04X}:{self.pid:04X}" if self.vid is not None and self.pid is not None else "-"

    def to_json(self) -> dict:
        return asdict(self) | {"usb_id": self.usb_id}


def classify(vid: int | None, pid: int | None) -> Family | None:
    """The family a USB VID:PID implies, or None when it is not a known ESP32/Pycom bridge."""
    if vid is None or pid is None:
        return None
    return USB_FAMILIES.get((vid, pid))


def _system_ports() -> Iterable:
    from serial.tools import list_ports

    return list_ports.comports()


def list_devices(
    include_unknown: bool = False,
    include_sims: bool = True,
    comports: Callable[[], Iterable] = _system_ports,
) -> list[Device]:
    """Serial devices that look like boards (all USB serial ports with `include_unknown`), then simulators."""
    devices = []
    for info in comports():
        family = classify(info.vid, info.pid)
        if family is None:
            if not include_unknown or info.vid is None:
                continue
            family = UNKNOWN_FAMILY
        devices.append(
            Device(
                info.device,
                info.vid,
                info.pid,
                info.description or "",
                info.serial_number,
                family.name,
                family.reset,
                family.pycom,
                family.note,
            )
        )
    if include_sims:
        from pytool.sim import registry

        for rec in registry.running():
            devices.append(
                Device(
                    f"sim:{rec.name}",
                    None,
                    None,
                    f"simulated {rec.board} ({rec.pty or 'USB cable unplugged'})",
                    None,
                    SIM_FAMILY.name,
                    SIM_FAMILY.reset,
                    True,
                    SIM_FAMILY.note,
                )
            )
    return devices


# --------------------------------------------------------------------------------------------- targets

PORT_ENV = "PYTOOL_PORT"
#: The Bumble transport variable (same name as `pytool.ble.ENV_VAR`; read here without importing bleak).
BLE_ENV = "PYTOOL_BLE"

#: Where a port value came from (`Target.source`).
FROM_COMMAND_LINE = "command line"
FROM_ENVIRONMENT = PORT_ENV
FROM_AUTODETECT = "the single attached board"
FROM_SINGLE_SIM = "the single running simulator"


@dataclass(frozen=True)
class Target:
    """The board pytool talks to, resolved once and passed down explicitly (see `resolve_target`).

    `url` is what pyserial, esptool and mpremote open; `reset` the bootloader-entry strategy; `ble` the Bumble
    transport of the board's own radio when it has one pytool can reach (`sim:NAME`), else None; `board` the
    catalogue key when known (a simulator's, or pytool.toml's `board`). Where each came from: `source` for the
    port value, `kind` for what the port is (its PORT_KINDS entry; `reset` and `ble` follow from it and, for a
    device path, from the USB family), `board_source` for the board ("simulator", "pytool.toml", ...).
    """

    spec: str  # the port value as given (or found)
    url: str  # device path or pyserial URL
    reset: str  # bootloader entry strategy (RESET_STRATEGIES)
    family: str
    sim: str | None = None  # simulator name for sim:NAME
    board: str | None = None  # catalogue key, when known
    ble: str | None = None  # the board's own Bluetooth transport (sim:NAME), when it has one
    kind: str = "serial"  # the PORT_KINDS entry that resolved it ("serial" for device paths)
    source: str = "given"  # FROM_COMMAND_LINE, FROM_ENVIRONMENT, "pytool.toml", FROM_AUTODETECT
    board_source: str | None = None  # "simulator", or the project file that named `board`

    def to_json(self) -> dict:
        return asdict(self)


PortResolver = Callable[[str], Target]
#: Port kinds by prefix. A new kind (telnet://HOST, labgrid:PLACE) is one `@port_kind("prefix")` function that
#: returns a Target; the longest matching prefix wins. Values with no registered prefix: any other "scheme://"
#: is a pyserial URL, anything else a device path looked up among the attached USB devices.
PORT_KINDS: dict[str, PortResolver] = {}


def port_kind(prefix: str) -> Callable[[PortResolver], PortResolver]:
    """Register a resolver for port values starting with `prefix` (see `PORT_KINDS`)."""

    def add(resolver: PortResolver) -> PortResolver:
        PORT_KINDS[prefix] = resolver
        return resolver

    return add


@port_kind("sim:")
def _sim_port(spec: str) -> Target:
    """A simulated board (`pytool sim`): its pty, reset through its control socket, its virtual radio."""
    from pytool.sim import registry

    rec = registry.find(spec[4:])
    if not rec.pty:
        raise PytoolError(
            f"simulated board '{rec.name}' has no serial port: its USB cable is unplugged (a 'cut' fault)",
            "wait until it is back (`pytool sim list` shows its port), then run again",
        )
    return Target(spec, rec.pty, "sim", SIM_FAMILY.name, rec.name, rec.board, spec, "sim", board_source="simulator")


@port_kind("telnet://")
def _telnet_port(spec: str) -> Target:
    """A Pycom board over WiFi: its telnet REPL (file bodies over its FTP server; pytool/transports). No reset
    lines: resets go through the REPL, and flashing needs a serial port."""
    from pytool.transports import register, simulator_of

    register()
    sim = simulator_of(spec)
    ble = f"sim:{sim}" if sim else None
    return Target(spec, spec, "none", "Pycom telnet REPL (WiFi)", sim, ble=ble, kind="telnet")


@port_kind("labgrid:")
def _labgrid_port(spec: str) -> Target:
    """A board in a labgrid farm (pytool/farm): the place is acquired for the command (released at its end), its
    serial port opened over RFC2217, reset through its own resources when it has them, its radio used for BLE."""
    from pytool.farm.labgrid import place_for

    place = place_for(spec)
    return Target(spec, place.url, place.reset, place.family, ble=place.ble, kind="labgrid")


@port_kind("rfc2217://")
def _rfc2217_port(spec: str) -> Target:
    """A network serial port with modem lines (RFC 2217): DTR/RTS resets work through it."""
    return Target(spec, spec, "dtr-rts", "network port", kind="rfc2217")


def _url_port(spec: str) -> Target:
    """Any other pyserial URL (socket://, loop://, ...): no modem lines, so no automatic reset."""
    return Target(spec, spec, "none", "network port", kind="url")


def _the_running_sim() -> Target:
    """No board is attached and no port is set: the one running simulator (said on stderr), else an error."""
    from pytool.console import escape, status
    from pytool.sim import registry

    sims = [f"sim:{rec.name}" for rec in registry.running()]
    if not sims:
        raise PytoolError("no board found", "plug one in, pass --port PORT, or start one with `pytool sim start`")
    if len(sims) > 1:
        raise UsageError(
            f"no board is attached and {len(sims)} simulators are running ({', '.join(sims)})",
            "choose one with --port sim:NAME",
        )
    status(escape(f"No board attached: using the running simulator {sims[0]} (pass --port to choose another)."))
    return replace(resolve_port(sims[0]), source=FROM_SINGLE_SIM)


def resolve_port(spec: str | None, comports: Callable[[], Iterable] = _system_ports) -> Target:
    """Resolve one port value (None = the single attached board) into a Target; no precedence applied here."""
    if spec is None or spec == "":
        boards = list_devices(include_sims=False, comports=comports)
        usable = [d for d in boards if d.reset != "none"]
        if not usable:
            return _the_running_sim()
        if len(usable) > 1:
            names = ", ".join(d.port for d in usable)
            raise UsageError(f"several boards are attached ({names})", "choose one with --port")
        return replace(resolve_port(usable[0].port, comports), source=FROM_AUTODETECT)
    prefixes = sorted((p for p in PORT_KINDS if spec.startswith(p)), key=len, reverse=True)
    if prefixes:
        return PORT_KINDS[prefixes[0]](spec)
    if "://" in spec:
        return _url_port(spec)
    for dev in list_devices(include_unknown=True, include_sims=False, comports=comports):
        if dev.port == spec:
            return Target(spec, spec, dev.reset, dev.family)
    return Target(spec, spec, UNKNOWN_FAMILY.reset, UNKNOWN_FAMILY.name)


def choose_port(
    command_line: str | None,
    config: ProjectConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str | None, str]:
    """(port value, where it came from) by the documented precedence; (None, FROM_AUTODETECT) if none is set."""
    environ = os.environ if environ is None else environ
    if command_line:
        return command_line, FROM_COMMAND_LINE
    if environ.get(PORT_ENV, "").strip():
        return environ[PORT_ENV].strip(), FROM_ENVIRONMENT
    if config is not None and config.port:
        return config.port, config.source
    return None, FROM_AUTODETECT


def resolve_target(
    command_line: str | None = None,
    config: ProjectConfig | None = None,
    environ: Mapping[str, str] | None = None,
    comports: Callable[[], Iterable] = _system_ports,
) -> Target:
    """THE target resolution: command line > PYTOOL_PORT > pytool.toml `port` > the single attached board.

    `config` is the project's settings (pytool.toml, or an imported pymakr.conf); its `board` names the board
    when the port itself does not tell (a simulator always does)."""
    spec, source = choose_port(command_line, config, environ)
    target = resolve_port(spec, comports)
    if spec is not None:
        target = replace(target, source=source)
    if target.board is None and config is not None and config.board:
        target = replace(target, board=config.board, board_source=config.source)
    return target


def ble_transport(
    target: Target | None, explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The Bumble transport for over-the-air work with `target`; None = bleak's OS Bluetooth stack.

    An explicit choice (--ble) wins; then the board's own radio (a simulator's: no other radio reaches it); then
    PYTOOL_BLE (a USB dongle, a remote HCI)."""
    environ = os.environ if environ is None else environ
    if explicit:
        return explicit
    if target is not None and target.ble:
        return target.ble
    return environ.get(BLE_ENV, "").strip() or None
