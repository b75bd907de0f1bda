# Pycom's `machine` module (SIG esp32/mods/modmachine.c and friends), simulated. Pins record their state;
# Timer.Alarm callbacks come from the simulator over the bridge and run on the IRQ thread like on the board.
import time

import _bridge

import _builtin

_m = _builtin.restricted("machine", ("soft_reset",))  # not mem8/mem16/mem32: the host's memory

_cfg = None  # set by _boot.py

PWRON_RESET = 0
HARD_RESET = 1
WDT_RESET = 2
DEEPSLEEP_RESET = 3
SOFT_RESET = 4
BROWN_OUT_RESET = 5
PWRON_WAKE = 0
PIN_WAKE = 1
RTC_WAKE = 2
ULP_WAKE = 3


def _stock():
    import os  # the firmware's os: _boot.py gives it the boot configuration before it imports this module

    cfg = getattr(os, "_cfg", None)
    return cfg is not None and cfg.get("flavour") != "pycom"


_STOCK = _stock()
if _STOCK:  # stock ESP32 port: modmachine.h's reset causes, ESP-IDF's wake-up causes
    PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
    PIN_WAKE = EXT0_WAKE = 2
    EXT1_WAKE = 3
    TIMER_WAKE = 4
    TOUCHPAD_WAKE = 5
    ULP_WAKE = 6


def reset():
    """Hard reset: the board reboots (ROM lines, boot.py, main.py)."""
    # the marker, written last, tells the simulator that everything printed before (the raw REPL's "OK") is out
    print("\x1b[pytool:%s:reset]" % _cfg["token"], end="")
    _bridge.call("runtime", "hard_reset", False, True)
    while True:  # the simulator stops this interpreter
        time.sleep(1)


def deepsleep(time_ms=None):
    """The board sleeps (serial silent, radio off) and boots again after time_ms with DEEPSLEEP_RESET; without
    a time only a reset wakes it."""
    _bridge.call("runtime", "deepsleep", None if time_ms is None else int(time_ms))
    while True:  # the simulator stops this interpreter
        time.sleep(1)


def soft_reset():
    _m.soft_reset()


def reset_cause():
    return _cfg["reset_cause"]


def wake_reason():
    timer = _cfg.get("wake") == "timer"
    if _STOCK:  # esp_sleep_get_wakeup_cause(): 0 (undefined) unless woken from sleep
        return TIMER_WAKE if timer else 0
    return (RTC_WAKE if timer else PWRON_WAKE, None)


def unique_id():
    return bytes.fromhex(_cfg["mac"])


def freq():
    return 160000000


def idle():
    time.sleep_ms(1)


def main(filename):
    raise OSError("machine.main() is not supported by the simulator")


def info():
    import gc

    print("---------------------------------------------")
    print("System memory info (in bytes)")
    print("---------------------------------------------")
    print("MPTask stack water mark: 6000")
    print("---------------------------------------------")
    print("GC heap free: %d" % gc.mem_free())


def temperature():
    return 130


class RTC:
    INTERNAL_RC = 0
    XTAL_32KHZ = 1
    _offset = 0.0

    def __init__(self, id=0, datetime=None, source=INTERNAL_RC):
        if datetime is not None:
            self.init(datetime)

    def init(self, datetime=None, source=INTERNAL_RC):
        if datetime is None:
            RTC._offset = -time.time()
            return
        dt = tuple(datetime) + (0,) * (8 - len(datetime))
        year, month, day, hour, minute, second, usec = dt[:7]
        secs = time.mktime((year, month, day, hour, minute, second, 0, 0))
        RTC._offset = secs + usec / 1000000 - time.time()

    def now(self):
        t = time.time() + RTC._offset
        tm = time.gmtime(int(t))
        return (tm[0], tm[1], tm[2], tm[3], tm[4], tm[5], int((t % 1) * 1000000), None)

    def ntp_sync(self, server, update_period=3600, backup_server=None):
        raise OSError("no network in the simulator")

    def synced(self):
        return False


