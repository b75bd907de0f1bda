"""pytool: flash, sync and over-the-air test Pycom and ESP32 MicroPython boards."""

__version__ = "0.1.0"
