# exec the cached helper file; a %-template (file name, error text); kept terse: it rides on every session's first exec.
# The previous session's helpers are dropped first (all but _pt_x, which this session's packed code runs in): the
# board never holds two copies of them while it compiles the file (a 67 KB heap has no room for both). The file's
# first line ('#' and the size of each section) lets it read and compile one section at a time (no 7 KB block)
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)
import gc
for _k in [k for k in globals() if k[:4]=='_pt_' and k!='_pt_x']:del globals()[_k]
gc.collect()
for _r in ('/flash',''):
 try:_f=open(_r+'/.pytool/%s');break
 except OSError:_f=0
if not _f:raise ImportError('%s')
for _n in _f.readline()[1:].split():exec(_f.read(int(_n)))
_f.close();del _f
