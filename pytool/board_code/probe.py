# the capability probe: one _pt_out line marked '@@pt?' (the last line, _pt_probe(), is cut when only the definition is wanted)
# a list in the order pytool.capabilities.capabilities_from reads it, without key names: it rides on every session's first exec
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)

def _pt_probe():
 try:
  u = os.uname()
  u = [u.sysname, u.release, u.version, u.machine]
 except Exception:
  u = None
 try:
  v = list(sys.implementation.version)[:3]
 except Exception:
  v = None
 z = None
 try:
  import uzlib
  z = 'uzlib'
 except ImportError:
  try:
   import deflate
   z = 'deflate'
  except ImportError:
   pass
 try:
  h = _pt_hl.sha256()
  h.update(b'ab')
  h.update(b'c')
  d = h.digest()
  i = int(d == _pt_hl.sha256(b'abc').digest())
 except Exception:
  i = 0
 try:
  h1 = _pt_hl.sha256(b'a')
  try:
   c = _pt_b.hexlify(_pt_hl.sha256(b'b').digest()) == b'3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d'
  except Exception:
   c = False
  a = _pt_b.hexlify(h1.digest())
  c = int(a == b'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb' and c)
 except Exception:
  c = 0
 gc.collect()
 try:
  s = os.statvfs(_pt_root or '/')
  s = [s[0] * s[2], s[0] * s[3]]
 except Exception:
  s = None
 _pt_out([_pt_root, sys.platform, u, v, z, _pt_hl.__name__, i, c, gc.mem_free(), s], '@@pt?')
_pt_probe()
