"""What `help()` and `help('modules')` print on the real firmware (the simulated board asks the host: the
interpreter's own help would list the host build's modules and the simulator's shims).

The module lists are the firmware's module tables, read from its sources:
- Pycom 1.20.2.r4 (pycom-micropython-sigfox, non-Pybytes build): py/objmodule.c's table with esp32/mpconfigport.h's
  options, MICROPY_PORT_BUILTIN_MODULES, MICROPY_PORT_BUILTIN_MODULE_WEAK_LINKS (help lists both tables, so
  `uerrno`, `uselect` and `ubinascii`, which the core table and the port's both have, show twice), `array`
  (MP_REGISTER_MODULE) and the frozen modules of esp32/frozen/Base (+ LTE on GPy and FiPy).
- MicroPython v1.24.1, ports/esp32 board ESP32_GENERIC: every MP_REGISTER_MODULE enabled at the EXTRA_FEATURES level
  with ports/esp32/mpconfigport.h (+ btree from esp32_common.cmake), and the frozen files of
  ports/esp32/boards/manifest.py (micropython-lib at the commit the release pins).
py/builtinhelp.c prints them sorted, column-first in 4 columns of 18 characters, then "Plus any modules on the
filesystem"."""

from __future__ import annotations

_PYCOM_CORE = (
    "__main__ builtins micropython uio ucollections ustruct math cmath sys gc _thread uerrno uctypes uzlib ujson ure "
    "utimeq ubinascii uselect framebuf array"
)
_PYCOM_PORT = "umachine uos network usocket uselect utime pycom uhashlib ucrypto ubinascii ussl uerrno uqueue"
_PYCOM_WEAK_LINKS = "machine os socket select binascii struct re json time hashlib crypto ssl errno queue"
_PYCOM_FROZEN = "_boot _main"
_PYCOM_FROZEN_LTE = "sqnsbrz sqnscodec sqnscrc sqnstp sqnsupgrade"  # esp32/frozen/LTE: GPy and FiPy only
_PYCOM_LTE_BOARDS = ("GPy", "FiPy")

_STOCK_BUILTIN = (
    "__main__ _asyncio _espnow _onewire _thread _webrepl array binascii bluetooth btree builtins cmath collections "
    "cryptolib deflate errno esp esp32 framebuf gc hashlib heapq io json machine math micropython network os "
    "platform random re select socket struct sys time tls uctypes vfs websocket"
)
_STOCK_FROZEN = (
    "_boot apa106 espnow flashbdev inisetup "  # ports/esp32/modules
    "asyncio/__init__ asyncio/core asyncio/event asyncio/funcs asyncio/lock asyncio/stream uasyncio "
    "mip/__init__ ntptime ssl requests/__init__ webrepl webrepl_setup urequests "  # bundle-networking
    "aioespnow dht ds18x20 onewire neopixel umqtt/robust umqtt/simple upysh"
)

#: esp32/util/help.c (pycom_help_text, non-Pybytes build)
PYCOM_HELP = (
    "Welcome to MicroPython!\n"
    "For online docs please visit http://docs.pycom.io\n"
    "\n"
    "Control commands:\n"
    "  CTRL-A        -- on a blank line, enter raw REPL mode\n"
    "  CTRL-B        -- on a blank line, enter normal REPL mode\n"
    "  CTRL-C        -- interrupt a running program\n"
    "  CTRL-D        -- on a blank line, do a soft reset of the board\n"
    "  CTRL-E        -- on a blank line, enter paste mode\n"
    "  CTRL-F        -- on a blank line, do a hard reset of the board and enter safe boot\n"
    "\n"
    "For further help on a specific object, type help(obj)\n"
    "For a list of available modules, type help('modules')\n"
)

#: ports/esp32/help.c (esp32_help_text) of v1.24.1
STOCK_HELP = (
    "Welcome to MicroPython on the ESP32!\n"
    "\n"
    "For online docs please visit http://docs.micropython.org/\n"
    "\n"
    "For access to the hardware use the 'machine' module:\n"
    "\n"
    "import machine\n"
    "pin12 = machine.Pin(12, machine.Pin.OUT)\n"
    "pin12.value(1)\n"
    "pin13 = machine.Pin(13, machine.Pin.IN, machine.Pin.PULL_UP)\n"
    "print(pin13.value())\n"
    "i2c = machine.I2C(scl=machine.Pin(21), sda=machine.Pin(22))\n"
    "i2c.scan()\n"
    "i2c.writeto(addr, b'1234')\n"
    "i2c.readfrom(addr, 4)\n"
    "\n"
    "Basic WiFi configuration:\n"
    "\n"
    "import network\n"
    "sta_if = network.WLAN(network.STA_IF); sta_if.active(True)\n"
    "sta_if.scan()                             # Scan for available access points\n"
    'sta_if.connect("<AP_name>", "<password>") # Connect to an AP\n'
    "sta_if.isconnected()                      # Check for successful connection\n"
    "\n"
    "Control commands:\n"
    "  CTRL-A        -- on a blank line, enter raw REPL mode\n"
    "  CTRL-B        -- on a blank line, enter normal REPL mode\n"
    "  CTRL-C        -- interrupt a running program\n"
    "  CTRL-D        -- on a blank line, do a soft reset of the board\n"
    "  CTRL-E        -- on a blank line, enter paste mode\n"
    "\n"
    "For further help on a specific object, type help(obj)\n"
    "For a list of available modules, type help('modules')\n"
)


def module_names(flavour: str, board_name: str) -> list[str]:
    """The names help('modules') lists on this firmware, in the firmware's table order (duplicates kept)."""
    if flavour != "pycom":
        return (_STOCK_BUILTIN + " " + _STOCK_FROZEN).split()
    lists = [_PYCOM_CORE, _PYCOM_PORT, _PYCOM_WEAK_LINKS, _PYCOM_FROZEN]
    if board_name in _PYCOM_LTE_BOARDS:
        lists.append(_PYCOM_FROZEN_LTE)
    return " ".join(lists).split()


def modules_text(names: list[str]) -> str:
    """py/builtinhelp.c mp_help_print_modules(): sorted, column-first, 4 columns of 18 characters."""
    items = sorted(names)
    rows = (len(items) + 3) // 4
    lines = []
    for i in range(rows):
        line, j = "", i
        while True:
            line += items[j]
            j += rows
            if j >= len(items):
                break
            gap = 18 - len(items[j - rows])
            while gap < 1:
                gap += 18
            line += " " * gap
        lines.append(line + "\n")
    return "".join(lines) + "Plus any modules on the filesystem\n"


def help_text(flavour: str, board_name: str, topic: str) -> str:
    """help() (topic "") or help('modules') (topic "modules") as the firmware prints it."""
    if topic == "modules":
        return modules_text(module_names(flavour, board_name))
    return PYCOM_HELP if flavour == "pycom" else STOCK_HELP
