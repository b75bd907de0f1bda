# Pure-Python SHA-224 / SHA-384 / SHA-512 for the simulated uhashlib: Pycom's moduhashlib.c has them, the
# interpreter's hashlib only has md5, sha1 and sha256. FIPS 180-4; constants computed from the primes.
import struct

_K512 = (0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc, 0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2, 0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65, 0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5, 0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df, 0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b, 0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8, 0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec, 0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b, 0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b, 0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817)
_IV512 = (0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1, 0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179)
_IV384 = (0xcbbb9d5dc1059ed8, 0x629a292a367cd507, 0x9159015a3070dd17, 0x152fecd8f70e5939, 0x67332667ffc00b31, 0x8eb44a8768581511, 0xdb0c2e0d64f98fa7, 0x47b5481dbefa4fa4)

_K256 = tuple(k >> 32 for k in _K512[:64])
_IV224 = tuple(v & 0xFFFFFFFF for v in _IV384)
# (word bits, rounds, Sigma0, Sigma1, sigma0, sigma1)
_P32 = (32, 64, (2, 13, 22), (6, 11, 25), (7, 18, 3), (17, 19, 10))
_P64 = (64, 80, (28, 34, 39), (14, 18, 41), (1, 8, 7), (19, 61, 6))


class _Sha2:
    def __init__(self, params, k, iv, digest_size):
        self._p = params
        self._k = k
        self._h = list(iv)
        self._n = digest_size
        self._buf = b""
        self._len = 0
        self._block = params[0] * 2  # 64 or 128 bytes

    def update(self, data):
        data = bytes(data)
        self._len += len(data)
        buf = self._buf + data
        b = self._block
        i = 0
        while i + b <= len(buf):
            self._compress(buf[i : i + b])
            i += b
        self._buf = buf[i:]

    def _compress(self, chunk):
        bits, rounds, big0, big1, small0, small1 = self._p
        m = (1 << bits) - 1

        def rotr(x, n):
            return ((x >> n) | (x << (bits - n))) & m

        w = list(struct.unpack(">16" + ("I" if bits == 32 else "Q"), chunk))
        for i in range(16, rounds):
            x, y = w[i - 15], w[i - 2]
            s0 = rotr(x, small0[0]) ^ rotr(x, small0[1]) ^ (x >> small0[2])
            s1 = rotr(y, small1[0]) ^ rotr(y, small1[1]) ^ (y >> small1[2])
            w.append((w[i - 16] + s0 + w[i - 7] + s1) & m)
        a, b, c, d, e, f, g, h = self._h
        k = self._k
        for i in range(rounds):
            t1 = (h + (rotr(e, big1[0]) ^ rotr(e, big1[1]) ^ rotr(e, big1[2])) + ((e & f) ^ ((e ^ m) & g)) + k[i] + w[i]) & m
            t2 = ((rotr(a, big0[0]) ^ rotr(a, big0[1]) ^ rotr(a, big0[2])) + ((a & b) ^ (a & c) ^ (b & c))) & m
            h, g, f, e, d, c, b, a = g, f, e, (d + t1) & m, c, b, a, (t1 + t2) & m
        self._h = [(x + y) & m for x, y in zip(self._h, (a, b, c, d, e, f, g, h))]

    def digest(self):
        b = self._block
        size = b // 8  # length field: 8 or 16 bytes
        pad = b"\x80" + b"\x00" * ((b - (self._len + 1 + size) % b) % b) + (self._len * 8).to_bytes(size, "big")
        saved = (list(self._h), self._buf, self._len)
        self.update(pad)
        fmt = ">8" + ("I" if self._p[0] == 32 else "Q")
        out = struct.pack(fmt, *self._h)[: self._n]
        self._h, self._buf, self._len = saved
        return out


def sha224():
    return _Sha2(_P32, _K256, _IV224, 28)


def sha384():
    return _Sha2(_P64, _K512, _IV384, 48)


def sha512():
    return _Sha2(_P64, _K512, _IV512, 64)
