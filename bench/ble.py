"""bleak-on-Bumble versus a raw Bumble GATT client, on the same virtual radio, in the same run.

A child process runs the radio hub (pytool.sim.radio) and a Bumble GATT peripheral (read, write and notify
characteristics). This process then measures, for each client in turn (interleaved, best of the rounds):
read round trips, write-with-response round trips and notification throughput; and prints the ratio
bleak-on-Bumble / raw Bumble (target: within 1.5x).

    python bench/ble.py            # full run
    python bench/ble.py --quick    # small and fast (what CI smoke-runs)
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bleak import BleakClient
from bumble import gatt, hci
from bumble.core import AdvertisingData
from bumble.device import Device, Peer
from bumble.transport import open_transport

from pytool.ble import BumbleClient
from pytool.sim.radio import RadioHub

SERVICE = "a0b40001-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
READ_CHAR = "a0b40002-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
WRITE_CHAR = "a0b40003-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
NOTIFY_CHAR = "a0b40004-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
CONTROL_CHAR = "a0b40005-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
VALUE = bytes(range(20))
NOTIFY_SIZE = 100


# -- the peripheral (child process) -----------------------------------------------------------------------------


async def serve() -> None:
    hub = RadioHub(idle_exit=None)
    await hub.start()
    transport = await open_transport(hub.transport)
    device = Device.with_hci("bench-periph", hci.Address.generate_static_address(), transport.source, transport.sink)
    props = gatt.Characteristic.Properties
    notify = gatt.Characteristic(NOTIFY_CHAR, props.NOTIFY, gatt.Characteristic.READABLE, b"")

    def on_control(connection, value: bytes) -> None:
        count = struct.unpack("<I", value)[0]

        async def send() -> None:
            for i in range(count):
                await device.notify_subscribers(notify, struct.pack("<I", i) + bytes(NOTIFY_SIZE - 4))

        asyncio.get_running_loop().create_task(send())

    stored = bytearray()
    device.add_service(
        gatt.Service(
            SERVICE,
            [
                gatt.Characteristic(
                    READ_CHAR, props.READ, gatt.Characteristic.READABLE, gatt.CharacteristicValue(read=lambda c: VALUE)
                ),
                gatt.Characteristic(
                    WRITE_CHAR,
                    props.WRITE,
                    gatt.Characteristic.WRITEABLE,
                    gatt.CharacteristicValue(write=lambda c, v: stored.extend(v[:0])),
                ),
                notify,
                gatt.Characteristic(
                    CONTROL_CHAR, props.WRITE, gatt.Characteristic.WRITEABLE, gatt.CharacteristicValue(write=on_control)
                ),
            ],
        )
    )
    await device.power_on()
    adv = AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, b"bench-periph")])
    await device.start_advertising(
        advertising_data=bytes(adv), auto_restart=True, advertising_interval_min=20, advertising_interval_max=20
    )
    print(hub.transport, device.random_address.to_string(with_type_qualifier=False), flush=True)
    await asyncio.Event().wait()


# -- the two clients ------------------------------------------------------------------------------------------------


@dataclass
class Ops:
    """What a benchmark round needs from a client."""

    read: Callable[[], Awaitable[bytes]]
    write: Callable[[bytes], Awaitable[None]]
    notifications: Callable[[int], Awaitable[None]]  # ask for n notifications and wait for all of them
    close: Callable[[], Awaitable[None]]


async def raw_bumble(transport_name: str, address: str) -> Ops:
    transport = await open_transport(transport_name)
    device = Device.with_hci("raw", hci.Address.generate_static_address(), transport.source, transport.sink)
    await device.power_on()
    connection = await device.connect(hci.Address(address), timeout=10)
    peer = Peer(connection)
    await peer.request_mtu(517)
    await peer.discover_services()
    for service in peer.services:
        await peer.discover_characteristics(service=service)
    by_uuid = {str(c.uuid.to_hex_str()): c for s in peer.services for c in s.characteristics}

    def char(uuid: str):
        return by_uuid[uuid.replace("-", "").upper()]

    received = asyncio.Queue()
    await peer.subscribe(char(NOTIFY_CHAR), received.put_nowait)

    async def notifications(count: int) -> None:
        await peer.write_value(char(CONTROL_CHAR), struct.pack("<I", count), with_response=True)
        for _ in range(count):
            await received.get()

    async def close() -> None:
        await connection.disconnect()
        await transport.close()

    return Ops(
        read=lambda: peer.read_value(char(READ_CHAR)),
        write=lambda v: peer.write_value(char(WRITE_CHAR), v, with_response=True),
        notifications=notifications,
        close=close,
    )


async def bleak_on_bumble(transport_name: str, address: str) -> Ops:
    client = BleakClient(address, backend=BumbleClient, bumble={"transport": transport_name}, timeout=10)
    await client.connect()
    received = asyncio.Queue()
    await client.start_notify(NOTIFY_CHAR, lambda _c, data: received.put_nowait(data))

    async def notifications(count: int) -> None:
        await client.write_gatt_char(CONTROL_CHAR, struct.pack("<I", count), response=True)
        for _ in range(count):
            await received.get()

    return Ops(
        read=lambda: client.read_gatt_char(READ_CHAR),
        write=lambda v: client.write_gatt_char(WRITE_CHAR, v, response=True),
        notifications=notifications,
        close=client.disconnect,
    )


async def measure(ops: Ops, rounds: int, notes: int) -> dict[str, float]:
    """Seconds per read, per write, and notifications per second."""
    assert await ops.read() == VALUE  # the figures are for correct work only
    start = time.perf_counter()
    for _ in range(rounds):
        await ops.read()
    read = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for _ in range(rounds):
        await ops.write(VALUE)
    write = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    await ops.notifications(notes)
    rate = notes / (time.perf_counter() - start)
    return {"read": read, "write": write, "notify": rate}


async def bench(transport: str, address: str, rounds: int, notes: int, repeats: int) -> int:
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeats):
        for label, factory in (("raw Bumble", raw_bumble), ("bleak-on-Bumble", bleak_on_bumble)):
            ops = await factory(transport, address)
            try:
                figures = await measure(ops, rounds, notes)
            finally:
                await ops.close()
            old = best.get(label)
            best[label] = (
                figures
                if old is None
                else {
                    "read": min(old["read"], figures["read"]),
                    "write": min(old["write"], figures["write"]),
                    "notify": max(old["notify"], figures["notify"]),
                }
            )
    raw, ours = best["raw Bumble"], best["bleak-on-Bumble"]
    print(
        f"virtual radio, {rounds} reads/writes of {len(VALUE)} B, "
        f"{notes} notifications of {NOTIFY_SIZE} B, best of {repeats}"
    )
    print(f"{'':18}{'read (us)':>12}{'write (us)':>12}{'notify (/s)':>14}")
    for label, figures in best.items():
        print(f"{label:18}{figures['read'] * 1e6:12.0f}{figures['write'] * 1e6:12.0f}{figures['notify']:14.0f}")
    ratios = {
        "read": ours["read"] / raw["read"],
        "write": ours["write"] / raw["write"],
        "notify": raw["notify"] / ours["notify"],
    }
    print(
        "ratio bleak/raw   "
        + "  ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items())
        + f"   (target <= 1.5x: {'met' if max(ratios.values()) <= 1.5 else 'NOT met'})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small and fast")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve:
        asyncio.run(serve())
        return 0
    rounds, notes, repeats = (100, 300, 1) if options.quick else (2000, 5000, 3)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert server.stdout is not None
        transport, address = server.stdout.readline().split()
        return asyncio.run(asyncio.wait_for(bench(transport, address, rounds, notes, repeats), 600))
    finally:
        server.kill()
        server.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
