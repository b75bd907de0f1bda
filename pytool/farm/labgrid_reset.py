"""Resetting a farm board through its labgrid place's own resources (reset strategy `labgrid`).

A place gets this strategy when it has a digital output named `reset` (wired to the ESP32's EN) or a power
resource. Conventions (the output resource's `invert`, or swapped HTTP bodies, adapt other wiring):

- output `reset` asserted = the chip is held in reset (EN low);
- output `boot`  asserted = IO0 is held low (download mode at the next reset);
- a power resource is cycled when there is no `reset` output (a power-on reset).

Entering the ROM bootloader needs `boot`; without it pytool lets esptool use DTR/RTS over RFC2217 as usual.
The drivers are labgrid's own (HttpDigitalOutputDriver, ModbusCoilDriver, NetworkPowerDriver, ...), bound to
the place's resources through labgrid's RemotePlace on the session pytool already holds.
"""

from __future__ import annotations

import time
from typing import Any

from pytool.errors import PytoolError

RESET_OUTPUT = "reset"
BOOT_OUTPUT = "boot"
PULSE_S = 0.1  # EN held low
SETTLE_S = 0.05  # IO0 held low after EN rises, as esptool's classic reset does

OUTPUT_DRIVERS = {
    "HttpDigitalOutput": "HttpDigitalOutputDriver",
    "ModbusTCPCoil": "ModbusCoilDriver",
    "WaveshareModbusTCPCoil": "WaveShareModbusCoilDriver",
    "Eth008DigitalOutput": "Eth008DigitalOutputDriver",
    "OneWirePIO": "OneWirePIODriver",
    "NetworkSysfsGPIO": "GpioDigitalOutputDriver",
    "NetworkDeditecRelais8": "DeditecRelaisDriver",
    "NetworkLXAIOBusPIO": "LXAIOBusPIODriver",
    "NetworkHIDRelay": "HIDRelayDriver",
}
POWER_DRIVERS = {
    "NetworkPowerPort": "NetworkPowerDriver",
    "NetworkUSBPowerPort": "USBPowerDriver",
    "NetworkSiSPMPowerPort": "SiSPMPowerDriver",
    "PDUDaemonPort": "PDUDaemonDriver",
    "TasmotaPowerPort": "TasmotaPowerDriver",
    "NetworkYKUSHPowerPort": "YKUSHPowerDriver",
}


def strategy_for(outputs: dict[str, str], power: str | None) -> str | None:
    """`labgrid` when the place can reset the board itself (output `reset` or a power resource), else None."""
    return "labgrid" if RESET_OUTPUT in outputs or power else None


class PlaceResetter:
    """labgrid drivers for one acquired place's reset/boot outputs and power (built once, on first use)."""

    def __init__(self, session: Any, place_name: str, outputs: dict[str, str], power: tuple[str, str] | None):
        self.session = session
        self.place_name = place_name
        self.outputs = outputs  # resource name -> class
        self.power = power  # (resource name, class)
        self._target: Any = None
        self._drivers: dict[str, Any] = {}

    def _driver(self, name: str, cls: str, table: dict[str, str]) -> Any:
        if name in self._drivers:
            return self._drivers[name]
        from labgrid import Target, target_factory
        from labgrid.resource.remote import RemotePlace, RemotePlaceManager

        if self._target is None:
            manager = RemotePlaceManager.get()
            manager.session, manager.loop = self.session, self.session.loop
            self._target = Target(self.place_name)
            RemotePlace(self._target, name=self.place_name)
        driver_name = table.get(cls)
        if driver_name is None:
            raise PytoolError(
                f"labgrid place '{self.place_name}': pytool cannot drive a {cls} named '{name}'",
                f"use one of {', '.join(sorted(table))}, or rename the resource so pytool ignores it",
            )
        driver_cls = target_factory.class_from_string(driver_name)
        [binding] = driver_cls.bindings
        self._target.set_binding_map({binding: name})
        driver = driver_cls(self._target, name=name)
        self._target.activate(driver)
        self._drivers[name] = driver
        return driver

    def _output(self, name: str) -> Any | None:
        return self._driver(name, self.outputs[name], OUTPUT_DRIVERS) if name in self.outputs else None

    @property
    def means(self) -> str:
        """What a reset is on this place, in words: `reset output` (EN pulsed) or `power cycle`."""
        return "reset output" if RESET_OUTPUT in self.outputs else "power cycle"

    def can_enter_bootloader(self) -> bool:
        return BOOT_OUTPUT in self.outputs and (RESET_OUTPUT in self.outputs or self.power is not None)

    def _pulse(self) -> None:
        reset = self._output(RESET_OUTPUT)
        if reset is not None:
            reset.set(True)
            time.sleep(PULSE_S)
            reset.set(False)
        elif self.power is not None:
            self._driver(*self.power, POWER_DRIVERS).cycle()
        else:  # pragma: no cover - strategy_for() does not pick `labgrid` then
            raise PytoolError(f"labgrid place '{self.place_name}' has no reset output or power switch")

    def reset(self, bootloader: bool = False) -> None:
        """Reset the board, into the ROM download mode when `bootloader` (needs the `boot` output)."""
        from labgrid.driver import ExecutionError

        try:
            boot = self._output(BOOT_OUTPUT) if bootloader else None
            if bootloader and boot is None:
                raise PytoolError(
                    f"labgrid place '{self.place_name}' has no '{BOOT_OUTPUT}' output for IO0",
                    "add one, or let esptool reset over DTR/RTS (--reset dtr-rts)",
                )
            if boot is not None:
                boot.set(True)
            self._pulse()
            if boot is not None:
                time.sleep(SETTLE_S)
                boot.set(False)
        except (ExecutionError, OSError) as exc:
            raise PytoolError(
                f"labgrid place '{self.place_name}': resetting through its resources failed: {exc}",
                f"check them with `labgrid-client -p {self.place_name} io get {RESET_OUTPUT}` / `power get`",
            ) from None
