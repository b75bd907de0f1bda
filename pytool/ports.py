"""Serial-port discovery: which USB bridge a port is, the board family it implies, and how to reset it.

`--port` accepts a device path, any pyserial URL (rfc2217://, socket://, loop://), `sim:NAME` or `labgrid:PLACE`
(pytool/farm); with no port pytool picks the single attached board. Reset strategies are carried out by pytool/flash.py:
  dtr-rts  classic ESP32 auto-reset circuit (EN and IO0 through DTR/RTS), as esptool's default reset
  pic      Pycom PIC expansion boards: 5-data-bit CDC command protocol (reference 1.6(b))
  manual   Expansion Board 2.0: the user jumpers G23 to GND and presses reset
  sim      the simulator's control socket
  labgrid  a farm place's reset/boot outputs or power switch (pytool/farm/labgrid_reset.py)
  none     the port cannot reach the ESP32 (a PIC in DFU mode)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from pytool.errors import PytoolError, UsageError


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


@dataclass(frozen=True)
class ResolvedPort:
    """A `--port` value turned into what pyserial/esptool/mpremote open, plus the reset strategy to use."""

    spec: str  # what the user gave
    url: str  # device path or pyserial URL
    reset: str
    family: str
    sim: str | None = None  # simulator name for sim:NAME


def resolve_port(spec: str | None, comports: Callable[[], Iterable] = _system_ports) -> ResolvedPort:
    """Resolve `--port` (None = the single attached board) into an openable URL and a reset strategy."""
    if spec is None or spec == "":
        boards = list_devices(include_sims=False, comports=comports)
        usable = [d for d in boards if d.reset != "none"]
        if not usable:
            raise PytoolError("no board found", "plug one in, pass --port PORT, or start one with `pytool sim start`")
        if len(usable) > 1:
            names = ", ".join(d.port for d in usable)
            raise UsageError(f"several boards are attached ({names})", "choose one with --port")
        spec = usable[0].port
    if spec.startswith("sim:"):
        from pytool.sim import registry

        rec = registry.find(spec[4:])
        if not rec.pty:
            raise PytoolError(
                f"simulated board '{rec.name}' has no serial port: its USB cable is unplugged (a 'cut' fault)",
                "wait until it is back (`pytool sim list` shows its port), then run again",
            )
        return ResolvedPort(spec, rec.pty, "sim", SIM_FAMILY.name, rec.name)
    if spec.startswith("labgrid:"):  # a board in a labgrid farm, acquired for this command (pytool/farm)
        from pytool.farm.labgrid import place_for

        place = place_for(spec)
        return ResolvedPort(spec, place.url, place.reset, place.family)
    if "://" in spec:
        return ResolvedPort(spec, spec, "dtr-rts" if spec.startswith("rfc2217://") else "none", "network port")
    for dev in list_devices(include_unknown=True, include_sims=False, comports=comports):
        if dev.port == spec:
            return ResolvedPort(spec, spec, dev.reset, dev.family)
    return ResolvedPort(spec, spec, UNKNOWN_FAMILY.reset, UNKNOWN_FAMILY.name)
