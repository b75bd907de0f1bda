# _pt_piece(first, piece, last, name): write one piece of the cached helper file, each in its own exec (no piece, no
# exec holds the whole text: a 67 KB heap has no such block); the last piece checks the file's SHA-256 against its
# name before renaming it into place (pytool/board.py adds the call)
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)
def _pt_piece(first, piece, last, name):
 import os
 try:
  os.stat('/flash')
  d = '/flash/.pytool/'
 except OSError:
  d = '/.pytool/'
 if first:
  try:
   os.mkdir(d[:-1])
  except OSError:
   pass
  for n in os.listdir(d[:-1]):
   if n[0] == 'h':
    os.remove(d + n)
 f = open(d + 'h.tmp', 'a')
 f.write(piece)
 f.close()
 if last:
  try:
   import uhashlib as hl, ubinascii as hb
  except ImportError:
   import hashlib as hl, binascii as hb
  f = open(d + 'h.tmp', 'rb')
  h = hl.sha256()
  try:
   while 1:
    c = f.read(256)
    if not c:
     break
    h.update(c)
  finally:
   f.close()
   c = h.digest()
  if hb.hexlify(c).decode()[:10] == name[1:11]:
   os.rename(d + 'h.tmp', d + name)
  else:
   os.remove(d + 'h.tmp')
