# Pycom's network.Bluetooth (SIG esp32/mods/modbt.c, Release/v1.20; reference section 4). The stack itself runs
# in the simulator process (pytool/sim/bluetooth): every method is a bridge call to the host service "bt";
# callbacks come back as bridge events and run here on the IRQ thread, one at a time.
#
# Pycom's quirks are kept: handler(arg) before 1.20.2.rc2 and handler(arg, (event, data)) from it on (GATTC:
# from 1.20.2.r2); an exception in a handler kills every later callback until soft reset; read-callback
# returns become the response (int big-endian 1/2/4 bytes, buffers raw) without being stored.
import _bridge
import _builtin


def _call(method, *args):
    return _bridge.call("bt", method, *args)


def _buf(v):
    # Pycom takes any object with the buffer protocol; a str is taken as its raw bytes
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, int):
        return v
    return bytes(v)


def _version_key(release):
    # "1.20.2.rc2" -> (1, 20, 2, 0, 2); "1.20.2.r4" -> (1, 20, 2, 1, 4); "1.20.1" -> (1, 20, 1, 1, 0)
    parts = release.split(".")
    nums = []
    for p in parts[:3]:
        try:
            nums.append(int(p))
        except ValueError:
            nums.append(0)
    while len(nums) < 3:
        nums.append(0)
    stage, n = 1, 0
    if len(parts) > 3:
        tag = parts[3]
        for prefix, rank in (("rc", 0), ("b", -1), ("r", 1)):
            if tag.startswith(prefix):
                stage = rank
                try:
                    n = int(tag[len(prefix):])
                except ValueError:
                    n = 0
                break
    return (nums[0], nums[1], nums[2], stage, n)


def _release():
    try:
        import os

        return os.uname().release
    except Exception:
        return "1.20.2.r4"


def _two_arg_handlers(gattc=False):
    # GATTS: commit 6756537fd (v1.20.2.rc2); GATTC: commit f91880cd4 (v1.20.2.r2)
    return _version_key(_release()) >= ((1, 20, 2, 1, 2) if gattc else (1, 20, 2, 0, 2))


_INIT_ARGS = ("mode", "antenna", "modem_sleep", "pin", "privacy", "secure_connections", "mtu")
_chars = {}  # id -> GATTSCharacteristic
_gattc_chars = {}  # id -> GATTCCharacteristic
_bt = None


def _result(r):
    # modbt: int -> big-endian bytes (host), anything else must have the buffer protocol
    if r is None or isinstance(r, int):
        return r
    if isinstance(r, str):
        return r.encode()
    if isinstance(r, (bytes, bytearray, memoryview)):
        return bytes(r)
    raise TypeError("object with buffer protocol required")


def _on_event(name, payload):
    try:
        if name == "char":
            cid, event, data = payload
            char = _chars.get(cid)
            if char is None or char._handler is None:
                return None
            if _two_arg_handlers():
                r = char._handler(char._arg, (event, data))
            else:
                r = char._handler(char._arg)
            return _result(r)
        if name == "gattc":
            cid, event, data = payload
            char = _gattc_chars.get(cid)
            if char is None or char._handler is None:
                return None
            char._value = data
            if _two_arg_handlers(gattc=True):
                char._handler(char._arg, (event, data))
            else:
                char._handler(char._arg)
            return None
        if name == "bt":
            bt = _bt
            if bt is not None and bt._handler is not None:
                bt._handler(bt._arg)
            return None
    except SystemExit:
        raise
    except BaseException:
        # mpirq.c: the IRQ thread prints the traceback and dies; tell the host first so that reads stop
        # waiting for callbacks that will never run
        try:
            _call("irq_died")
        except Exception:
            pass
        raise
    return None


_bridge.handle("bt", _on_event)


def _adv(record):
    if record is None:
        return None
    t = _builtin.AttrTuple(record)
    t._fields = ("mac", "addr_type", "adv_type", "rssi", "data")
    return t