class Pin:
    """A GPIO that records what is done to it (the simulator has no wires)."""

    IN = 1
    OUT = 2
    OPEN_DRAIN = 7
    ALT = 3
    ALT_OPEN_DRAIN = 4
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 1
    IRQ_RISING = 2
    IRQ_LOW_LEVEL = 4
    IRQ_HIGH_LEVEL = 8
    _pins = {}

    class exp_board:
        pass

    class module:
        pass

    def __init__(self, id, mode=IN, pull=None, *, value=None, alt=-1):
        self._id = id
        self._value = 0
        self._hold = False
        self._handler = None
        Pin._pins[id] = self
        self.init(mode, pull, value=value, alt=alt)

    def init(self, mode=IN, pull=None, *, value=None, alt=-1):
        self._mode = mode
        self._pull = pull
        self._alt = alt
        if value is not None:
            self._value = 1 if value else 0
        elif pull == Pin.PULL_UP and mode == Pin.IN:
            self._value = 1

    def id(self):
        return self._id

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0

    __call__ = value

    def toggle(self):
        self._value ^= 1

    def mode(self, m=None):
        if m is None:
            return self._mode
        self._mode = m

    def pull(self, p=None):
        if p is None:
            return self._pull
        self._pull = p

    def hold(self, h=None):
        if h is None:
            return self._hold
        self._hold = bool(h)

    def callback(self, trigger, handler=None, arg=None):
        self._handler = (trigger, handler, arg)

    def __repr__(self):
        return "Pin('%s', mode=%s, pull=%s, alt=%d)" % (self._id, self._mode, self._pull, self._alt)


class UART:
    # UART0 is the REPL's (re-initialising it changes the line rate the host must use: pytool/sim/uart.py);
    # UART1/2 have nothing attached on the simulated board: writes go nowhere, reads find nothing.
    EVEN = 0
    ODD = 1
    ONE = 1
    TWO = 2
    RX_ANY = 1

    def __init__(self, bus, *args, **kwargs):
        if bus not in (0, 1, 2):
            raise ValueError("UART(%s) does not exist" % (bus,))
        self._id = bus
        self._baud = 115200 if bus == 0 else 9600
        if args or kwargs:
            self.init(*args, **kwargs)

    def init(self, baudrate=9600, bits=8, parity=None, stop=1, **kwargs):
        baudrate = int(baudrate)
        if baudrate <= 0:
            raise ValueError("invalid baudrate")
        self._baud = baudrate
        if self._id == 0:
            _bridge.call("uart", "init", 0, baudrate)

    def deinit(self):
        pass

    def any(self):
        return 0

    def read(self, nbytes=-1):
        return None

    def readline(self):
        return None

    def readinto(self, buf, nbytes=-1):
        return None

    def write(self, buf):
        data = bytes(buf)
        if self._id == 0:
            print(data.decode("utf-8", "replace"), end="")
        return len(data)

    def sendbreak(self):
        pass

    def wait_tx_done(self, timeout_ms):
        return True

    def flush(self):
        pass

    def txdone(self):
        return True

    def __repr__(self):
        return "UART(%d, baudrate=%d, bits=8, parity=None, stop=1)" % (self._id, self._baud)


class _Alarm:
    def __init__(self, handler, period, arg, periodic):
        self._handler = handler
        self._arg = self if arg is None else arg
        self._periodic = periodic
        self._id = Timer._next_id
        Timer._next_id += 1
        Timer._alarms[self._id] = self
        _bridge.call("timer", "start", self._id, period, periodic)

    def callback(self, handler, *, arg=None):
        self._handler = handler
        self._arg = self if arg is None else arg

    def cancel(self):
        Timer._alarms.pop(self._id, None)
        _bridge.call("timer", "cancel", self._id)

    def _fire(self):
        if not self._periodic:
            Timer._alarms.pop(self._id, None)
        if self._handler is not None:
            self._handler(self._arg)


class _Chrono:
    def __init__(self):
        self._acc = 0
        self._start = None

    def start(self):
        if self._start is None:
            self._start = time.ticks_us()

    def stop(self):
        if self._start is not None:
            self._acc += time.ticks_diff(time.ticks_us(), self._start)
            self._start = None

    def reset(self):
        self._acc = 0
        if self._start is not None:
            self._start = time.ticks_us()

    def read_us(self):
        run = time.ticks_diff(time.ticks_us(), self._start) if self._start is not None else 0
        return self._acc + run

    def read_ms(self):
        return self.read_us() / 1000

    def read(self):
        return self.read_us() / 1000000


class Timer:
    _next_id = 1
    _alarms = {}

    @staticmethod
    def Alarm(handler=None, s=None, *, ms=None, us=None, arg=None, periodic=False):
        if s is not None:
            period = s
        elif ms is not None:
            period = ms / 1000
        elif us is not None:
            period = us / 1000000
        else:
            raise ValueError("a period (s, ms or us) is required")
        return _Alarm(handler, period, arg, periodic)

    Chrono = _Chrono

    @staticmethod
    def sleep_us(us):
        time.sleep_us(us)


def _timer_event(name, payload):
    alarm = Timer._alarms.get(payload)
    if alarm is not None:
        alarm._fire()


_bridge.handle("timer", _timer_event)
