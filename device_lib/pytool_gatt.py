# pytool_gatt: declare a GATT server on Pycom firmware (network.Bluetooth) without its silent traps.
# MicroPython 1.11 grammar (Pycom 1.20.x). Reference: shared/reference/pycom-platform.txt sections 4 and 5.
#
#   import pytool_gatt as gatt
#   srv = gatt.Server("sensor", probe=True)
#   svc = srv.service("6e400001-b5a3-f393-e0a9-e50e24dcca9e")
#   level = svc.char("6e400002-b5a3-f393-e0a9-e50e24dcca9e", "level", fmt="u16le", value=0, notify=True)
#   srv.start()
#   level.notify(42)        # no-op on the air unless a client subscribed
import sys

import pytool_probe as probe

try:
    import ustruct as struct
except ImportError:
    import struct
try:
    import ubinascii as binascii
except ImportError:
    import binascii

# network.Bluetooth constants (reference 4.9), so this module imports on boards without the radio.
NEW_ADV_EVENT = 1
CLIENT_CONNECTED = 2
CLIENT_DISCONNECTED = 4
CHAR_READ_EVENT = 8
CHAR_WRITE_EVENT = 16
CHAR_SUBSCRIBE_EVENT = 128
PROP_READ = 2
PROP_WRITE_NR = 4
PROP_WRITE = 8
PROP_NOTIFY = 16
PROP_INDICATE = 32

MAX_VALUE = 197  # BT_CHAR_VALUE_SIZE_MAX on Pycom 1.20.x
PROBE_SERVICE = "7079746f-6f6c-7072-6f62-650000000001"
PROBE_CHAR = "7079746f-6f6c-7072-6f62-650000000002"
PRINT_ERRORS = True  # also print a short report of every failed handler (always recorded in the probe)

_BASE_TAIL = "00001000800000805f9b34fb"  # Bluetooth base UUID xxxxxxxx-0000-1000-8000-00805f9b34fb
_INTS = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i"}
_EVENT_NAMES = {CHAR_READ_EVENT: "read", CHAR_WRITE_EVENT: "write", CHAR_SUBSCRIBE_EVENT: "subscribe"}


class GattError(Exception):
    """A declaration or a call the helper refuses (the message says what to change)."""


class UnsupportedFirmware(GattError):
    """The firmware has no Bluetooth API this helper supports."""


# ---------------------------------------------------------------- firmware


def parse_release(release):
    """'1.20.2.rc2' -> (1, 20, 2, 1, 2): kind 0 = beta, 1 = release candidate, 2 = release ('.rN' or none)."""
    parts = release.split(".")
    nums = [int(p) for p in parts[:3]]
    while len(nums) < 3:
        nums.append(0)
    kind, n = 2, 0
    if len(parts) > 3:
        tag = parts[3]
        for prefix, k in (("rc", 1), ("r", 2), ("b", 0)):
            if tag.startswith(prefix) and tag[len(prefix) :].isdigit():
                kind, n = k, int(tag[len(prefix) :])
                break
        else:
            raise ValueError("unknown release tag: %s" % release)
    return (nums[0], nums[1], nums[2], kind, n)


def release():
    """Pycom firmware release from os.uname(), e.g. '1.20.2.r4'; None on a port without os.uname()."""
    try:
        import uos as os
    except ImportError:
        import os
    try:
        return os.uname().release
    except AttributeError:
        return None


def tuple_handlers(rel=None):
    """True if the firmware calls characteristic handlers as handler(arg, (event, data)) (>= 1.20.2.rc2),
    False if as handler(arg) (older), None if unknown. The helper works either way; this is information."""
    rel = release() if rel is None else rel
    if rel is None:
        return None
    try:
        return parse_release(rel) >= (1, 20, 2, 1, 2)
    except ValueError:
        return None


# ---------------------------------------------------------------- values and UUIDs


def _int_format(fmt):
    # 'u16le' -> '<H'; 'u8' -> 'B'; None if fmt is not an integer format
    if fmt in ("u8", "i8"):
        return _INTS[fmt]
    code = _INTS.get(fmt[:-2])
    if code is None or fmt[-2:] not in ("le", "be"):
        return None
    return ("<" if fmt[-2:] == "le" else ">") + code


