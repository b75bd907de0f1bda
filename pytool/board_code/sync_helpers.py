# sync's helpers (manifest, staged writes, commit); registered by pytool/sync.py, part of the cached helper file
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)

def _pt_mfile():
 return _pt_root + '/.pytool/manifest'
def _pt_mread(p, m, n=64):
 try:
  f = open(p)
 except OSError:
  return False
 try:
  l = f.readline()
  if l[:1] == '{':
   m.update(_pt_j.loads(l + f.read()))
   return True
  while l:
   if l[-1:] == '\n' and l[64:65] == ' ':
    m[l[65:-1]] = l[:n]
   elif l[:2] == '- ' and l[-1:] == '\n':
    m.pop(l[2:-1], None)
   l = f.readline()
 except ValueError:
  pass
 finally:
  f.close()
 return True
def _pt_mload(n=64):
 m = {}
 if not _pt_mread(_pt_mfile(), m, n):
  _pt_mread(_pt_mfile() + '.tmp', m, n)
 _pt_mread(_pt_root + '/.pytool/journal', m, n)
 return m
def _pt_msave(m):
 p = _pt_mfile()
 _pt_md(p)
 f = open(p + '.tmp', 'w')
 for k in m:
  f.write(m[k] + ' ' + k + '\n')
 f.close()
 _pt_mv(p + '.tmp', p)
 try:
  os.remove(_pt_root + '/.pytool/journal')
 except OSError:
  pass
def _pt_jadd(F, D):
 p = _pt_root + '/.pytool/journal'
 _pt_md(p)
 f = open(p, 'a')
 for t, k, s in F:
  f.write(s + ' ' + k + '\n')
 for k in D:
  f.write('- ' + k + '\n')
 f.close()
def _pt_walk(d, r, out, c=0):
 for n in os.listdir(d or '/'):
  q = d + '/' + n
  k = q[len(_pt_root) + 1:]
  if k == '.pytool':
   continue
  if _pt_isdir(q):
   _pt_walk(q, r, out, c)
  else:
   out.append(k)
   if c and len(out) >= c:
    _pt_out(['W', out])
    out.clear()
 return out
def _pt_clean():
 t = _pt_root + '/.pytool/tmp'
 if _pt_isdir(t):
  for n in os.listdir(t):
   os.remove(t + '/' + n)
def _pt_pname():
 try:
  f = open(_pt_root + '/.pytool/project')
  n = f.read()
  f.close()
  return n
 except OSError:
  return None
def _pt_state(T, mirror):
 _pt_clean()
 gc.collect()
 A = _pt_mload(12)
 for k in A:
  h = _pt_h(_pt_p(k))
  s = _pt_st(_pt_p(k))
  A[k] = [h[:12] if h and h[:12] == A[k] else '', s[6] if s else 0]
 K = sorted(A)
 g = _pt_hl.sha256()
 for k in K:
  g.update((k + ':' + A[k][0] + '\n').encode())
 g = _pt_b.hexlify(g.digest()).decode()[:20]
 if g == T and not mirror:
  _pt_out(None)
  return
 C = {}
 for k in K:
  C[k] = A.pop(k)
  if len(C) >= 100:
   _pt_out(['A', C])
   C = {}
 _pt_out(['A', C])
 if mirror:
  _pt_out(['W', _pt_walk(_pt_root, _pt_root, [], 100)])
 _pt_out(['E', _pt_pname()])
def _pt_fin(F, D, rec=True, last=False, name=None):
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
 if rec and (F or D):
  _pt_jadd(F, D)
 for t, k, s in F:
  _pt_mv(t, _pt_p(k))
 if rec and last:
  gc.collect()
  _pt_msave(_pt_mload())
 if rec and name and _pt_pname() != name:
  p = _pt_root + '/.pytool/project'
  f = open(p + '.tmp', 'w')
  f.write(name)
  f.close()
  _pt_mv(p + '.tmp', p)
