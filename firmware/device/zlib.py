# MicroPython 1.11 weak link: zlib is uzlib on Pycom firmware.
from uzlib import DecompIO, decompress  # noqa: F401