def check_format(fmt):
    """Raise GattError unless fmt is one of bytes, utf8, u8, i8, u16le/be, i16le/be, u32le/be, i32le/be."""
    if fmt not in ("bytes", "utf8") and _int_format(fmt) is None:
        raise GattError("unknown value format %r: use bytes, utf8, u8, i8 or u16/i16/u32/i32 + le/be" % (fmt,))


def encode(fmt, value):
    """Typed value -> bytes, refusing what would be stored wrongly (out of range, too long)."""
    check_format(fmt)
    if fmt == "bytes":
        if not isinstance(value, (bytes, bytearray)):
            raise GattError("a bytes characteristic needs bytes, not %r" % (value,))
        data = bytes(value)
    elif fmt == "utf8":
        if not isinstance(value, str):
            raise GattError("a utf8 characteristic needs a str, not %r" % (value,))
        data = value.encode("utf-8")
    else:
        if not isinstance(value, int) or isinstance(value, bool):
            raise GattError("a %s characteristic needs an int, not %r" % (fmt, value))
        code = _int_format(fmt)
        bits = 8 * struct.calcsize(code)
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if fmt[0] == "i" else (0, (1 << bits) - 1)
        if not low <= value <= high:
            raise GattError("%d does not fit in %s (%d..%d)" % (value, fmt, low, high))
        data = struct.pack(code, value)
    if len(data) > MAX_VALUE:
        raise GattError("value of %d bytes is longer than the %d the firmware keeps" % (len(data), MAX_VALUE))
    return data


def decode(fmt, data):
    """bytes -> typed value; GattError if they do not fit the format."""
    check_format(fmt)
    data = bytes(data)
    if fmt == "bytes":
        return data
    if fmt == "utf8":
        try:
            return data.decode("utf-8")
        except UnicodeError:
            raise GattError("not utf-8: %r" % (data,))
    code = _int_format(fmt)
    if len(data) != struct.calcsize(code):
        raise GattError("%s needs %d bytes, got %d" % (fmt, struct.calcsize(code), len(data)))
    return struct.unpack(code, data)[0]


def uuid(value):
    """UUID for network.Bluetooth: int for 16/32-bit ones (also Bluetooth-base 128-bit strings),
    else the 16 little-endian bytes Pycom expects ('6e400001-b5a3-...' -> b'\\x9e\\xca...\\x6e')."""
    if isinstance(value, int):
        if 0 <= value <= 0xFFFFFFFF:
            return value
        raise GattError("UUID int out of range: %r" % (value,))
    if isinstance(value, (bytes, bytearray)):
        if len(value) == 16:
            return bytes(value)
        raise GattError("a UUID given as bytes must be 16 little-endian bytes, got %d" % len(value))
    if not isinstance(value, str):
        raise GattError("bad UUID: %r" % (value,))
    text = value.replace("-", "").lower()
    try:
        if len(text) in (4, 8):
            return int(text, 16)
        if len(text) == 32:
            if text[8:] == _BASE_TAIL:
                return int(text[:8], 16)
            return bytes(reversed(binascii.unhexlify(text)))
    except ValueError:
        pass
    raise GattError("bad UUID %r: use 4, 8 or 32 hex digits (dashes allowed)" % (value,))


def uuid128(value):
    """16 little-endian bytes of any UUID (16/32-bit ones expanded on the Bluetooth base UUID)."""
    u = uuid(value)
    if isinstance(u, int):
        return bytes(reversed(binascii.unhexlify("%08x%s" % (u, _BASE_TAIL))))
    return u


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


