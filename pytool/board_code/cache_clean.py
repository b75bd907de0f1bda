# the cached helper file's first section: the previous session's helpers are dropped (all but _pt_x, which this
# session's packed code runs in) before the next sections compile, so the board never holds two copies of them
# (a 67 KB heap has no room for both)
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)
import gc
for _k in [k for k in globals() if k[:4]=='_pt_' and k!='_pt_x']:del globals()[_k]
gc.collect()
