# Stock MicroPython's `bluetooth` module as the ESP32 port builds it (extmod/modbluetooth.c with
# extmod/nimble/modbluetooth_nimble.c: NimBLE, sync events, central mode, pairing/bonding compiled in, no L2CAP
# channels). The stack runs in the simulator process (pytool/sim/bluetooth/nimble.py): every method is a bridge call
# to the host service "ble"; IRQ events come back as bridge events and run here on the IRQ thread (the NimBLE host
# task of the real port), one at a time, each one before the stack goes on.
#
# As on the port (invoke_irq_handler_run_protected): an exception in the handler prints
# "Unhandled exception in IRQ callback handler" and its traceback, and the handler is disabled (irq(None)); the
# stack keeps running. The memoryviews in the data tuple are valid only inside the handler: afterwards their bytes
# are zeroed, as the real buffers are reused.
import _bridge
import _builtin
import _thread

try:
    import uctypes
except ImportError:  # pragma: no cover - the interpreter has uctypes
    uctypes = None

FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_HEX = "0123456789abcdef"


def _raw(value):
    # any object with the buffer protocol -> bytes (a str is its UTF-8 bytes, as mp_get_buffer gives)
    if isinstance(value, UUID):
        return value._data
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError("object with buffer protocol required")


class UUID:
    def __init__(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            if value > 65535:
                raise ValueError("invalid UUID")
            self._data = bytes(((value & 0xFF), (value >> 8) & 0xFF))
            return
        if isinstance(value, bool):
            raise TypeError("object with buffer protocol required")
        raw = _raw(value)
        if len(raw) in (2, 4, 16):
            self._data = raw
            return
        # a UUID string ('6E400001-B5A3-F393-E0A9-E50E24DCCA9E'), parsed as modbluetooth does
        text = raw.decode() if isinstance(raw, bytes) else raw
        digits = []
        for c in text:
            if c == "-":
                continue
            c = c.lower()
            if c not in _HEX:
                raise ValueError("invalid char in UUID")
            digits.append(_HEX.index(c))
            if len(digits) > 32:
                raise ValueError("UUID too long")
        if len(digits) < 32:
            raise ValueError("UUID too short")
        out = bytearray(16)
        for i in range(16):
            out[15 - i] = digits[2 * i] << 4 | digits[2 * i + 1]
        self._data = bytes(out)

    def __repr__(self):
        d = self._data
        n = len(d)
        s = ""
        for i in range(n):
            if i in (4, 6, 8, 10) and n == 16:
                s += "-"
            s += "%02x" % d[n - 1 - i]
        return "UUID(0x%s)" % s if n <= 4 else "UUID('%s')" % s

    def __eq__(self, other):
        return isinstance(other, UUID) and self._data == other._data

    def __ne__(self, other):
        return not self.__eq__(other)

    def _cmp(self, other):
        # modbluetooth: same type -> the little-endian bytes compared; else the types (2 < 4 < 16)
        if not isinstance(other, UUID):
            raise TypeError("unsupported types for comparison")
        if len(self._data) != len(other._data):
            return (len(self._data) > len(other._data)) - (len(self._data) < len(other._data))
        return (self._data > other._data) - (self._data < other._data)

    def __lt__(self, other):
        return self._cmp(other) < 0

    def __le__(self, other):
        return self._cmp(other) <= 0

    def __gt__(self, other):
        return self._cmp(other) > 0

    def __ge__(self, other):
        return self._cmp(other) >= 0

    def __hash__(self):
        return hash(self._data)

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        # bytes(uuid) gives its little-endian bytes (the real UUID has the buffer protocol)
        return iter(self._data)


def _call(method, *args):
    # the host lets main-thread calls wait while handlers run (the GIL the NimBLE task holds on the board)
    status, value = _bridge.call("ble", method, _thread.get_ident() == _irq_thread[0], *args)
    if status == "err":
        raise OSError(value)
    return value


def _data(v):
    return None if v is None else _raw(v)


_ble = None
_views = []  # buffers of the running event's memoryviews


def _scrub():
    # the real data tuple points into the stack's event buffers, reused once the handler returns
    while _views:
        buf = _views.pop()
        if uctypes is not None and len(buf):
            uctypes.bytearray_at(uctypes.addressof(buf), len(buf))[:] = bytes(len(buf))


_irq_thread = [None]


def _on_event(name, payload):
    # "irqs": events the stack raised together, run back to back; one result each
    if name != "irqs":
        return None
    _irq_thread[0] = _thread.get_ident()
    return [_run_irq(event) for event in payload]


def _run_irq(payload):
    ble = _ble
    handler = ble._handler if ble is not None else None
    if handler is None:
        return None
    code, items, kinds = payload
    data = []
    for value, kind in zip(items, kinds):
        if kind == "m" and value is None:
            data.append(None)  # _IRQ_GET_SECRET without a key, _IRQ_SET_SECRET deleting
        elif kind == "m":
            # `value` is this event's own bytes object (decoded from the bridge line): zeroing it later is safe
            if len(value):
                _views.append(value)
            data.append(memoryview(value))
        elif kind == "u":
            data.append(UUID(bytes(value)))
        else:
            data.append(value)
    result = None
    try:
        result = handler(code, tuple(data))
    except SystemExit:
        raise
    except BaseException as e:
        print("Unhandled exception in IRQ callback handler")
        _builtin.print_exception(e)
        ble._handler = None  # "Disable the BLE IRQ handler."
        result = None
    finally:
        _scrub()
    if code == 4:  # _IRQ_GATTS_READ_REQUEST: mp_obj_get_int_maybe, anything else allows the read
        return result if isinstance(result, int) and not isinstance(result, bool) else 0
    if code == 30:  # _IRQ_SET_SECRET: mp_obj_is_true
        return bool(result)
    if isinstance(result, (int, bool)) or result is None:
        return None if code == 29 else result  # _IRQ_GET_SECRET: a value has the buffer protocol
    try:
        return _raw(result)
    except TypeError:
        return None


_bridge.handle("ble", _on_event)


class BLE:
    def __new__(cls):
        global _ble
        if _ble is None:
            _ble = object.__new__(cls)
            _ble._handler = None
        return _ble

    def __init__(self):
        pass

    def active(self, *args):
        if len(args) > 1:
            raise TypeError("function takes at most 2 positional arguments")
        if args:
            return _call("active", bool(args[0]))
        return _call("active")

    def config(self, *args, **kwargs):
        if not kwargs:
            if len(args) != 1:
                raise TypeError("must query one param")
            key = args[0]
            if not isinstance(key, str):
                raise TypeError("can't convert to str implicitly")
            value = _call("config_get", key)
            return tuple(value) if isinstance(value, list) else value
        if args:
            raise TypeError("can't specify pos and kw args")
        options = {}
        for key, value in kwargs.items():
            if key == "gap_name":
                value = _raw(value)
            elif key in ("mtu", "addr_mode", "io"):
                value = int(value)
            elif key in ("bond", "mitm", "le_secure"):
                value = bool(value)
            options[key] = value
        _call("config_set", options)

    def irq(self, handler):
        if handler is not None and not callable(handler):
            raise ValueError("invalid handler")
        self._handler = handler

    # GAP
    def gap_advertise(self, interval_us=500000, adv_data=None, *, resp_data=None, connectable=True):
        if interval_us is not None:
            interval_us = int(interval_us)
        _call("gap_advertise", interval_us, _data(adv_data), _data(resp_data), bool(connectable))

    def gap_scan(self, duration_ms=0, interval_us=1280000, window_us=11250, active=False):
        if duration_ms is None:
            return _call("gap_scan", None, 0, 0, False)
        return _call("gap_scan", int(duration_ms), int(interval_us), int(window_us), bool(active))

    def gap_connect(self, addr_type, addr=None, scan_duration_ms=2000, min_conn_interval_us=None,
                    max_conn_interval_us=None):
        if addr is None:
            if addr_type is None:
                return _call("gap_connect", None)
            raise TypeError("invalid addr")
        addr = _raw(addr)
        if len(addr) != 6:
            raise ValueError("invalid addr")
        scan = 2000 if scan_duration_ms is None else int(scan_duration_ms)
        return _call("gap_connect", int(addr_type), addr, scan)

    def gap_disconnect(self, conn_handle):
        return _call("gap_disconnect", int(conn_handle))

    def gap_pair(self, conn_handle):
        _call("gap_pair", int(conn_handle))

    def gap_passkey(self, conn_handle, action, passkey):
        _call("gap_passkey", int(conn_handle), int(action), int(passkey))

    # GATT server
    def gatts_register_services(self, services_definition):
        services = []
        for service in services_definition:
            service = tuple(service)
            if len(service) != 2:
                raise ValueError("tuple/list has wrong length")
            uuid, characteristics = service
            if not isinstance(uuid, UUID):
                raise ValueError("invalid service UUID")
            chars = []
            for char in characteristics:
                char = tuple(char)
                if len(char) < 2 or len(char) > 3:
                    raise ValueError("invalid characteristic tuple")
                if not isinstance(char[0], UUID):
                    raise ValueError("invalid characteristic UUID")
                descs = []
                for desc in char[2] if len(char) == 3 else ():
                    desc = tuple(desc)
                    if len(desc) != 2:
                        raise ValueError("tuple/list has wrong length")
                    if not isinstance(desc[0], UUID):
                        raise ValueError("invalid descriptor UUID")
                    descs.append([desc[0]._data, int(desc[1])])
                chars.append([char[0]._data, int(char[1]), descs])
            services.append([uuid._data, chars])
        return tuple(tuple(h) for h in _call("gatts_register", services))

    def gatts_read(self, value_handle):
        return _call("gatts_read", int(value_handle))

    def gatts_write(self, value_handle, data, send_update=False):
        return _call("gatts_write", int(value_handle), _raw(data), bool(send_update))

    def gatts_notify(self, conn_handle, value_handle, data=None):
        _call("gatts_notify", int(conn_handle), int(value_handle), _data(data))

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        _call("gatts_indicate", int(conn_handle), int(value_handle), _data(data))

    def gatts_set_buffer(self, value_handle, buf_len, append=False):
        _call("gatts_set_buffer", int(value_handle), int(buf_len), bool(append))

    # GATT client
    def gattc_discover_services(self, conn_handle, uuid=None):
        if uuid is not None and not isinstance(uuid, UUID):
            raise TypeError("UUID")
        _call("gattc_discover_services", int(conn_handle), None if uuid is None else uuid._data)

    def gattc_discover_characteristics(self, conn_handle, start_handle, end_handle, uuid=None):
        if uuid is not None and not isinstance(uuid, UUID):
            raise TypeError("UUID")
        _call(
            "gattc_discover_characteristics",
            int(conn_handle),
            int(start_handle),
            int(end_handle),
            None if uuid is None else uuid._data,
        )

    def gattc_discover_descriptors(self, conn_handle, start_handle, end_handle):
        _call("gattc_discover_descriptors", int(conn_handle), int(start_handle), int(end_handle))

    def gattc_read(self, conn_handle, value_handle):
        _call("gattc_read", int(conn_handle), int(value_handle))

    def gattc_write(self, conn_handle, value_handle, data, mode=0):
        _call("gattc_write", int(conn_handle), int(value_handle), _raw(data), int(mode))

    def gattc_exchange_mtu(self, conn_handle):
        _call("gattc_exchange_mtu", int(conn_handle))
