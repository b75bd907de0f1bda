# A Bluetooth temperature sensor: a value() loop notifies a new (simulated) reading every interval.
#
# Reading characteristic: 4 bytes, struct '<Hh' = sample number, temperature in 0.01 degC. A client
# subscribes to it for notifications (on Pycom firmware value() notifies the connected client anyway).
# Interval characteristic: uint16 little-endian milliseconds; a client writes it to change the pace.
# Handlers use the portable signature `def handler(chr, data=None)` (every firmware version).
import struct
import time

import ubinascii
from network import Bluetooth


def uuid128(text):
    """A UUID string as the 16 little-endian bytes Pycom's API expects."""
    return bytes(reversed(ubinascii.unhexlify(text.replace('-', ''))))


SENSOR_SERVICE = uuid128('7079746f-6f6c-0001-8000-73656e736f72')
READING = uuid128('7079746f-6f6c-0002-8000-73656e736f72')
INTERVAL = uuid128('7079746f-6f6c-0003-8000-73656e736f72')

interval_ms = 200


def temperature(sample):
    """The simulated sensor: a sawtooth from 20.00 to 29.50 degC in 0.50 steps (in 0.01 degC)."""
    return 2000 + 50 * (sample % 20)


def on_interval(chr, data=None):
    global interval_ms
    value = chr.value()
    if len(value) == 2:
        interval_ms = max(20, struct.unpack('<H', value)[0])
        print('interval set to {} ms'.format(interval_ms))
    else:
        print('interval write ignored: {} bytes'.format(len(value)))


bt = Bluetooth()
bt.set_advertisement(name='PySensor', service_uuid=SENSOR_SERVICE)
bt.advertise(True)

service = bt.service(uuid=SENSOR_SERVICE, isprimary=True, nbr_chars=2)
reading = service.characteristic(uuid=READING, properties=Bluetooth.PROP_READ | Bluetooth.PROP_NOTIFY,
                                 value=struct.pack('<Hh', 0, temperature(0)))
interval = service.characteristic(uuid=INTERVAL, properties=Bluetooth.PROP_READ | Bluetooth.PROP_WRITE,
                                  value=struct.pack('<H', interval_ms))
interval.callback(trigger=Bluetooth.CHAR_WRITE_EVENT, handler=on_interval)
print('sensor running')

sample = 0
while True:
    try:
        reading.value(struct.pack('<Hh', sample, temperature(sample)))
    except OSError:
        pass  # no client connected: Pycom raises, but the value is stored and readable
    sample = (sample + 1) & 0xFFFF
    time.sleep_ms(interval_ms)
