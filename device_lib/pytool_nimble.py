# pytool_nimble: the part of Pycom's network.Bluetooth that pytool_gatt uses, over stock MicroPython's
# bluetooth.BLE (NimBLE on the ESP32 port), so the same device_lib server runs on stock boards.
# MicroPython 1.11 grammar like the rest of device_lib; pytool_gatt.bluetooth() picks it on stock firmware.
#
# What differs underneath, and how it is bridged:
# - NimBLE registers every service at once, and only while not advertising: services are collected and
#   registered when advertising starts.
# - One IRQ handler instead of per-characteristic callbacks: events are dispatched by value handle and handed
#   to the characteristic's handler as (event, data), as Pycom 1.20.2 does.
# - A read is answered from the stored value after _IRQ_GATTS_READ_REQUEST: a handler's answer is stored first.
# - NimBLE raises no event when a client writes a CCCD: while a client is connected, a characteristic that can
#   notify (indicate) is reported subscribed (config() 1 or 2, a subscribe event on connect). Updates go out
#   with gatts_write(..., send_update=True), which NimBLE sends to subscribed clients only.
import bluetooth

CLIENT_CONNECTED = 2
CLIENT_DISCONNECTED = 4
CHAR_READ_EVENT = 8
CHAR_WRITE_EVENT = 16
CHAR_SUBSCRIBE_EVENT = 128
_NOTIFY = 16
_INDICATE = 32
_AD_UUID = {2: 3, 4: 5, 16: 7}  # complete list of 16/32/128-bit service UUIDs


def _uuid(u):
    # pytool_codec.uuid(): an int (16 or 32 bit) or 16 little-endian bytes
    if isinstance(u, int):
        if u > 0xFFFF:
            return bluetooth.UUID(bytes((u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF, (u >> 24) & 0xFF)))
        return bluetooth.UUID(u)
    return bluetooth.UUID(bytes(u))


class Characteristic:
    def __init__(self, bt, uuid, properties, value):
        self.bt = bt
        self.uuid = uuid
        self.properties = properties or 0
        self.initial = value if value is not None else b""
        self.handle = None
        self.handler = None
        self.arg = self
        self.trigger = 0

    def callback(self, trigger=None, handler=None, arg=None):
        self.trigger = trigger or 0
        self.handler = handler
        self.arg = self if arg is None else arg

    def value(self, value=None):
        ble = self.bt.ble
        if value is None:
            return ble.gatts_read(self.handle) if self.handle is not None else self.initial
        if self.handle is None:
            self.initial = value
            return None
        ble.gatts_write(self.handle, value, True)  # stored; sent to subscribed clients only
        if self.bt.conn is None:
            raise OSError("no client connected")  # as Pycom's value() without a client
        return None

    def events(self):
        return 0  # events come with the handler call: handler(arg, (event, data))

    def config(self):
        if self.bt.conn is None:
            return 0
        return 1 if self.properties & _NOTIFY else (2 if self.properties & _INDICATE else 0)

    def fire(self, event, data):
        if self.handler is not None and self.trigger & event:
            return self.handler(self.arg, (event, data))
        return None


class Service:
    def __init__(self, bt, uuid):
        self.bt = bt
        self.uuid = uuid
        self.chars = []

    def characteristic(self, uuid, properties=None, permissions=None, value=None):
        ch = Characteristic(self.bt, uuid, properties, value)
        self.chars.append(ch)
        self.bt.registered = False
        return ch

    def start(self):
        pass

    def stop(self):
        pass


class Bluetooth:
    def __init__(self):
        self.ble = bluetooth.BLE()
        self.services = []
        self.by_handle = {}
        self.conn = None
        self.handler = None
        self.arg = None
        self.trigger = 0
        self.pending = 0
        self.adv = b"\x02\x01\x06"
        self.resp = b""
        self.registered = False
        self.init()

    def init(self):
        if not self.ble.active():
            self.ble.active(True)
        self.ble.irq(self._irq)

    def deinit(self):
        self.ble.active(False)
        self.registered = False
        self.conn = None

    def service(self, uuid, isprimary=True, nbr_chars=1, start=True):
        svc = Service(self, uuid)
        self.services.append(svc)
        self.registered = False
        return svc

    def callback(self, trigger=None, handler=None, arg=None):
        self.trigger = trigger or 0
        self.handler = handler
        self.arg = self if arg is None else arg

    def events(self):
        events, self.pending = self.pending, 0
        return events

    def set_advertisement(self, name=None, service_uuid=None, manufacturer_data=None, service_data=None):
        adv = b"\x02\x01\x06"
        if name:
            name = name.encode() if isinstance(name, str) else bytes(name)
            adv += bytes((len(name) + 1, 9)) + name
        self.adv = adv
        self.resp = b""
        if service_uuid is not None:
            raw = bytes(_uuid(service_uuid))
            self.resp = bytes((len(raw) + 1, _AD_UUID[len(raw)])) + raw

    def advertise(self, on):
        if not on:
            self.ble.gap_advertise(None)
            return
        self._register()
        self.ble.gap_advertise(100000, self.adv, resp_data=self.resp)

    def disconnect_client(self):
        if self.conn is not None:
            self.ble.gap_disconnect(self.conn)

    def _register(self):
        if self.registered:
            return
        self.ble.gap_advertise(None)  # NimBLE refuses to register while advertising (EBUSY)
        defs = []
        for svc in self.services:
            defs.append((_uuid(svc.uuid), tuple((_uuid(ch.uuid), ch.properties & 0x3E) for ch in svc.chars)))
        handles = self.ble.gatts_register_services(tuple(defs))
        self.by_handle = {}
        for svc, hs in zip(self.services, handles):
            for ch, h in zip(svc.chars, hs):
                ch.handle = h
                self.by_handle[h] = ch
                self.ble.gatts_set_buffer(h, 200)  # Pycom keeps up to 197 bytes a client writes
                self.ble.gatts_write(h, ch.initial)
        self.registered = True

    def _bt_event(self, event):
        self.pending |= event
        if self.handler is not None and self.trigger & event:
            self.handler(self.arg)

    def _irq(self, event, data):
        if event == 1:  # _IRQ_CENTRAL_CONNECT
            self.conn = data[0]
            self._bt_event(CLIENT_CONNECTED)
            for ch in self.by_handle.values():
                if ch.config():
                    ch.fire(CHAR_SUBSCRIBE_EVENT, None)
        elif event == 2:  # _IRQ_CENTRAL_DISCONNECT
            self.conn = None
            self._bt_event(CLIENT_DISCONNECTED)
        elif event == 3:  # _IRQ_GATTS_WRITE
            ch = self.by_handle.get(data[1])
            if ch is not None:
                ch.fire(CHAR_WRITE_EVENT, self.ble.gatts_read(ch.handle))
        elif event == 4:  # _IRQ_GATTS_READ_REQUEST
            ch = self.by_handle.get(data[1])
            if ch is not None:
                answer = ch.fire(CHAR_READ_EVENT, None)
                if answer is not None:
                    self.ble.gatts_write(ch.handle, answer)
            return 0
        return None
