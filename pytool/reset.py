"""How pytool puts an ESP32 into its ROM bootloader and back into its firmware: one class per strategy, as in
esptool 5's `esptool/reset.py`, chosen by name with `strategy_for` (the names come from port discovery:
`pytool.ports` maps a USB VID:PID to one, `--reset` overrides it).

  dtr-rts  classic auto-reset circuit (EN and IO0 through DTR/RTS): esptool's own default reset on connect
           (it picks the USB-Serial-JTAG sequence by itself for Espressif's built-in USB port)
  pic      Pycom expansion boards with a PIC: the PIC's 5-data-bit command protocol (`pytool.pic`)
  manual   Expansion Board 2.0 (no auto-reset wiring): the user jumpers G23 to GND and presses reset
  sim      a simulated board: its control socket presses the buttons
  labgrid  a board in a labgrid farm: its place's reset/boot outputs or power switch (pytool/farm)
  none     the port cannot reach the ESP32 (a PIC in DFU mode): refused with a hint
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from pytool.errors import PytoolError, UsageError
from pytool.pic import MAX_READ_BAUD

if TYPE_CHECKING:
    from pytool.ports import Target

Say = Callable[[str], None]

CONSOLE_BAUD = 115200  # the ROM's and the firmware's console speed
MANUAL_TIMEOUT = 120.0  # seconds the user has to put the module into the bootloader, or to reset it


class ResetError(PytoolError):
    """The module cannot be reset into its bootloader or its firmware this way."""


class ResetStrategy:
    """Bootloader entry and exit for one kind of board. Subclasses set the class attributes they differ in."""

    name: ClassVar[str] = ""
    #: esptool's `before` mode for the connection made after `enter_bootloader`
    esptool_before: ClassVar[str] = "no-reset"
    #: esptool's connect attempts, and for how long to keep trying when they all fail (a person may be slow)
    connect_attempts: ClassVar[int] = 3
    connect_patience: ClassVar[float] = 0.0
    #: seconds to wait for the firmware's banner after `open_console`
    banner_timeout: ClassVar[float] = 20.0
    #: reads from the flash are relayed no faster than this (None: no limit)
    max_read_baud: ClassVar[int | None] = None

    def enter_bootloader(self, port: Target, say: Say) -> None:
        """Put the module into its ROM bootloader (or leave that to esptool's connect, see `esptool_before`)."""

    def run_firmware(self, esp: Any, port: Target) -> None:
        """Leave the bootloader: reset the module into its firmware. `esp` is esptool's loader (its port open)."""

    def open_console(self, esp: Any, port: Target, say: Say) -> Any:
        """Reset into the firmware and return the serial port (at 115200 baud, 0.2 s timeout) its boot output
        arrives on; the caller closes it. By default esptool's own port, emptied before the reset."""
        ser = esp._port
        ser.baudrate = CONSOLE_BAUD
        ser.timeout = 0.2
        ser.reset_input_buffer()
        self.run_firmware(esp, port)
        return ser

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class DtrRtsReset(ResetStrategy):
    """The classic two-transistor auto-reset circuit: esptool drives DTR/RTS itself, on connect and after."""

    name = "dtr-rts"
    esptool_before = "default-reset"

    def run_firmware(self, esp: Any, port: Target) -> None:
        esp.hard_reset()


class PicReset(ResetStrategy):
    """Pycom expansion boards with a PIC (Pysense, Pytrack, Pyscan, Expansion Board 3, Pygate): the PIC drives
    GPIO0 and EN on command (reference 1.6(b)); reads through it are capped at 230400 baud."""

    name = "pic"
    max_read_baud = MAX_READ_BAUD

    def enter_bootloader(self, port: Target, say: Say) -> None:
        from pytool.pic import enter_bootloader

        product, hw, fw = enter_bootloader(port.url)
        say(f"Expansion board PIC: product 0x{product:04X}, hardware {hw}, firmware 0.0.{fw}")

    def run_firmware(self, esp: Any, port: Target) -> None:
        from pytool.pic import exit_bootloader

        esp._port.close()  # the PIC protocol needs the port at 5 data bits: esptool's handle must go first
        exit_bootloader(port.url)

    def open_console(self, esp: Any, port: Target, say: Say) -> Any:
        import serial

        self.run_firmware(esp, port)
        ser = serial.serial_for_url(port.url, do_not_open=True, baudrate=CONSOLE_BAUD, timeout=0.2)
        ser.dtr = ser.rts = False
        ser.open()
        return ser


class ManualReset(ResetStrategy):
    """No auto-reset wiring (Expansion Board 2.0): the user does both resets, pytool says when and waits."""

    name = "manual"
    connect_attempts = 1
    connect_patience = MANUAL_TIMEOUT
    banner_timeout = MANUAL_TIMEOUT

    def enter_bootloader(self, port: Target, say: Say) -> None:
        say("Put the module into its bootloader: jumper G23 to GND and press the reset button (waiting...)")

    def open_console(self, esp: Any, port: Target, say: Say) -> Any:
        ser = esp._port
        ser.baudrate = CONSOLE_BAUD
        ser.timeout = 0.2
        ser.reset_input_buffer()
        say("Remove the G23 jumper and press the reset button (waiting for the firmware...)")
        return ser


class SimReset(ResetStrategy):
    """A simulated board (`sim:NAME`): its control socket presses reset, with IO0 held low for the bootloader."""

    name = "sim"

    def enter_bootloader(self, port: Target, say: Say) -> None:
        self._control(port).reset(bootloader=True)

    def run_firmware(self, esp: Any, port: Target) -> None:
        self._control(port).reset(bootloader=False)

    @staticmethod
    def _control(port: Target) -> Any:
        from pytool import sim

        record = sim.registry.find(port.sim or "")
        if not record.control:
            raise ResetError(f"simulator {record.name} has no control socket", "restart it with `pytool sim start`")
        return sim.SimControl(record.control)


class NoReset(ResetStrategy):
    """The port does not reach the ESP32 (a PIC in DFU mode): nothing to reset, say how to fix it."""

    name = "none"

    def enter_bootloader(self, port: Target, say: Say) -> None:
        raise ResetError(
            f"{port.spec} cannot reach the ESP32 ({port.family})",
            "replug the expansion board without holding its button (its PIC is in DFU mode)",
        )


class LabgridReset(ResetStrategy):
    """A board in a labgrid farm (`labgrid:PLACE`): the place's `reset`/`boot` digital outputs or its power
    switch (pytool/farm/labgrid_reset.py). Without a `boot` output esptool enters the bootloader over DTR/RTS."""

    name = "labgrid"

    def enter_bootloader(self, port: Target, say: Say) -> None:
        from pytool.farm.labgrid import reset_board

        if not reset_board(port.spec, bootloader=True):
            self.esptool_before = "default-reset"  # type: ignore[misc]

    def run_firmware(self, esp: Any, port: Target) -> None:
        from pytool.farm.labgrid import reset_board

        reset_board(port.spec)


STRATEGIES: dict[str, type[ResetStrategy]] = {
    cls.name: cls for cls in (DtrRtsReset, PicReset, ManualReset, SimReset, LabgridReset, NoReset)
}


def strategy_for(name: str) -> ResetStrategy:
    """The reset strategy called `name` (dtr-rts, pic, manual, sim, none); UsageError for any other name."""
    cls = STRATEGIES.get(name)
    if cls is None:
        raise UsageError(f"unknown reset strategy '{name}'", "use dtr-rts, pic, manual or sim")
    return cls()
