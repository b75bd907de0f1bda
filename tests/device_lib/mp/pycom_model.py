# Byte-level model of Pycom 1.20.x network.Bluetooth GATTS objects (reference 4.3-4.8), for unit tests of the
# helper's adapter on the unix port, which has no radio. The simulated board's real network.Bluetooth is used by
# the integration tests. The model records what the helper asked of the firmware.
CLIENT_CONNECTED = 2
CLIENT_DISCONNECTED = 4


class Char:
    def __init__(self, bt, uuid, properties=0x1A, permissions=None, value=b"\x00"):
        self.bt = bt
        self.uuid = uuid
        self.properties = properties
        self._value = bytes(value)
        self._events = 0
        self._config = 0
        self.handler = None
        self.trigger = 0
        self.sent = []

    def callback(self, trigger=None, handler=None, arg=None):
        self.trigger = trigger
        self.handler = handler

    def value(self, v=None):
        if v is None:
            return self._value
        if isinstance(v, int):  # the firmware's own int rule: little-endian, 1 or 2 bytes
            v = bytes([v & 0xFF]) if v <= 0xFF else bytes([v & 0xFF, (v >> 8) & 0xFF])
        self._value = bytes(v)[:197]
        if not self.bt.client:
            raise OSError("Erorr while sending BLE indication/notification")
        self.sent.append(self._value)

    def events(self):
        e = self._events
        self._events = 0
        return e

    def config(self):
        return self._config

    # what the BT task does for a client
    def fire(self, event, data=None):
        self._events |= event
        if self.bt.tuple_handlers:
            return self.handler(self, (event, data))
        return self.handler(self)

    def client_write(self, data):
        self._value = bytes(data)
        return self.fire(16, bytes(data))

    def client_read(self):
        if self.handler is None or not self.trigger & 8:
            return self._value
        r = self.fire(8)
        return self._value if r is None else r

    def client_subscribe(self, cccd):
        self._config = cccd
        return self.fire(128)


class Service:
    def __init__(self, bt, uuid, isprimary=True, nbr_chars=1):
        self.bt = bt
        self.uuid = uuid
        self.nbr_chars = nbr_chars
        self.chars = []

    def characteristic(self, uuid, properties=0x1A, permissions=None, value=b"\x00"):
        ch = Char(self.bt, uuid, properties, permissions, value)
        self.chars.append(ch)
        return ch


class Bluetooth:
    def __init__(self, tuple_handlers=True):
        self.tuple_handlers = tuple_handlers
        self.client = False
        self.services = []
        self.advertising = False
        self.adv = None
        self._events = 0
        self.handler = None
        self.calls = []

    def deinit(self):
        self.calls.append("deinit")

    def init(self):
        self.calls.append("init")

    def service(self, uuid, isprimary=True, nbr_chars=1, start=True):
        s = Service(self, uuid, isprimary, nbr_chars)
        self.services.append(s)
        return s

    def callback(self, trigger=None, handler=None, arg=None):
        self.handler = handler

    def events(self):
        e = self._events
        self._events = 0
        return e

    def set_advertisement(self, name=None, manufacturer_data=None, service_data=None, service_uuid=None):
        self.adv = (name, service_uuid)

    def advertise(self, on):
        self.advertising = on
        self.calls.append("advertise " + str(on))

    def disconnect_client(self):
        self.client_disconnects()

    def client_connects(self):
        self.client = True
        self.advertising = False
        self._events |= CLIENT_CONNECTED
        self.handler(self)

    def client_disconnects(self):
        self.client = False
        self._events |= CLIENT_DISCONNECTED
        self.handler(self)
