# LoPy to LoPy over Bluetooth: the client board. It scans for the server board by its advertised name, connects,
# reads the greeting and the counter twice, writes a message and reads it back, then disconnects; with Pycom's
# GATT client API (network.Bluetooth: start_scan, get_adv, connect, services, characteristics, read, write).
# `result` keeps what the last exchange got; call exchange() again from the REPL for another one.
import time

from network import Bluetooth

SERVER_NAME = "LoPy"
SERVICE_UUID = b"lopy-to-lopy-srv"  # as the server gives it: GATTCService.uuid() returns 128-bit UUIDs the same way
GREETING = 0xA001
COUNTER = 0xA002
MESSAGE = 0xA003
SCAN_S = 10

result = {}


def mac_text(mac):
    return ":".join("{:02X}".format(b) for b in mac)


def find_server(bt):
    # the first advertisement carrying the server's name (the name is in the advertising packet itself)
    bt.start_scan(SCAN_S)
    try:
        while bt.isscanning():
            adv = bt.get_adv()
            if adv and bt.resolve_adv_data(adv.data, Bluetooth.ADV_NAME_CMPL) == SERVER_NAME:
                return adv
            time.sleep_ms(20)
    finally:
        bt.stop_scan()
    return None


def exchange(message=b"Hi from the client"):
    bt = Bluetooth()
    result.clear()
    adv = find_server(bt)
    if adv is None:
        print("client: no {} within {} s".format(SERVER_NAME, SCAN_S))
        return result
    result["server"] = mac_text(adv.mac)
    print("client: found {} at {}".format(SERVER_NAME, result["server"]))
    conn = bt.connect(adv.mac)
    try:
        chars = {}
        for srv in conn.services():
            if srv.uuid() == SERVICE_UUID:
                for char in srv.characteristics():
                    chars[char.uuid()] = char
        result["greeting"] = chars[GREETING].read()
        print("client: greeting {}".format(result["greeting"]))
        result["counts"] = [chars[COUNTER].read() for _ in range(2)]
        print("client: counter {}".format(result["counts"]))
        chars[MESSAGE].write(message)
        result["wrote"] = message
        result["read_back"] = chars[MESSAGE].read()
        print("client: wrote {}, read back {}".format(message, result["read_back"]))
    finally:
        conn.disconnect()
    print("client: done")
    return result


exchange()
