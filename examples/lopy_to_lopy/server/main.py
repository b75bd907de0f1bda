# LoPy to LoPy over Bluetooth: the server board. A GATT server with Pycom's network.Bluetooth API: a greeting to
# read, a counter answered by a read callback, and a message characteristic the client board writes.
from network import Bluetooth

SERVICE_UUID = b"lopy-to-lopy-srv"  # 16 bytes: a 128-bit UUID (Pycom hands it to the stack little-endian)
GREETING = 0xA001
COUNTER = 0xA002
MESSAGE = 0xA003

bluetooth = Bluetooth()
bluetooth.set_advertisement(name="LoPy", service_uuid=SERVICE_UUID)


def conn_cb(bt_o):
    # events() returns (and clears) every event since the last call: a short connection can show both at once
    events = bt_o.events()
    if events & Bluetooth.CLIENT_CONNECTED:
        print("server: client connected")
    if events & Bluetooth.CLIENT_DISCONNECTED:
        print("server: client disconnected")


bluetooth.callback(trigger=Bluetooth.CLIENT_CONNECTED | Bluetooth.CLIENT_DISCONNECTED, handler=conn_cb)
bluetooth.advertise(True)

srv = bluetooth.service(uuid=SERVICE_UUID, isprimary=True, nbr_chars=3)

greeting = srv.characteristic(uuid=GREETING, properties=Bluetooth.PROP_READ, value=b"Hi from the server")

reads = 0


def counter_cb(chr, data=None):
    # every read of the counter is answered with the number of reads so far (1, 2, ...)
    global reads
    reads += 1
    print("server: counter read {}".format(reads))
    return reads


counter = srv.characteristic(uuid=COUNTER, properties=Bluetooth.PROP_READ, value=0)
counter.callback(trigger=Bluetooth.CHAR_READ_EVENT, handler=counter_cb)

received = []


def message_cb(chr, data=None):
    # firmware 1.20.2.rc2 and later pass (event, data); older firmware only the characteristic
    value = data[1] if data else chr.value()
    received.append(value)
    print("server: message {}".format(value))


message = srv.characteristic(
    uuid=MESSAGE, properties=Bluetooth.PROP_READ | Bluetooth.PROP_WRITE, value=b"(nothing yet)"
)
message.callback(trigger=Bluetooth.CHAR_WRITE_EVENT, handler=message_cb)
print("server: advertising as LoPy")
