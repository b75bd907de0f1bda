# sync's helpers (manifest, staged writes, commit); registered by pytool/sync.py, part of the cached helper file
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)
# Memory is O(chunk), never O(files): a chunk of more than 64 board files (more than any host chunk) is sent
# as it fills, 16 entries a line. The manifest ('#pt1' then 'sha256 path' lines sorted by path) is read a line
# at a time; _pt_mfix merges the journal (lines appended per batch; '- path' = removed) into it: a k-way merge of
# the sorted runs it finds by scanning both files (later runs win; 8 runs at most, more are folded into a temp file).

def _pt_mfile():
 return _pt_root + '/.pytool/manifest'
def _pt_key(l):
 if l[-1:] == b'\n':
  if l[64:65] == b' ':
   return l[65:-1]
  if l[:2] == b'- ':
   return l[2:-1]
def _pt_next(r):
 while r[1] < r[2]:
  r[0].seek(r[1])
  l = r[0].readline()
  if not l:
   break
  r[1] += len(l)
  k = _pt_key(l)
  if k is not None:
   return (k, l)
def _pt_merge(R, o):
 w = open(o, 'wb')
 w.write(b'#pt1\n')
 H = [_pt_next(r) for r in R]
 while True:
  k = min([h[0] for h in H if h] or [None])
  if k is None:
   break
  for i in range(len(R)):
   if H[i] and H[i][0] == k:
    v = H[i][1]
    H[i] = _pt_next(R[i])
  if v[:2] != b'- ':
   w.write(v)
 w.close()
def _pt_mfix():
 M = _pt_mfile()
 J = _pt_root + '/.pytool/journal'
 T = _pt_root + '/.pytool/m'
 if not _pt_st(M) and _pt_st(M + '.tmp'):
  os.rename(M + '.tmp', M)
 h = ''
 try:
  f = open(M)
  h = f.read(5)
  if h[:1] == '{':
   m = _pt_j.loads(h + f.read())
   f.close()
   f = open(J + '0', 'w')
   for k in m:
    f.write(m[k] + ' ' + k + '\n')
   f.close()
   _pt_mv(J + '0', M)
  else:
   f.close()
 except (OSError, ValueError):
  pass
 if h in ('#pt1\n', '') and not _pt_st(J):
  return
 gc.collect()
 F = []
 R = []
 G = None
 n = 0
 for p in (M, J):
  try:
   f = open(p, 'rb')
  except OSError:
   continue
  F.append(f)
  s = e = 0
  q = None
  while True:
   f.seek(e)
   l = f.readline()
   if not l:
    break
   k = _pt_key(l)
   if k is not None:
    if q is not None and k <= q:
     R.append([f, s, e])
     s = e
    q = k
   e += len(l)
   if len(R) > 7:
    t = T + str(n & 1)
    _pt_merge(R, t)
    if G:
     G.close()
    G = open(t, 'rb')
    R = [[G, 0, _pt_st(t)[6]]]
    n += 1
  R.append([f, s, e])
 _pt_merge(R, M + '.tmp')
 for f in F + [G] if G else F:
  f.close()
 _pt_mv(M + '.tmp', M)
 for p in (J, T + '0', T + '1'):
  if _pt_st(p):
   os.remove(p)
def _pt_mit():
 _pt_mfix()
 try:
  f = open(_pt_mfile(), 'rb')
 except OSError:
  return
 for l in f:
  k = _pt_key(l)
  if k is not None and l[:2] != b'- ':
   yield k.decode(), l[:64].decode()
 f.close()
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
 for e in os.ilistdir(d or '/'):
  q = d + '/' + e[0]
  k = q[len(_pt_root) + 1:]
  if k == '.pytool':
   continue
  if e[1] & 0x4000:
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
 i = j = S = 0
 C = []
 for k, s in _pt_mit():
  while True:
   n = T.find('\n', i) + 1
   if n >= len(T) or T[n + 20:T.find('\n', n)] > k:
    break
   _pt_chunk(T[i:i + 20], j, C, S)
   C = []
   i = n
   j += 1
   S = 0
  h = _pt_h(_pt_p(k), 1) or ('', 0)
  C.append((k, h[0][:12] if h[0][:12] == s[:12] else '', h[1]))
  if len(C) > 64:
   _pt_cout(j, C)
   C = []
   S = 1
 while i < len(T):
  _pt_chunk(T[i:i + 20], j, C, S)
  C = []
  i = T.find('\n', i) + 1
  j += 1
  S = 0
 if mirror:
  _pt_out(['W', _pt_walk(_pt_root, _pt_root, [], 50)])
 _pt_out(['E', _pt_pname()])
def _pt_chunk(K, j, C, S):
 g = _pt_hl.sha256()
 try:
  for c in C:
   g.update((c[0] + ':' + c[1] + '\n').encode())
 finally:
  d = g.digest()
 if S or _pt_b.hexlify(d).decode()[:20] != K:
  _pt_cout(j, C)
def _pt_cout(j, C):
 for x in range(0, len(C) or 1, 16):
  _pt_out(['A', j, C[x:x + 16]])
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
  _pt_mfix()
 if rec and name and _pt_pname() != name:
  p = _pt_root + '/.pytool/project'
  f = open(p + '.tmp', 'w')
  f.write(name)
  f.close()
  _pt_mv(p + '.tmp', p)
