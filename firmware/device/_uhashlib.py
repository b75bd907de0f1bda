# Pycom's uhashlib (SIG esp32/mods/moduhashlib.c; DOC firmwareapi/micropython/uhashlib): "By limitations in the
# hardware, only one active hashing operation is supported at a time." The simulator takes the strict reading:
# creating a hasher while another one has not produced its digest raises OSError, so code that passes here
# works on the board whichever way the hardware limit shows (error or corrupted result). digest() ends the
# operation; no data can be fed after it; hexdigest() does not exist.

import _builtin
import _sha2

_h = _builtin.load("hashlib")

_active = [None]


class _Hash:
    _impl = None

    def __init__(self, data=None):
        if _active[0] is not None:
            raise OSError("only one active hash operation is supported")
        self._h = self._impl()
        self._digest = None
        _active[0] = self
        if data is not None:
            self.update(data)

    def update(self, data):
        if self._digest is not None:
            raise OSError("hash already finalised")
        self._h.update(data)

    def digest(self):
        if self._digest is None:
            self._digest = self._h.digest()
            if _active[0] is self:
                _active[0] = None
        return self._digest


class md5(_Hash):
    _impl = _h.md5


class sha1(_Hash):
    _impl = _h.sha1


class sha256(_Hash):
    _impl = _h.sha256


class sha224(_Hash):
    _impl = staticmethod(_sha2.sha224)


class sha384(_Hash):
    _impl = staticmethod(_sha2.sha384)


class sha512(_Hash):
    _impl = staticmethod(_sha2.sha512)
