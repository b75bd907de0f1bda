# exec the cached helper file; a %-template (file, key, missing: the error text); kept terse: it rides on every
# session's first exec. Skipped while the board still holds this very helper set: `_pt_v`, which the file's last
# section sets to (key, _pt_out). A reset drops it; any prelude sent since (a session without the cache, another
# pytool version's) defined another _pt_out, so the file is loaded again.
# The file's first line ('#' and the size of each section) lets it read and compile one section at a time (no 7 KB
# block); its first section drops the previous session's helpers (cache_clean.py)
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)
if globals().get('_pt_v')!=('%(key)s',globals().get('_pt_out')):
 for _r in('/flash',''):
  try:_f=open(_r+'/.pytool/%(file)s');break
  except OSError:_f=0
 if not _f:raise ImportError('%(missing)s')
 for _n in _f.readline()[1:].split():exec(_f.read(int(_n)))
 _f.close()
