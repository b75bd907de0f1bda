# uzlib (MicroPython 1.11 / Pycom 1.20): decompression only, on top of the interpreter's deflate module.
# DecompIO's wbits as in uzlib: >= 0 zlib stream, < 0 raw deflate, 16 + n gzip; the window size is not enforced.
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
    # as moduzlib.c in Pycom's firmware: a zlib stream (raw deflate when wbits < 0; no gzip here, only in
    # DecompIO), inflated into a bytearray grown 256 bytes at a time, with no window beside it (the interpreter's
    # inflater keeps one of the size the stream's header names: the simulator needs that much more heap).
    # Errors are ValueError(-3), uzlib's TINF_DATA_ERROR (a bad checksum is -4 on the board).
    out = bytearray()
    step = bytearray(256)
    try:
        with _d.DeflateIO(io.BytesIO(data), _d.RAW if wbits < 0 else _d.ZLIB) as f:
            while True:
                n = f.readinto(step)
                if not n:
                    return out
                out.extend(step if n == 256 else memoryview(step)[:n])
    except (OSError, EOFError):
        raise ValueError(-3)


class DecompIO:
    def __init__(self, stream, wbits=0):
        self._f = _d.DeflateIO(stream, _format(wbits))

    def read(self, *n):
        return self._f.read(*n)

    def readinto(self, buf):
        return self._f.readinto(buf)

    def readline(self):
        return self._f.readline()