class Server:
    """A GATT server on network.Bluetooth: services, advertising, connection tracking, optional probe."""

    def __init__(self, name="pytool", probe=False, advertise_uuid=True, on_connect=None, on_disconnect=None):
        self.name = name
        self.services = []
        self.probe = probe
        self.advertise_uuid = advertise_uuid
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.connected = False
        self.bt = None
        self.probe_char = None

    def service(self, uuid_, primary=True):
        """Declare a service and return it."""
        svc = Service(uuid_, primary)
        self.services.append(svc)
        return svc

    def _add_probe(self):
        svc = Service(PROBE_SERVICE)
        self.probe_char = svc.char(
            PROBE_CHAR, "pytool_probe", write=True, notify=True, quiet=True, on_read=_probe_read, on_write=_probe_write
        )
        self.services.append(svc)
        probe.listen(self._probe_push)

    def _probe_push(self, entry):
        ch = self.probe_char
        if ch is not None and ch.subscribed and self.connected:
            ch._store(probe.compact(entry).encode())

    def start(self, bt=None, reinit=None):
        """Create every service with the right nbr_chars, register handlers, start advertising.
        reinit (default: on >= 1.20.2.r4) runs bt.deinit() first, so a script started again after a soft
        reset does not hang in service() (reference 4.10)."""
        if bt is None:
            bt = bluetooth()
        if reinit is None:
            rel = release()
            reinit = rel is not None and parse_release(rel) >= (1, 20, 2, 2, 4)
        if reinit:
            bt.deinit()
            bt.init()
        self.bt = bt
        if self.probe and self.probe_char is None:
            self._add_probe()
        for svc in self.services:
            if not svc.chars:
                raise GattError("service %r has no characteristics" % (svc.uuid,))
            svc.native = bt.service(uuid=svc.uuid, isprimary=svc.primary, nbr_chars=len(svc.chars))
            for ch in svc.chars:
                kw = {"uuid": ch.uuid, "properties": ch.properties}
                if ch.permissions is not None:
                    kw["permissions"] = ch.permissions
                if ch.initial is not None:
                    kw["value"] = ch.initial
                ch.attach(svc.native.characteristic(**kw), self)
        bt.callback(trigger=CLIENT_CONNECTED | CLIENT_DISCONNECTED, handler=self._on_bt)
        adv = {"name": self.name}
        if self.advertise_uuid and self.services:
            adv["service_uuid"] = uuid128(self.services[0].uuid)
        bt.set_advertisement(**adv)
        bt.advertise(True)
        probe.record("start", self.name, None)
        return self

    def _on_bt(self, *args):
        # Bluetooth-level callback: handler(arg) on every 1.20.x; the events come from bt.events().
        try:
            if len(args) > 1 and isinstance(args[1], tuple):
                flags = args[1][0]
            else:
                flags = self.bt.events()
            both = (flags & CLIENT_CONNECTED) and (flags & CLIENT_DISCONNECTED)
            if both and self.connected:  # a disconnect and a new connect both happened before this ran
                self._disconnected()
                self._connected()
            elif both:
                self._connected()
                self._disconnected()
            elif flags & CLIENT_CONNECTED:
                self._connected()
            elif flags & CLIENT_DISCONNECTED:
                self._disconnected()
        except Exception as e:
            report(self.name, e)

    def _connected(self):
        self.connected = True
        probe.record("connect", self.name, None)
        if self.on_connect is not None:
            call(self.name, self.on_connect, self)

    def _disconnected(self):
        self.connected = False
        for svc in self.services:
            for ch in svc.chars:
                ch.subscribed = 0  # config() keeps the old client's CCCD: never trust it after a disconnect
        probe.record("disconnect", self.name, None)
        if self.on_disconnect is not None:
            call(self.name, self.on_disconnect, self)
        call(self.name, self.bt.advertise, True)  # the firmware re-arms it too; make sure

    def stop(self):
        """Stop advertising and drop the client."""
        self.bt.advertise(False)
        if self.connected:
            call(self.name, self.bt.disconnect_client)


def _probe_read(ch):
    return ('{"seq": %d, "size": %d}' % (probe.last_seq(), probe.size())).encode()


def _probe_write(ch, data):
    if data == b"clear":
        probe.clear()


def bluetooth():
    """The firmware's Bluetooth object, or UnsupportedFirmware saying why there is none."""
    try:
        from network import Bluetooth
    except ImportError:
        try:
            import bluetooth  # noqa: F401
        except ImportError:
            raise UnsupportedFirmware("pytool_gatt: this firmware has no Bluetooth (no network.Bluetooth)")
        raise UnsupportedFirmware(
            "pytool_gatt: stock MicroPython's 'bluetooth' module is not supported yet; "
            "flash Pycom firmware 1.20.x (network.Bluetooth) or use 'bluetooth' directly"
        )
    return Bluetooth()