class Bluetooth:
    # reference 4.9, numeric values from IDF headers and modbt.c
    NEW_ADV_EVENT = 1
    CLIENT_CONNECTED = 2
    CLIENT_DISCONNECTED = 4
    CHAR_READ_EVENT = 8
    CHAR_WRITE_EVENT = 16
    CHAR_NOTIFY_EVENT = 32
    CHAR_SUBSCRIBE_EVENT = 128
    CHAR_CONFIG_NOTIFY = 1
    CHAR_CONFIG_INDICATE = 2
    PROP_BROADCAST = 1
    PROP_READ = 2
    PROP_WRITE_NR = 4
    PROP_WRITE = 8
    PROP_NOTIFY = 16
    PROP_INDICATE = 32
    PROP_AUTH = 64
    PROP_EXT_PROP = 128
    PERM_READ = 1
    PERM_READ_ENCRYPTED = 2
    PERM_READ_ENC_MITM = 4
    PERM_WRITE = 16
    PERM_WRITE_ENCRYPTED = 32
    PERM_WRITE_ENC_MITM = 64
    PERM_WRITE_SIGNED = 128
    PERM_WRITE_SIGNED_MITM = 256
    CONN_ADV = 0
    CONN_DIR_ADV = 1
    DISC_ADV = 2
    NON_CONN_ADV = 3
    SCAN_RSP = 4
    PUBLIC_ADDR = 0
    RANDOM_ADDR = 1
    PUBLIC_RPA_ADDR = 2
    RANDOM_RPA_ADDR = 3
    ADV_BLE_ADDR_TYPE_PUBLIC = 0
    ADV_BLE_ADDR_TYPE_RANDOM = 1
    ADV_BLE_ADDR_TYPE_RPA_PUBLIC = 2
    ADV_BLE_ADDR_TYPE_RPA_RANDOM = 3
    ADV_FLAG = 1
    ADV_16SRV_PART = 2
    ADV_T16SRV_CMPL = 3
    ADV_32SRV_PART = 4
    ADV_32SRV_CMPL = 5
    ADV_128SRV_PART = 6
    ADV_128SRV_CMPL = 7
    ADV_NAME_SHORT = 8
    ADV_NAME_CMPL = 9
    ADV_TX_PWR = 10
    ADV_DEV_CLASS = 13
    ADV_SERVICE_DATA = 22
    ADV_APPEARANCE = 25
    ADV_ADV_INT = 26
    ADV_32SERVICE_DATA = 32
    ADV_128SERVICE_DATA = 33
    ADV_MANUFACTURER_DATA = 255
    ADV_TYPE_IND = 0
    ADV_TYPE_DIRECT_IND_HIGH = 1
    ADV_TYPE_SCAN_IND = 2
    ADV_TYPE_NONCONN_IND = 3
    ADV_TYPE_DIRECT_IND_LOW = 4
    ADV_CHNL_37 = 1
    ADV_CHNL_38 = 2
    ADV_CHNL_39 = 4
    ADV_CHNL_ALL = 7
    ADV_FILTER_ALLOW_SCAN_ANY_CON_ANY = 0
    ADV_FILTER_ALLOW_SCAN_WLST_CON_ANY = 1
    ADV_FILTER_ALLOW_SCAN_ANY_CON_WLST = 2
    ADV_FILTER_ALLOW_SCAN_WLST_CON_WLST = 3
    INT_ANT = 0
    EXT_ANT = 1
    MAN_ANT = 2
    TX_PWR_CONN = 0
    TX_PWR_ADV = 9
    TX_PWR_SCAN = 10
    TX_PWR_DEFAULT = 11
    TX_PWR_N12 = 0
    TX_PWR_N9 = 1
    TX_PWR_N6 = 2
    TX_PWR_N3 = 3
    TX_PWR_0 = 4
    TX_PWR_P3 = 5
    TX_PWR_P6 = 6
    TX_PWR_P9 = 7
    timeout = OSError  # replaced below by the firmware's TimeoutError when it has one

    def __new__(cls, id=0, **kwargs):
        # a singleton: always the same object (static bt_obj)
        global _bt
        if _bt is None:
            _bt = object.__new__(cls)
            _bt._handler = None
            _bt._arg = None
        return _bt

    def __init__(self, id=0, **kwargs):
        # the stack comes up once; later calls re-run only the non-stack part, and only with arguments
        if id != 0:
            raise OSError("only Bluetooth id 0 exists")
        self.init(**kwargs) if kwargs else _call("init", {"explicit": False})

    def init(self, **kwargs):
        for key in kwargs:
            if key not in _INIT_ARGS:
                raise TypeError("unexpected keyword argument '%s'" % key)
        pin = kwargs.get("pin")
        if pin is not None and not 0 <= pin <= 999999:
            raise ValueError("Only 6 digit (0-9) pins are allowed")
        options = {"explicit": True}
        options.update(kwargs)
        _call("init", options)

    def deinit(self):
        _call("deinit")
        _chars.clear()
        _gattc_chars.clear()

    # scanning
    def start_scan(self, timeout):
        _call("start_scan", timeout)

    def isscanning(self):
        return _call("isscanning")

    def stop_scan(self):
        _call("stop_scan")

    def get_adv(self):
        return _adv(_call("get_adv"))

    def get_advertisements(self):
        return [_adv(r) for r in _call("get_advertisements")]

    def resolve_adv_data(self, data, data_type):
        data = _buf(data)
        i = 0
        while i < len(data) and i < 62:
            n = data[i]
            if n == 0 or i + 1 + n > len(data):
                break
            if data[i + 1] == data_type:
                value = data[i + 2 : i + 1 + n]
                if data_type in (1, 10):  # ADV_FLAG, ADV_TX_PWR
                    return value[0] if value else None
                if data_type in (8, 9):  # ADV_NAME_SHORT, ADV_NAME_CMPL
                    return value.decode()
                return value
            i += 1 + n
        return None

    def connect(self, addr, timeout=None, addr_type=0):
        addr = _buf(addr)
        if isinstance(addr, int) or len(addr) < 6:
            raise ValueError("invalid address")
        try:
            return GATTCConnection(_call("connect", addr[:6], timeout, addr_type))
        except OSError as e:
            if str(e) == "timed out":
                raise Bluetooth.timeout("timed out")
            raise

    # advertising
    def set_advertisement_params(self, **kwargs):
        _call("set_advertisement_params", kwargs)

    def set_advertisement(self, name=None, manufacturer_data=None, service_data=None, service_uuid=None):
        _call("set_advertisement", _buf(name), _buf(manufacturer_data), _buf(service_data), _buf(service_uuid))

    def set_advertisement_raw(self, data):
        _call("set_advertisement_raw", _buf(data))

    def advertise(self, enable):
        _call("advertise", bool(enable))

    def set_pin(self, pin):
        _call("set_pin", pin)

    # GATT server
    def service(self, uuid, isprimary=True, nbr_chars=1, start=True):
        return GATTSService(_call("service", _buf(uuid), isprimary, nbr_chars, start))

    def callback(self, trigger=None, handler=None, arg=None):
        if trigger is None or handler is None:
            self._handler, trigger = None, 0
        else:
            self._handler = handler
        self._arg = self if arg is None else arg
        _call("callback", trigger)

    def events(self):
        return _call("events")

    def disconnect_client(self):
        _call("disconnect_client")

    def modem_sleep(self, enable=None):
        return _call("modem_sleep", enable) if enable is not None else _call("modem_sleep")

    def tx_power(self, type, level=None):
        return _call("tx_power", type) if level is None else _call("tx_power", type, level)

    def gatts_mtu(self):
        return _call("gatts_mtu")

    def nvram_erase(self):
        _call("nvram_erase")


