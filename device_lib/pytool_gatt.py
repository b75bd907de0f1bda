# pytool_gatt: declare a GATT server on Pycom firmware (network.Bluetooth) without its silent traps.
# MicroPython 1.11 grammar (Pycom 1.20.x). Reference: shared/reference/pycom-platform.txt sections 4 and 5.
#
#   import pytool_gatt as gatt
#   srv = gatt.Server("sensor", probe=True)
#   svc = srv.service("6e400001-b5a3-f393-e0a9-e50e24dcca9e")
#   level = svc.char("6e400002-b5a3-f393-e0a9-e50e24dcca9e", "level", fmt="u16le", value=0, notify=True)
#   srv.start()
#   level.notify(42)        # no-op on the air unless a client subscribed
import pytool_char
import pytool_probe as probe

# re-exported, so that board code needs only `import pytool_gatt as gatt`
from pytool_char import Char, Service, call, report  # noqa: F401
from pytool_codec import (  # noqa: F401
    MAX_VALUE,
    GattError,
    check_format,
    decode,
    encode,
    parse_release,
    release,
    tuple_handlers,
    uuid,
    uuid128,
)

# network.Bluetooth constants (reference 4.9), so this module imports on boards without the radio.
CLIENT_CONNECTED = 2
CLIENT_DISCONNECTED = 4

PROBE_SERVICE = "7079746f-6f6c-7072-6f62-650000000001"
PROBE_CHAR = "7079746f-6f6c-7072-6f62-650000000002"


class UnsupportedFirmware(GattError):
    """The firmware has no Bluetooth API this helper supports."""


def print_errors(on):
    """Print a report of every failed handler (default) or only record it in the probe."""
    pytool_char.PRINT_ERRORS = bool(on)


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
        self.advertising = False  # wanted: re-armed after every disconnect until stop()
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
            PROBE_CHAR, "pytool_probe", value=b"{}", write=True, notify=True, quiet=True, on_read=_probe_read,
            on_write=_probe_write,
        )  # Pycom notifies the stored value when a client subscribes (ref 4.6): "{}", or the last event again
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
        for svc in self.services:
            if not svc.chars:
                shown = ("0x%04x" % svc.uuid) if isinstance(svc.uuid, int) else repr(svc.uuid)
                raise GattError("service %s has no characteristics: declare them before start()" % shown)
        if bt is None:
            bt = bluetooth()
        if reinit is None:
            try:
                reinit = parse_release(release() or "0") >= (1, 20, 2, 2, 4)
            except ValueError:  # a release tag this helper does not know: leave the stack alone
                reinit = False
        if reinit:
            bt.deinit()
            bt.init()
        self.bt = bt
        if self.probe and self.probe_char is None:
            self._add_probe()
        for svc in self.services:
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
        self.advertising = True
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
                if ch._pending is not None:
                    ch.flush()  # nobody to send it to now: the firmware just stores it
        probe.record("disconnect", self.name, None)
        if self.on_disconnect is not None:
            call(self.name, self.on_disconnect, self)
        if self.advertising:
            call(self.name, self.bt.advertise, True)  # the firmware re-arms it too; make sure

    def stop(self):
        """Stop advertising (also after the next disconnect) and drop the client."""
        self.advertising = False
        self.bt.advertise(False)
        if self.connected:
            call(self.name, self.bt.disconnect_client)


def _probe_read(ch):
    return ('{"seq": %d, "size": %d}' % (probe.last_seq(), probe.size())).encode()


def _probe_write(ch, data):
    if data == b"clear":
        probe.clear()


def bluetooth():
    """The firmware's Bluetooth object (Pycom's, or pytool_nimble's adapter over stock MicroPython's
    bluetooth.BLE), or UnsupportedFirmware saying why there is none."""
    try:
        import bluetooth
    except ImportError:
        bluetooth = None
    if hasattr(bluetooth, "BLE"):  # stock MicroPython (Pycom 1.20 has no `bluetooth` module)
        import pytool_nimble

        return pytool_nimble.Bluetooth()
    try:
        from network import Bluetooth
    except ImportError:
        raise UnsupportedFirmware("pytool_gatt: this firmware has no Bluetooth (no network.Bluetooth)")
    return Bluetooth()
