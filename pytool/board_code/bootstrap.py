# defines _pt_x(s): inflate and exec compressed code, sent once per session before the first packed exec
# (uzlib.decompress returns a bytearray, which MicroPython 1.11's exec() refuses: hence the bytes copy)
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)

try:
 import ubinascii as _zb
except ImportError:
 import binascii as _zb
try:
 import uzlib as _zm
 _zd = lambda b: bytes(_zm.decompress(b))
except ImportError:
 try:
  import deflate as _zm, io as _zi
  _zd = lambda b: _zm.DeflateIO(_zi.BytesIO(b), _zm.ZLIB).read()
 except ImportError:
  _zd = None
def _pt_x(s):
 if _zd is None:
  print('@@pt:noinflate')
 else:
  exec(_zd(_zb.a2b_base64(s)), globals())
