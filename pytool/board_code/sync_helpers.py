# sync's helpers (manifest, staged writes, commit); registered by pytool/sync.py, part of the cached helper file
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)

def _pt_mfile():
 return _pt_root + '/.pytool/manifest'
def _pt_mload():
 for p in (_pt_mfile(), _pt_mfile() + '.tmp'):
  try:
   f = open(p)
   m = _pt_j.loads(f.read())
   f.close()
   return m
  except (OSError, ValueError):
   pass
 return {}
def _pt_msave(m):
 p = _pt_mfile()
 _pt_md(p)
 f = open(p + '.tmp', 'w')
 f.write(_pt_j.dumps(m))
 f.close()
 _pt_mv(p + '.tmp', p)
def _pt_walk(d, r, out):
 for n in os.listdir(d or '/'):
  q = d + '/' + n
  k = q[len(_pt_root) + 1:]
  if k == '.pytool':
   continue
  if _pt_isdir(q):
   _pt_walk(q, r, out)
  else:
   out.append(k)
 return out
def _pt_state(T, mirror):
 t = _pt_root + '/.pytool/tmp'
 if _pt_isdir(t):
  for n in os.listdir(t):
   os.remove(t + '/' + n)
 A = {}
 M = _pt_mload()
 for k in M:
  h = _pt_h(_pt_p(k))
  A[k] = h[:12] if h and h == M[k] else ''
 s = ''
 for k in sorted(A):
  s = s + k + ':' + A[k] + '\n'
 if not mirror and _pt_b.hexlify(_pt_hl.sha256(s.encode()).digest()).decode()[:20] == T:
  return None
 return [A, _pt_walk(_pt_root, _pt_root, []) if mirror else None]
def _pt_fin(F, D, M2, rec=True):
 for t, k, s in F:
  if _pt_h(t) != s:
   os.remove(t)
   raise ValueError('hash mismatch after upload: ' + k)
 for k in D:
  p = _pt_p(k)
  try:
   os.remove(p)
  except OSError:
   pass
  d = p.rsplit('/', 1)[0]
  while d.count('/') > _pt_root.count('/') and d[len(_pt_root) + 1:] not in ('lib', 'sys', 'cert'):
   try:
    os.rmdir(d)
   except OSError:
    break
   d = d.rsplit('/', 1)[0]
 if rec and (F or D or M2 is not None):
  M = _pt_mload() if M2 is None else M2
  for t, k, s in F:
   M[k] = s
  for k in D:
   M.pop(k, None)
  _pt_msave(M)
 for t, k, s in F:
  _pt_mv(t, _pt_p(k))