try:
    Bluetooth.timeout = TimeoutError  # noqa: F821 - Pycom's builtin; absent from plain MicroPython
except NameError:
    pass


class GATTSService:
    def __init__(self, sid):
        self._id = sid

    def characteristic(self, *, uuid, permissions=None, properties=None, value=None):
        char = GATTSCharacteristic(_call("characteristic", self._id, _buf(uuid), permissions, properties, _buf(value)))
        _chars[char._id] = char
        return char

    def start(self):
        _call("service_start", self._id)

    def stop(self):
        _call("service_stop", self._id)


class GATTSCharacteristic:
    def __init__(self, cid):
        self._id = cid
        self._handler = None
        self._arg = self

    def value(self, value=None):
        if value is None:
            return _call("char_value", self._id)
        _call("char_value", self._id, _buf(value))

    def callback(self, trigger=None, handler=None, arg=None):
        if trigger is None or handler is None:
            self._handler, trigger = None, 0
        else:
            self._handler = handler
        self._arg = self if arg is None else arg
        _call("char_callback", self._id, trigger)

    def events(self):
        return _call("char_events", self._id)

    def config(self):
        return _call("char_config", self._id)


class GATTCConnection:
    def __init__(self, conn_id):
        self._id = conn_id

    def isconnected(self):
        return _call("gattc_isconnected", self._id)

    def disconnect(self):
        _call("gattc_disconnect", self._id)

    def get_mtu(self):
        return _call("gattc_mtu", self._id)

    def services(self):
        return [GATTCService(sid, uuid, instance) for sid, uuid, instance in _call("gattc_services", self._id)]


