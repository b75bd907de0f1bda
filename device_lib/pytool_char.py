# pytool_char: characteristics and services for pytool_gatt: typed values, one handler adapter for every
# firmware's callback convention, contained exceptions. MicroPython 1.11 grammar (Pycom 1.20.x).
# Kept apart from pytool_gatt so each module compiles in a small heap; use it through pytool_gatt.
import sys

import pytool_probe as probe
from pytool_codec import GattError, check_format, decode, encode, uuid

# network.Bluetooth constants (reference 4.9), so this module imports on boards without the radio.
CHAR_READ_EVENT = 8
CHAR_WRITE_EVENT = 16
CHAR_SUBSCRIBE_EVENT = 128
PROP_READ = 2
PROP_WRITE_NR = 4
PROP_WRITE = 8
PROP_NOTIFY = 16
PROP_INDICATE = 32
PRINT_ERRORS = True  # also print a short report of every failed handler (always recorded in the probe)


# ---------------------------------------------------------------- handlers


def report(where, exc):
    """Record a failed handler in the probe (event 'error') and print a short report; never raises."""
    try:
        probe.record("error", where, repr(exc))
        if PRINT_ERRORS:
            print("pytool_gatt: handler of %s failed:" % where)
            sys.print_exception(exc)
    except Exception:
        pass


def call(where, fn, *args):
    """fn(*args), with any exception reported instead of raised (returns None then)."""
    try:
        return fn(*args)
    except Exception as e:
        report(where, e)
        return None


def events_of(args, native):
    """[(event, data)] of one firmware callback, whichever convention called it:
    handler(arg, (event, data)) on >= 1.20.2.rc2, handler(arg) before (then the events come from
    native.events(), which also clears them, and written data from native.value())."""
    if len(args) > 1 and isinstance(args[1], tuple) and len(args[1]) == 2:
        return [args[1]]
    flags = native.events()
    out = []
    for ev in (CHAR_SUBSCRIBE_EVENT, CHAR_WRITE_EVENT, CHAR_READ_EVENT):  # read last: its return answers
        if flags & ev:
            out.append((ev, native.value() if ev == CHAR_WRITE_EVENT else None))
    return out


# ---------------------------------------------------------------- declarations


class Char:
    """One characteristic: typed value, properties and handlers. Create with Service.char()."""

    def __init__(
        self,
        uuid_,
        name=None,
        fmt="bytes",
        value=None,
        read=True,
        write=False,
        write_nr=False,
        notify=False,
        indicate=False,
        on_read=None,
        on_write=None,
        on_subscribe=None,
        permissions=None,
        quiet=False,
    ):
        check_format(fmt)
        self.uuid = uuid(uuid_)
        self.name = name if name is not None else str(uuid_)
        self.fmt = fmt
        self.properties = (
            (PROP_READ if read else 0)
            | (PROP_WRITE if write else 0)
            | (PROP_WRITE_NR if write_nr else 0)
            | (PROP_NOTIFY if notify else 0)
            | (PROP_INDICATE if indicate else 0)
        )
        self.permissions = permissions
        self.initial = None if value is None else encode(fmt, value)
        self.on_read = on_read
        self.on_write = on_write
        self.on_subscribe = on_subscribe
        self.subscribed = 0  # CCCD of the connected client: 0 none, 1 notify, 2 indicate
        self.quiet = quiet  # not recorded in the probe (the probe's own characteristic)
        self.native = None
        self.server = None

    def _record(self, event, data=None):
        if not self.quiet:
            probe.record(event, self.name, data)

    def attach(self, native, server=None):
        """Bind to the firmware's GATTSCharacteristic and register the one handler for every convention."""
        self.native = native
        self.server = server
        trigger = CHAR_WRITE_EVENT | CHAR_SUBSCRIBE_EVENT | (CHAR_READ_EVENT if self.on_read else 0)
        native.callback(trigger=trigger, handler=self._irq)

    def _irq(self, *args):
        # Runs on the firmware's IRQ thread: an exception escaping here would kill every later callback.
        try:
            answer = None
            for event, data in events_of(args, self.native):
                result = self._handle(event, data)
                if event == CHAR_READ_EVENT:
                    answer = result
            return answer
        except Exception as e:
            report(self.name, e)
            return None

    def _handle(self, event, data):
        if event == CHAR_WRITE_EVENT:
            data = bytes(data) if data is not None else b""
            self._record("write", data)
            try:
                value = decode(self.fmt, data)
            except GattError as e:
                report(self.name, e)
                return None
            if self.on_write is not None:
                call(self.name, self.on_write, self, value)
        elif event == CHAR_SUBSCRIBE_EVENT:
            self.subscribed = self.native.config() or 0
            self._record("subscribe", self.subscribed)
            if self.on_subscribe is not None:
                call(self.name, self.on_subscribe, self, self.subscribed)
        elif event == CHAR_READ_EVENT:
            result = call(self.name, self.on_read, self) if self.on_read is not None else None
            data = None
            if result is not None:
                try:
                    data = encode(self.fmt, result)
                except GattError as e:
                    report(self.name, e)
            self._record("read", data)
            return data  # bytes (never an int: the firmware would send it big-endian, 1 to 4 bytes)
        return None

    def get(self):
        """The stored value, decoded (what a client reading now would get without a read handler)."""
        return decode(self.fmt, self.native.value())

    def _store(self, data):
        # value() stores, then always tries to notify; it raises OSError when no client is connected.
        try:
            self.native.value(data)
            return True
        except OSError:
            return False

    def set(self, value):
        """Store a new value. The firmware also pushes it to a connected client, subscribed or not."""
        self._store(encode(self.fmt, value))

    def notify(self, value=None):
        """Store value (if given) and send it to a subscribed client. Returns True if sent; without a
        subscribed client (or on a congested link) only stores it, never raises."""
        data = self.native.value() if value is None else encode(self.fmt, value)
        if not self.subscribed or (self.server is not None and not self.server.connected):
            self._store(data)
            return False
        sent = self._store(data)
        self._record("notify" if sent else "notify-failed", data)
        return sent


class Service:
    """One primary service; characteristics are declared on it before Server.start()."""

    def __init__(self, uuid_, primary=True):
        self.uuid = uuid(uuid_)
        self.primary = primary
        self.chars = []
        self.native = None

    def char(self, uuid_, name=None, **kwargs):
        """Declare a characteristic (see Char for the keyword arguments) and return it."""
        ch = Char(uuid_, name, **kwargs)
        self.chars.append(ch)
        return ch
