# Pycom's `pycom` module (SIG esp32/mods/modpycom.c, DOC firmwareapi/pycom/pycom.md), simulated.
import _bridge
import _flash

FACTORY = 0
OTA_0 = 1
FAT = 0
LittleFS = 1

_cfg = None  # set by _boot.py
_state = {"heartbeat": True, "rgb": 0x000000, "heartbeat_on_boot": True}

# ---- LED: the simulator has no LED; the state is kept so that code can read it back


def heartbeat(enable=None):
    if enable is None:
        return _state["heartbeat"]
    _state["heartbeat"] = bool(enable)


def heartbeat_on_boot(enable=None):
    if enable is None:
        return _nvs_load().get("#hb_on_boot", 1) == 1
    _nvs_put("#hb_on_boot", 1 if enable else 0)


def rgbled(color):
    if _state["heartbeat"]:
        # modpycom.c: "Heartbeat is enabled, disable it first" is not raised by 1.20; the LED just keeps beating
        return
    _state["rgb"] = int(color) & 0xFFFFFF


# ---- NVS: kept in the board's NVS partition of the flash image (a simple record of its own, not IDF's format)
_MAGIC = b"PYNV"


def _nvs_load():
    import json

    off, size = _cfg["nvs"]
    head = _flash.read(off, 8)
    if head[:4] != _MAGIC:
        return {}
    n = int.from_bytes(head[4:8], "little")
    if n > size - 8:
        return {}
    try:
        return json.loads(_flash.read(off + 8, n))
    except ValueError:
        return {}


def _nvs_store(d):
    import json

    off, size = _cfg["nvs"]
    data = json.dumps(d).encode()
    if len(data) + 8 > size:
        raise OSError(28)  # ENOSPC
    _flash.write(off, _MAGIC + len(data).to_bytes(4, "little") + data + b"\xff" * (size - 8 - len(data)))


def _check_key(key):
    if not isinstance(key, str):
        raise TypeError("key must be a string")
    if not 0 < len(key) <= 15:
        raise ValueError("key too long")  # NVS_KEY_NAME_MAX_SIZE - 1


def _nvs_put(key, value):
    d = _nvs_load()
    d[key] = value
    _nvs_store(d)


def nvs_set(key, value):
    _check_key(key)
    if isinstance(value, int):
        if not -(1 << 31) <= value < (1 << 32):
            raise ValueError("value out of range")
        _nvs_put(key, value)
    elif isinstance(value, (str, bytes, bytearray)):
        _nvs_put(key, {"s": value} if isinstance(value, str) else {"b": bytes(value).hex()})
    else:
        raise TypeError("value must be an int, str or bytes")


_missing = object()


def nvs_get(key, default=_missing):
    _check_key(key)
    d = _nvs_load()
    if key not in d:
        if default is not _missing:
            return default
        raise ValueError("No matching object for the provided key")
    v = d[key]
    if isinstance(v, dict):
        return v["s"] if "s" in v else bytes.fromhex(v["b"])
    return v


def nvs_erase(key):
    _check_key(key)
    d = _nvs_load()
    if key not in d:
        raise KeyError(key)
    del d[key]
    _nvs_store(d)


def nvs_erase_all():
    _nvs_store({})


# ---- memory, boot manager, helpers


def get_free_heap():
    # The IDF heaps beside MicroPython's GC pool (which is allocated once at boot, so Python allocations do not
    # move these figures): (internal free, PSRAM free) or (internal free, 'NO_EXT_RAM') (modpycom.c).
    if _cfg["psram"]:
        return (_cfg["idf_internal_free"], _cfg["idf_psram_free"])
    return (_cfg["idf_internal_free"], "NO_EXT_RAM")


def _otadata_active():
    import struct

    raw = _flash.read(_cfg["otadata"], 40)
    active, status = struct.unpack("<II", raw[:8])
    if raw[:4] == b"\xff\xff\xff\xff" or active not in (0, 1):
        return 0, 1
    return active, status


def bootmgr(boot_partition=None, fs_type=None, safeboot=None, reset=False):
    if boot_partition is None and fs_type is None and safeboot is None:
        active, status = _otadata_active()
        return (
            "Factory" if active == 0 else "ota_0",
            "FAT" if _flash.fs_type(_cfg) == "FAT" else "LittleFS",
            "SafeBoot: %s" % ("True" if _cfg["safe_boot"] else "False"),
            "Status: %s" % ("Check", "Ready", "Patch")[status] if status < 3 else "Status: Ready",
        )
    if boot_partition is not None and boot_partition != _otadata_active()[0]:
        raise OSError("switching the boot partition is not supported by the simulator")
    if fs_type is not None:
        if fs_type not in (FAT, LittleFS):
            raise ValueError("invalid fs_type")
        _flash.write(_cfg["config"] + _flash.CONFIG_FS_TYPE, bytes([fs_type]))
    if reset or safeboot:
        if reset:
            print("\x1b[pytool:%s:reset]" % _cfg["token"], end="")  # (see machine.reset)
            _bridge.call("runtime", "hard_reset", bool(safeboot), True)
            while True:  # the board resets under us
                import time

                time.sleep(1)


def create_128bit_le_uuid_from_string(s):
    if len(s) > 32:
        raise ValueError("string too long")
    raw = bytes.fromhex(("0" * (32 - len(s))) + s)
    return bytearray(reversed(raw))
