# Stock MicroPython's `network` on an ESP32 (v1.24.1: extmod/modnetwork.c + ports/esp32/modnetwork_globals.h,
# network_wlan.c), installed as `network` on the stock flavour by _boot.py (Pycom boards get network.py: Bluetooth,
# Server, no WLAN). The simulated board has no radio for WiFi: WLAN interfaces switch on and off and keep their
# configuration, a scan finds no access point and connect() never connects (status STAT_NO_AP_FOUND); there is no
# Ethernet PHY (LAN() raises OSError) and no PPP.
_cfg = None  # set by _boot.py

STA_IF = 0
AP_IF = 1
MODE_11B, MODE_11G, MODE_11N, MODE_LR = 1, 2, 4, 8
AUTH_OPEN, AUTH_WEP, AUTH_WPA_PSK, AUTH_WPA2_PSK, AUTH_WPA_WPA2_PSK, AUTH_WPA2_ENTERPRISE = 0, 1, 2, 3, 4, 5
AUTH_WPA3_PSK, AUTH_WPA2_WPA3_PSK, AUTH_WAPI_PSK, AUTH_OWE, AUTH_WPA3_ENT_192 = 6, 7, 8, 9, 10
AUTH_WPA3_EXT_PSK, AUTH_WPA3_EXT_PSK_MIXED_MODE, AUTH_MAX = 11, 12, 13
PHY_LAN8710, PHY_LAN8720, PHY_IP101, PHY_RTL8201, PHY_DP83848, PHY_KSZ8041, PHY_KSZ8081 = 0, 1, 2, 3, 4, 5, 6
PHY_KSZ8851SNL, PHY_DM9051, PHY_W5500 = 100, 101, 102
ETH_INITIALIZED, ETH_STARTED, ETH_STOPPED, ETH_CONNECTED, ETH_DISCONNECTED, ETH_GOT_IP = 0, 1, 2, 3, 4, 5
STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 1000, 1001, 1010
STAT_BEACON_TIMEOUT, STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD, STAT_ASSOC_FAIL, STAT_HANDSHAKE_TIMEOUT = 200, 201, 202, 203, 204
STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY, STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD = 210, 211
STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD = 212

_state = {"hostname": "mpy-esp32", "country": "01", "phy_mode": MODE_11B | MODE_11G | MODE_11N}


def _mac(if_id):
    mac = bytearray(bytes.fromhex(_cfg["mac"]))
    mac[5] = (mac[5] + if_id) & 0xFF  # ESP-IDF: STA = base MAC, soft-AP = base MAC + 1
    return bytes(mac)


class WLAN:
    _ifs = {}

    def __new__(cls, interface_id=STA_IF):
        if interface_id not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        wlan = cls._ifs.get(interface_id)
        if wlan is None:
            wlan = cls._ifs[interface_id] = object.__new__(cls)
            wlan._if, wlan._active, wlan._status = interface_id, False, STAT_IDLE
            ssid = "ESP_%02X%02X%02X" % tuple(_mac(AP_IF)[3:]) if interface_id == AP_IF else ""
            wlan._config = {"ssid": ssid, "channel": 1, "security": AUTH_OPEN, "hidden": False, "txpower": 20}
        return wlan

    def __init__(self, interface_id=STA_IF):
        pass

    def __repr__(self):
        return "<WLAN>"

    def active(self, *args):
        if args:
            self._active = bool(args[0])
            if not self._active:
                self._status = STAT_IDLE
            return None
        return self._active

    def _require(self, if_id):
        if self._if != if_id:
            raise OSError("STA required" if if_id == STA_IF else "AP required")

    def connect(self, ssid=None, key=None, *, bssid=None):
        self._require(STA_IF)
        if not self._active:
            raise OSError("Wifi Not Started")
        self._status = STAT_NO_AP_FOUND  # no access point around the simulated board

    def disconnect(self):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._status = STAT_IDLE

    def isconnected(self):
        return False

    def status(self, *args):
        if args:
            if args[0] == "stations":
                self._require(AP_IF)
                return []
            if args[0] == "rssi":
                self._require(STA_IF)
                raise OSError("Wifi Not Connected")
            raise ValueError("unknown status param")
        return self._status if self._active and self._if == STA_IF else STAT_IDLE

    def scan(self):
        if not (self._if == STA_IF and self._active):
            raise OSError("STA must be active")
        return []

    def config(self, *args, **kwargs):
        if args and kwargs:
            raise TypeError("either pos or kw args are allowed")
        for k, v in kwargs.items():
            self._config["ssid" if k == "essid" else k] = v
        if kwargs:
            return None
        if len(args) != 1:
            raise TypeError("can query only one param")
        key = args[0]
        if key == "mac":
            return _mac(self._if)
        if key in ("hostname", "dhcp_hostname"):
            return _state["hostname"]
        if key not in self._config and key != "essid":
            raise ValueError("unknown config param")
        return self._config["ssid" if key == "essid" else key]

    def ifconfig(self, *args):
        if args:
            return None
        if self._if == AP_IF:  # the soft-AP's own network (ESP-IDF's default)
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def ipconfig(self, *args, **kwargs):
        if kwargs:
            return None
        if args and args[0] == "addr4":
            return self.ifconfig()[:2]
        raise ValueError("unexpected key")


def LAN(*args, **kwargs):
    raise OSError("ethernet PHY not found (the simulated board has none)")


def hostname(*args):
    if args:
        _state["hostname"] = str(args[0])
        return None
    return _state["hostname"]


def country(*args):
    if args:
        _state["country"] = str(args[0])
        return None
    return _state["country"]


def phy_mode(*args):
    if args:
        _state["phy_mode"] = int(args[0])
        return None
    return _state["phy_mode"]


def ipconfig(*args, **kwargs):
    if kwargs:
        return None
    if args and args[0] == "prefer":
        return 4
    raise ValueError("unexpected key")
