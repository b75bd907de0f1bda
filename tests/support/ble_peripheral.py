"""A plain Bumble GATT server peripheral for the bleak-on-Bumble tests and benchmark.

Run in-process (`Peripheral(...).start()` on any loop) or as its own process, which a test can kill:
`python tests/ble/ble_peripheral.py TRANSPORT NAME` (prints "ready" once advertising).

GATT layout (every attribute has explicit handlers; Bumble's server does not enforce permissions by itself):
- TEST_SERVICE (128-bit)
  - READ_CHAR      read                     -> b"hello bleak"
  - RW_CHAR        read/write/write-no-rsp  -> last value written; descriptors: user description (0x2901,
                                               read), CONFIG_DESC (read/write, custom UUID)
  - LONG_CHAR      read/write               -> 300 bytes to start with (needs blob reads / prepared writes)
  - NOTIFY_CHAR    notify                   } written commands on CONTROL_CHAR send N notifications /
  - INDICATE_CHAR  indicate                 } indications: b"n" / b"i" + uint16 count + uint16 size
  - CONTROL_CHAR   write
  - SECRET_CHAR    read -> ATT READ_NOT_PERMITTED, write -> ATT application error 0x80
  - HANG_CHAR      read -> never answered (a stuck device)
  - COMMAND_CHAR   write-without-response only (accepts writes with response too: properties are advisory)
- Battery service 0x180F, battery level 0x2A19 (read) -> 87
Advertising: flags, 16-bit and 128-bit service UUID lists, TX power; scan response: name, manufacturer data,
service data (so passive scanners do not see the name).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import subprocess
import sys

from bumble import att, gatt, hci
from bumble.core import AdvertisingData
from bumble.device import Device
from bumble.transport import open_transport

TEST_SERVICE = "8e9a0001-3c4d-4b7e-9f1a-0123456789ab"
READ_CHAR = "8e9a0002-3c4d-4b7e-9f1a-0123456789ab"
RW_CHAR = "8e9a0003-3c4d-4b7e-9f1a-0123456789ab"
LONG_CHAR = "8e9a0004-3c4d-4b7e-9f1a-0123456789ab"
NOTIFY_CHAR = "8e9a0005-3c4d-4b7e-9f1a-0123456789ab"
INDICATE_CHAR = "8e9a0006-3c4d-4b7e-9f1a-0123456789ab"
CONTROL_CHAR = "8e9a0007-3c4d-4b7e-9f1a-0123456789ab"
SECRET_CHAR = "8e9a0008-3c4d-4b7e-9f1a-0123456789ab"
HANG_CHAR = "8e9a0009-3c4d-4b7e-9f1a-0123456789ab"
COMMAND_CHAR = "8e9a000a-3c4d-4b7e-9f1a-0123456789ab"
CONFIG_DESC = "8e9a00d1-3c4d-4b7e-9f1a-0123456789ab"
BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"
USER_DESCRIPTION = "00002901-0000-1000-8000-00805f9b34fb"

READ_VALUE = b"hello bleak"
LONG_INITIAL = bytes(range(256)) + bytes(range(44))
USER_DESCRIPTION_TEXT = b"read/write test value"
MANUFACTURER_ID = 0x0F0F
MANUFACTURER_DATA = b"\x01\x02\x03"
SERVICE_DATA = b"\x57"
TX_POWER = -4
APP_ERROR = 0x80
BATTERY = 87
ADVERTISING_INTERVAL_MS = 50

_P = gatt.Characteristic.Properties
_RW = gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE


class Peripheral:
    """The GATT server and advertiser on one Bumble host. `writes` logs (uuid, value) of every write received."""

    def __init__(self, transport: str, name: str = "pytool-periph") -> None:
        self.transport_name = transport
        self.name = name
        self.writes: list[tuple[str, bytes]] = []
        self.rw_value = b"initial"
        self.long_value = LONG_INITIAL
        self.config_value = b"\x00"
        self.connections = 0
        self._tasks: set[asyncio.Task] = set()
        self.device: Device | None = None
        self._transport = None

    # -- GATT handlers ------------------------------------------------------------------------------------

    def _write_rw(self, connection, value: bytes) -> None:
        self.rw_value = bytes(value)
        self.writes.append((RW_CHAR, self.rw_value))

    def _write_long(self, connection, value: bytes) -> None:
        self.long_value = bytes(value)
        self.writes.append((LONG_CHAR, self.long_value))

    def _write_command(self, connection, value: bytes) -> None:
        self.writes.append((COMMAND_CHAR, bytes(value)))

    def _write_config(self, connection, value: bytes) -> None:
        self.config_value = bytes(value)
        self.writes.append((CONFIG_DESC, self.config_value))

    def _write_control(self, connection, value: bytes) -> None:
        kind, count, size = value[:1], *struct.unpack_from("<HH", value, 1)
        task = asyncio.get_running_loop().create_task(self._send(kind == b"i", count, size))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, indicate: bool, count: int, size: int) -> None:
        assert self.device is not None
        target = self.indicate_char if indicate else self.notify_char
        for i in range(count):
            value = struct.pack("<H", i) + bytes(max(0, size - 2))
            if indicate:
                await self.device.indicate_subscribers(target, value)
            else:
                await self.device.notify_subscribers(target, value)

    @staticmethod
    def _refuse_read(connection) -> bytes:
        raise att.ATT_Error(att.ErrorCode.READ_NOT_PERMITTED)

    @staticmethod
    def _refuse_write(connection, value) -> None:
        raise att.ATT_Error(APP_ERROR)

    @staticmethod
    async def _hang(connection) -> bytes:
        await asyncio.Event().wait()
        return b""

    @staticmethod
    def _no_read(connection) -> bytes:
        raise att.ATT_Error(att.ErrorCode.READ_NOT_PERMITTED)

    @staticmethod
    def _no_write(connection, value) -> None:
        raise att.ATT_Error(att.ErrorCode.WRITE_NOT_PERMITTED)

    def _services(self) -> list[gatt.Service]:
        value = gatt.CharacteristicValue
        self.notify_char = gatt.Characteristic(
            NOTIFY_CHAR, _P.NOTIFY, gatt.Characteristic.READABLE, value(read=lambda c: b"", write=self._no_write)
        )
        self.indicate_char = gatt.Characteristic(
            INDICATE_CHAR, _P.INDICATE, gatt.Characteristic.READABLE, value(read=lambda c: b"", write=self._no_write)
        )
        test = gatt.Service(
            TEST_SERVICE,
            [
                gatt.Characteristic(
                    READ_CHAR,
                    _P.READ,
                    gatt.Characteristic.READABLE,
                    value(read=lambda c: READ_VALUE, write=self._no_write),
                ),
                gatt.Characteristic(
                    RW_CHAR,
                    _P.READ | _P.WRITE | _P.WRITE_WITHOUT_RESPONSE,
                    _RW,
                    value(read=lambda c: self.rw_value, write=self._write_rw),
                    descriptors=[
                        gatt.Descriptor(
                            USER_DESCRIPTION,
                            gatt.Descriptor.READABLE,
                            value(read=lambda c: USER_DESCRIPTION_TEXT, write=self._no_write),
                        ),
                        gatt.Descriptor(
                            CONFIG_DESC, _RW, value(read=lambda c: self.config_value, write=self._write_config)
                        ),
                    ],
                ),
                gatt.Characteristic(
                    LONG_CHAR, _P.READ | _P.WRITE, _RW, value(read=lambda c: self.long_value, write=self._write_long)
                ),
                self.notify_char,
                self.indicate_char,
                gatt.Characteristic(
                    CONTROL_CHAR,
                    _P.WRITE,
                    gatt.Characteristic.WRITEABLE,
                    value(read=self._no_read, write=self._write_control),
                ),
                gatt.Characteristic(
                    SECRET_CHAR, _P.READ | _P.WRITE, _RW, value(read=self._refuse_read, write=self._refuse_write)
                ),
                gatt.Characteristic(
                    HANG_CHAR, _P.READ, gatt.Characteristic.READABLE, value(read=self._hang, write=self._no_write)
                ),
                gatt.Characteristic(
                    COMMAND_CHAR,
                    _P.WRITE_WITHOUT_RESPONSE,
                    gatt.Characteristic.WRITEABLE,
                    value(read=self._no_read, write=self._write_command),
                ),
            ],
        )
        battery = gatt.Service(
            BATTERY_SERVICE,
            [
                gatt.Characteristic(
                    BATTERY_LEVEL,
                    _P.READ,
                    gatt.Characteristic.READABLE,
                    value(read=lambda c: bytes([BATTERY]), write=self._no_write),
                )
            ],
        )
        return [test, battery]

    # -- lifecycle ------------------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        assert self.device is not None
        return self.device.random_address.to_string(with_type_qualifier=False)

    async def start(self) -> None:
        """Connect to the radio, serve GATT, advertise (again after every disconnection)."""
        self._transport = await open_transport(self.transport_name)
        self.device = Device.with_hci(
            self.name, hci.Address.generate_static_address(), self._transport.source, self._transport.sink
        )
        self.device.add_services(self._services())
        self.device.on("connection", self._on_connection)
        await self.device.power_on()
        adv = AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, struct.pack("<H", 0x180F)),
                (
                    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    gatt.UUID(TEST_SERVICE).to_bytes(),
                ),
                (AdvertisingData.TX_POWER_LEVEL, struct.pack("b", TX_POWER)),
            ]
        )
        rsp = AdvertisingData(
            [
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, struct.pack("<H", MANUFACTURER_ID) + MANUFACTURER_DATA),
                (AdvertisingData.SERVICE_DATA_16_BIT_UUID, struct.pack("<H", 0x180F) + SERVICE_DATA),
            ]
        )
        await self.device.start_advertising(
            advertising_data=bytes(adv),
            scan_response_data=bytes(rsp),
            auto_restart=True,
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )

    def _on_connection(self, connection) -> None:
        self.connections += 1

    async def stop(self) -> None:
        if self.device is not None:
            with contextlib.suppress(Exception):
                await self.device.stop_advertising()
        if self._transport is not None:
            await self._transport.close()


def spawn_peripheral(transport: str, name: str) -> tuple[subprocess.Popen, str]:
    """A peripheral in a process of its own (to be killed); returns (process, address)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, transport, name],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()  # "ready ADDRESS"; pytest-timeout guards a hang
    assert line and line[0] == "ready", f"peripheral process did not start: {line}"
    return proc, line[1]


async def _main(transport: str, name: str) -> None:
    peripheral = Peripheral(transport, name)
    await peripheral.start()
    print("ready", peripheral.address, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