class GATTCService:
    def __init__(self, sid, uuid, instance):
        self._id, self._uuid, self._instance = sid, uuid, instance

    def isprimary(self):
        return True

    def uuid(self):
        return self._uuid

    def instance(self):
        return self._instance

    def characteristics(self):
        out = []
        for cid, uuid, props in _call("gattc_characteristics", self._id):
            char = GATTCCharacteristic(cid, uuid, props)
            _gattc_chars[cid] = char
            out.append(char)
        return out


class GATTCCharacteristic:
    def __init__(self, cid, uuid, props):
        self._id, self._uuid, self._props = cid, uuid, props
        self._handler, self._arg, self._value = None, self, b""

    def uuid(self):
        return self._uuid

    def instance(self):
        return 0

    def properties(self):
        return self._props

    def read(self):
        self._value = _call("gattc_read", self._id)
        return self._value

    def read_descriptor(self, uuid):
        return _call("gattc_read_descriptor", self._id, uuid)

    def write(self, value):
        _call("gattc_write", self._id, _buf(value))

    def value(self):
        return self._value

    def callback(self, trigger=None, handler=None, arg=None):
        if trigger is None or handler is None:
            self._handler, trigger = None, 0
        else:
            self._handler = handler
        self._arg = self if arg is None else arg
        _call("gattc_callback", self._id, trigger)


# Pycom's network.Server (SIG esp32/mods/modnetwork.c, serverstask.h): one object for the telnet and FTP servers,
# which run in the simulator process (pytool/sim/wifi). Server(...) and init(...) set the login and timeout and
# start the servers; FTP's file operations come back as "wifi" events (_netfs.py).
import _netfs

_bridge.handle("wifi", _netfs.event)


class Server:
    def __init__(self, id=None, *, login=None, timeout=None):
        if id is not None and id != 0:
            raise OSError(19)  # ENODEV
        self.init(login=login, timeout=timeout)

    def init(self, *, login=None, timeout=None):
        user, password = ("micro", "python") if login is None else login
        if not isinstance(user, str) or not isinstance(password, str):
            raise TypeError("can't convert to str implicitly")
        if len(user) > 32 or len(password) > 32:
            raise ValueError("invalid argument(s) value")
        seconds = 300 if timeout is None else int(timeout)
        if seconds < 5:
            raise ValueError("invalid argument(s) value")
        _bridge.call("wifi", "init", user, password, seconds)

    def deinit(self):
        _bridge.call("wifi", "deinit")

    def timeout(self, timeout=None):
        if timeout is None:
            return _bridge.call("wifi", "timeout")
        if int(timeout) < 5:
            raise ValueError("invalid argument(s) value")
        _bridge.call("wifi", "timeout", int(timeout))

    def isrunning(self):
        return _bridge.call("wifi", "isrunning")
