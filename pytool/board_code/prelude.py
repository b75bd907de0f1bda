# helpers every session defines first (MicroPython 1.11 grammar: no f-strings); _pt_root is '/flash' on Pycom, '' on stock MicroPython
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)

import os, gc, sys
try:
 import ubinascii as _pt_b
except ImportError:
 import binascii as _pt_b
try:
 import uhashlib as _pt_hl
except ImportError:
 import hashlib as _pt_hl
try:
 import ujson as _pt_j
except ImportError:
 import json as _pt_j
try:
 os.stat('/flash')
 _pt_root = '/flash'
except OSError:
 _pt_root = ''
def _pt_out(v, k='@@pt:'):
 s = k + repr(v)
 b = s.encode()
 print(s + ' #' + str(len(b)) + '.' + str(sum(b) & 65535))
def _pt_p(p):
 return _pt_root + '/' + p if p else (_pt_root or '/')
def _pt_h(p, z=0):
 try:
  f = open(p, 'rb')
 except OSError:
  return None
 b = bytearray(1024)
 m = memoryview(b)
 t = 0
 h = _pt_hl.sha256()
 try:
  while True:
   n = f.readinto(b)
   if not n:
    break
   t += n
   h.update(m[:n] if n < 1024 else b)
 finally:
  f.close()
  d = h.digest()
 d = _pt_b.hexlify(d).decode()
 return (d, t) if z else d
def _pt_st(p):
 try:
  return os.stat(p)
 except OSError:
  return None
def _pt_isdir(p):
 try:
  return os.stat(p)[0] & 0x4000 != 0
 except OSError:
  return False
def _pt_md(p):
 d = ''
 for part in p.split('/')[1:-1]:
  d = d + '/' + part
  if not _pt_isdir(d):
   os.mkdir(d)
def _pt_inf(d):
 try:
  import uzlib
  return uzlib.decompress(d)
 except ImportError:
  import deflate, io
  return deflate.DeflateIO(io.BytesIO(d), deflate.ZLIB).read()
def _pt_rd(t, n, z, a, e):
 s = gc.mem_free() < 262144
 if s:
  gc.collect()
 d = bytearray(n)
 print('@pt<')
 sys.stdin.readinto(d)
 if e:
  d = bytes(d)
  for v in (0, 1, 2, 3, 4, 5, 6, 13, 27):
   d = d.replace(bytes((27, v + 64)), bytes((v,)))
 if z:
  if s:
   gc.collect()
  d = _pt_inf(d)
 f = open(t, 'ab' if a else 'wb')
 f.write(d)
 f.close()
def _pt_mv(t, p):
 _pt_md(p)
 try:
  os.rename(t, p)
 except OSError:
  os.remove(p)
  os.rename(t, p)
def _pt_rm(p):
 if _pt_isdir(p):
  for n in os.listdir(p):
   _pt_rm(p + '/' + n)
  os.rmdir(p)
 else:
  os.remove(p)
def _pt_ls(p, r):
 out = []
 for n in sorted(os.listdir(p or '/')):
  q = (p if p != '/' else '') + '/' + n
  s = os.stat(q)
  d = s[0] & 0x4000 != 0
  out.append((q, -1 if d else s[6]))
  if d and r:
   out.extend(_pt_ls(q, r))
 return out
def _pt_read(p, o, n):
 f = open(p, 'rb')
 f.seek(o)
 d = f.read(n)
 f.close()
 print(_pt_b.b2a_base64(d).decode().strip())
