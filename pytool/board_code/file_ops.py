# file operations of `pytool touch/rmdir/cp/sha256sum` (needs prelude.py); each answers a short status word
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)

def _pt_touch(p):
 s = _pt_st(p)
 if s is not None:
  return 'dir' if s[0] & 0x4000 else 'ok'
 q = p.rsplit('/', 1)[0]
 if q and not _pt_isdir(q):
  return 'noparent'
 open(p, 'ab').close()
 return 'ok'
def _pt_rmd(p):
 s = _pt_st(p)
 if s is None:
  return 'missing'
 if not s[0] & 0x4000:
  return 'file'
 if os.listdir(p):
  return 'notempty'
 os.rmdir(p)
 return 'ok'
def _pt_cpf(s, d):
 _pt_md(d)
 t = d + '.pttmp'
 f = open(s, 'rb')
 g = open(t, 'wb')
 b = bytearray(512)
 m = memoryview(b)
 try:
  while True:
   n = f.readinto(b)
   if not n:
    break
   g.write(m[:n])
 finally:
  f.close()
  g.close()
 _pt_mv(t, d)
def _pt_cp(s, d):
 if _pt_isdir(s):
  _pt_md(d + '/x')
  n = 0
  for e in os.listdir(s):
   n += _pt_cp(s + '/' + e, d + '/' + e)
  return n
 _pt_cpf(s, d)
 return 1
def _pt_sums(P):
 for p in P:
  _pt_out((p, _pt_h(p)))
