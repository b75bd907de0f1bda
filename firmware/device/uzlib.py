# uzlib (MicroPython 1.11 / Pycom 1.20): decompression only, on top of the interpreter's deflate module.
# wbits as in uzlib: > 0 zlib stream, < 0 raw deflate, 16 + n gzip; the window size is not enforced.
import io

import _builtin

_d = _builtin.load("deflate")


def _format(wbits):
    if wbits < 0:
        return _d.RAW
    if wbits > 15:
        return _d.GZIP
    return _d.ZLIB if wbits else _d.AUTO


def decompress(data, wbits=0, bufsize=0):
    with _d.DeflateIO(io.BytesIO(data), _format(wbits)) as f:
        return f.read()


class DecompIO:
    def __init__(self, stream, wbits=0):
        self._f = _d.DeflateIO(stream, _format(wbits))

    def read(self, *n):
        return self._f.read(*n)

    def readinto(self, buf):
        return self._f.readinto(buf)

    def readline(self):
        return self._f.readline()
