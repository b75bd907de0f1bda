# The seed example (examples/gatt_server, Pycom's GATTSCharacteristic page) for stock MicroPython: the same
# services, values and printed lines, written with `bluetooth.BLE` (NimBLE on the ESP32 port).
#
# Differences a reader of the Pycom version should know:
# - stock MicroPython has no per-characteristic callbacks: one IRQ handler gets every event, and reads reach it
#   as _IRQ_GATTS_READ_REQUEST *before* the stack answers them, so "answering" a read means storing the answer
#   with gatts_write() (Pycom's returned value is answered without being stored);
# - advertising payloads are raw bytes; advertising stops when a client connects and the handler restarts it
#   (Pycom re-arms it by itself);
# - 16-byte UUIDs given as bytes are little-endian here too, so the client sees the same UUIDs as on Pycom.
import bluetooth
from micropython import const

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_READ_REQUEST = const(4)

_FLAGS = bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY  # Pycom's default properties

SERVICE_1 = bluetooth.UUID(b'1234567890123456')
CHAR_1 = bluetooth.UUID(b'ab34567890123456')
SERVICE_2 = bluetooth.UUID(1234)
CHAR_2 = bluetooth.UUID(4567)

ble = bluetooth.BLE()
ble.active(True)
((chr1,), (chr2,)) = ble.gatts_register_services(((SERVICE_1, ((CHAR_1, _FLAGS),)), (SERVICE_2, ((CHAR_2, _FLAGS),))))
ble.gatts_write(chr1, b'\x05')      # Pycom's value=5
ble.gatts_write(chr2, b'\x12\x34')  # Pycom's value=0x1234 (big-endian)

# advertising packet: flags, complete name 'LoPy', TX power level (+3 dBm); scan response: the 128-bit service UUID
ADV = b'\x02\x01\x06' + b'\x05\x09LoPy' + b'\x02\x0a\x03'
RESP = b'\x11\x07' + bytes(SERVICE_1)


def advertise():
    ble.gap_advertise(50000, ADV, resp_data=RESP)


char1_read_counter = 0
char2_read_counter = 0xF0


def irq(event, data):
    global char1_read_counter, char2_read_counter
    if event == _IRQ_CENTRAL_CONNECT:
        print("Client connected")
    elif event == _IRQ_CENTRAL_DISCONNECT:
        print("Client disconnected")
        advertise()
    elif event == _IRQ_GATTS_WRITE and data[1] == chr1:
        char1_read_counter += 1
        print("Write request with value = {}".format(ble.gatts_read(chr1)))
    elif event == _IRQ_GATTS_READ_REQUEST and data[1] == chr1:
        char1_read_counter += 1
        if char1_read_counter < 3:
            print('Read request on char 1')
        else:
            ble.gatts_write(chr1, 'ABC DEF')
    elif event == _IRQ_GATTS_READ_REQUEST and data[1] == chr2:
        char2_read_counter += 1
        if char2_read_counter > 0xF1:
            ble.gatts_write(chr2, bytes((char2_read_counter & 0xFF,)))
    return 0  # allow every read


ble.irq(irq)
advertise()
