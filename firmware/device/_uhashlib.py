# Pycom's uhashlib (SIG esp32/mods/moduhashlib.c at v1.20.2.r4): one hash operation at a time, by a static flag
# that a hasher's constructor sets and its digest() clears. Creating a hasher while another one has not produced
# its digest raises OSError("only one active hash operation is permitted at a time"); update() after digest() is
# ignored; digest() again returns the same bytes; hexdigest() does not exist. Not modelled: the flag survives a
# soft reset on the board (a hasher dropped before its digest blocks hashing until a hard reset); here a soft
# reset starts a new interpreter.

import _builtin
import _sha2

_h = _builtin.load("hashlib")

_active = [None]


class _Hash:
    _impl = None

    def __init__(self, data=None):
        if _active[0] is not None:
            raise OSError("only one active hash operation is permitted at a time")
        self._h = self._impl()
        self._digest = None
        _active[0] = self
        if data is not None:
            self.update(data)

    def update(self, data):
        if self._digest is None:  # after digest(): ignored
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
