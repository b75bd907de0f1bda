# MicroPython 1.11 weak link: hashlib is uhashlib on Pycom firmware.
from uhashlib import md5, sha1, sha256  # noqa: F401
