# Stock MicroPython's esp32 module (ports/esp32/modesp32.c, v1.2x) on a simulated generic ESP32 (stock firmware
# only; Pycom firmware has no esp32 module). Wake-up sources and pin holds are accepted and recorded (there is
# no deep sleep to wake from); heap figures are the simulated board's. NVS, Partition, RMT and ULP are not
# simulated.
HEAP_DATA = 4  # MALLOC_CAP_8BIT
HEAP_EXEC = 1  # MALLOC_CAP_EXEC
WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True

_wake = {}


def wake_on_touch(wake):
    _wake["touch"] = bool(wake)


def wake_on_ulp(wake):
    _wake["ulp"] = bool(wake)


def wake_on_ext0(pin, level):
    _wake["ext0"] = (pin, level)


def wake_on_ext1(pins, level):
    _wake["ext1"] = (tuple(pins) if pins is not None else None, level)


def gpio_deep_sleep_hold(enable):
    _wake["hold"] = bool(enable)


def raw_temperature():
    """The on-chip sensor's raw reading in degrees Fahrenheit (a plausible constant: no sensor here)."""
    return 122


def idf_heap_info(capabilities):
    """[(total, free, largest free block, minimum free)] of the IDF heap (the simulated board's figure; one
    region, not the several a real ESP32 reports)."""
    import machine

    free = machine._cfg["idf_internal_free"]
    return [(free + 64 * 1024, free, free // 2, free * 3 // 4)]
