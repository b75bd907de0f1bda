# the capability probe: one _pt_out line marked '@@pt?' (the last line, _pt_probe(), is cut when only the definition is wanted)
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)

def _pt_probe():
 r = {'root': _pt_root, 'platform': sys.platform}
 try:
  u = os.uname()
  r['uname'] = [u.sysname, u.nodename, u.release, u.version, u.machine]
 except Exception:
  r['uname'] = None
 try:
  r['impl'] = [sys.implementation.name] + list(sys.implementation.version)
 except Exception:
  r['impl'] = None
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
 r['inflate'] = z
 r['hash'] = _pt_hl.__name__
 try:
  h = _pt_hl.sha256()
  h.update(b'ab')
  h.update(b'c')
  d = h.digest()
  r['hash_incremental'] = d == _pt_hl.sha256(b'abc').digest()
 except Exception:
  r['hash_incremental'] = False
 h1 = _pt_hl.sha256(b'a')
 try:
  c = _pt_b.hexlify(_pt_hl.sha256(b'b').digest()) == b'3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d'
 except Exception:
  c = False
 a = _pt_b.hexlify(h1.digest())
 r['hash_concurrent'] = a == b'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb' and c
 gc.collect()
 r['mem_free'] = gc.mem_free()
 try:
  s = os.statvfs(_pt_root or '/')
  r['fs'] = [s[0] * s[2], s[0] * s[3]]
 except Exception:
  r['fs'] = None
 _pt_out(r, '@@pt?')
_pt_probe()
