# rate switch (pytool/baud.py): move the REPL UART (UART0) to another rate for a bulk transfer, never stranding
# the board: one timer (Pycom Timer.Alarm, else stock Timer(3)) switches `a` ms from now, then puts the boot rate
# back once the lease runs out; the host renews the lease (_pt_rl) at the new rate with every exec.
# (device-side code: sent to the board as is, after these comment lines; see pytool/board_code/__init__.py)

import machine, time
try:
 _pt_rs
except NameError:  # (helpers sent again, after a retry: the running switch and its timer stay)
 _pt_rs = None
def _pt_ru(r):
 try:
  machine.UART(0, baudrate=r)
 except Exception:
  pass
def _pt_rc(x):
 s = _pt_rs
 if s is None:
  return
 n = time.ticks_ms()
 if s[0] == 0 and time.ticks_diff(n, s[1]) >= 0:
  s[0] = 1
  _pt_ru(s[3])
 elif s[0] == 1 and time.ticks_diff(n, s[2]) >= 0:
  _pt_rx()
  _pt_ru(s[4])
def _pt_rx():
 global _pt_rs
 s, _pt_rs = _pt_rs, None
 if s is not None:
  try:
   s[6].cancel()
  except AttributeError:
   s[6].deinit()
def _pt_rate(new, boot, a, w, lease, tick):
 global _pt_rs
 _pt_rx()
 n = time.ticks_ms()
 T = machine.Timer
 if hasattr(T, 'Alarm'):
  t = T.Alarm(_pt_rc, ms=tick, periodic=True)
 else:
  t = T(3)
  t.init(mode=T.PERIODIC, period=tick, callback=_pt_rc)
 _pt_rs = [0, time.ticks_add(n, a), time.ticks_add(n, a + w), new, boot, lease, t]
def _pt_rl():
 s = _pt_rs
 if s is not None and s[0] == 1:
  s[2] = time.ticks_add(time.ticks_ms(), s[5])
def _pt_rate_end(a):
 s = _pt_rs
 if s is not None:
  s[0] = 1
  s[2] = time.ticks_add(time.ticks_ms(), a)
