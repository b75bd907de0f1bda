# The seed example (examples/gatt_server) written with aioble, micropython-lib's asyncio layer over
# `bluetooth.BLE`. aioble is not part of this project: install it on the board the usual way,
#     mpremote mip install aioble
# Same services, values and printed lines as the Pycom original (see examples/stock_gatt_server for how stock
# MicroPython differs: reads are answered from the stored value, so on_read() stores the answer).
import asyncio

import aioble
import bluetooth

SERVICE_1 = bluetooth.UUID(b'1234567890123456')  # little-endian bytes, as Pycom takes them
CHAR_1 = bluetooth.UUID(b'ab34567890123456')
SERVICE_2 = bluetooth.UUID(1234)
CHAR_2 = bluetooth.UUID(4567)

# advertising packet: flags, complete name 'LoPy', TX power level (+3 dBm); scan response: the service UUID
ADV = b'\x02\x01\x06' + b'\x05\x09LoPy' + b'\x02\x0a\x03'
RESP = b'\x11\x07' + bytes(SERVICE_1)

char1_read_counter = 0
char2_read_counter = 0xF0


class Char1(aioble.Characteristic):
    def on_read(self, connection):
        global char1_read_counter
        char1_read_counter += 1
        if char1_read_counter < 3:
            print('Read request on char 1')
        else:
            self.write(b'ABC DEF')
        return 0


class Char2(aioble.Characteristic):
    def on_read(self, connection):
        global char2_read_counter
        char2_read_counter += 1
        if char2_read_counter > 0xF1:
            self.write(bytes((char2_read_counter & 0xFF,)))
        return 0


service_1 = aioble.Service(SERVICE_1)
char_1 = Char1(service_1, CHAR_1, read=True, write=True, notify=True, capture=True, initial=b'\x05')
service_2 = aioble.Service(SERVICE_2)
char_2 = Char2(service_2, CHAR_2, read=True, write=True, notify=True, initial=b'\x12\x34')
aioble.register_services(service_1, service_2)


async def writes():
    global char1_read_counter
    while True:
        _connection, value = await char_1.written()
        char1_read_counter += 1
        print("Write request with value = {}".format(value))


async def peripheral():
    while True:
        connection = await aioble.advertise(50_000, adv_data=ADV, resp_data=RESP)
        print("Client connected")
        await connection.disconnected(timeout_ms=None)
        print("Client disconnected")


async def main():
    await asyncio.gather(writes(), peripheral())


asyncio.run(main())
