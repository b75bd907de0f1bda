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


def events_of(args, native, trigger=0xFF):
    """[(event, data)] of one firmware callback, whichever convention called it:
    handler(arg, (event, data)) on >= 1.20.2.rc2, handler(arg) before (then the events come from
    native.events(), which also clears them, and written data from native.value())."""
    if len(args) > 1 and isinstance(args[1], tuple) and len(args[1]) == 2:
        return [args[1]]
    flags = native.events() & trigger  # the firmware also flags events nobody registered for
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
        self._pending = None  # a value set while a client is connected, not yet given to the firmware
        self.trigger = 0
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
        self.trigger = CHAR_WRITE_EVENT | CHAR_SUBSCRIBE_EVENT | (CHAR_READ_EVENT if self.properties & PROP_READ else 0)
        native.callback(trigger=self.trigger, handler=self._irq)

    def _irq(self, *args):
        # Runs on the firmware's IRQ thread: an exception escaping here would kill every later callback.
        try:
            answer = None
            for event, data in events_of(args, self.native, self.trigger):
                result = self._handle(event, data)
                if event == CHAR_READ_EVENT:
                    answer = result
            return answer
        except Exception as e:
            report(self.name, e)
            return None

    def _handle(self, event, data):
        if event == CHAR_WRITE_EVENT:
            self._pending = None  # the client's value replaces one kept back
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
            if self.subscribed and self._pending is not None:
                self.flush()  # the subscriber gets the newest value
            if self.on_subscribe is not None:
                call(self.name, self.on_subscribe, self, self.subscribed)
        elif event == CHAR_READ_EVENT:
            answer = self._pending
            if self.on_read is not None:
                result = call(self.name, self.on_read, self)
                if result is not None:
                    try:
                        answer = encode(self.fmt, result)
                    except GattError as e:
                        report(self.name, e)
            self._record("read", answer if answer is not None else self.native.value())
            return answer  # bytes or None (= the stored value); never an int, which goes out big-endian
        return None

    def get(self):
        """The current value, decoded (what a client reading now gets without a read handler)."""
        return decode(self.fmt, self._pending if self._pending is not None else self.native.value())

    def _store(self, data):
        # value() stores, then always tries to notify; it raises OSError when no client is connected.
        try:
            self.native.value(data)
            return True
        except OSError:
            return False

    def _connected(self):
        return self.server is None or self.server.connected

    def set(self, value):
        """Store a new value without notifying. While a client is connected the value is kept back and served
        to its reads (Pycom's value() would push it to the client, subscribed or not)."""
        data = encode(self.fmt, value)
        if self.native is None:  # not started yet: becomes the initial value
            self.initial = data
        elif self._connected():
            self._pending = data
        else:
            self._pending = None
            self._store(data)

    def notify(self, value=None):
        """Set value (if given) and send the current value to a subscribed client. Returns True if sent.
        Without a subscribed client nothing goes on the air and it never raises."""
        if value is not None:
            self.set(value)
        if not (self.subscribed and self._connected()):
            return False
        return self.flush()

    def flush(self):
        """Hand a kept-back value to the firmware (which sends it to a connected client). True if sent."""
        data = self._pending if self._pending is not None else self.native.value()
        self._pending = None
        sent = self._store(data)
        if self._connected():
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
