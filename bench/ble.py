"""bleak-on-Bumble on the virtual radio: throughput against a raw Bumble client, and scan/connect reliability.

A child process runs the radio hub (pytool.sim.radio) with a Bumble GATT peripheral (read, write and notify
characteristics), and Bumble's stock virtual radio (two controllers on a LocalLink behind single-client
`tcp-server` transports, as `bumble/apps/controllers.py` builds it) with the same peripheral.

1. Throughput: for each client in turn (interleaved, best of the rounds) read round trips, write-with-response
   round trips and notification throughput; the ratio bleak-on-Bumble / raw Bumble (target: within 1.5x).
2. Cycles (issue 17): N rounds of scan + connect + read + disconnect with plain bleak, each cycle on a fresh
   scanner and client (so a fresh Bumble host each time), against the plain peripheral on the hub, a simulated
   LoPy4 running a Pycom GATT server, and the peripheral on Bumble's stock radio; and the same cycle with raw
   Bumble against the plain peripheral, as the reference. Each round runs one cycle per target in turn. Prints
   cycle-time percentiles, the median of each phase and failures by cause (target: 0 failures).

    python bench/ble.py                 # full run: 500 cycles per target
    python bench/ble.py --cycles 100    # fewer cycles
    python bench/ble.py --quick         # small and fast (what CI smoke-runs; no simulated board)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bleak import BleakClient, BleakScanner
from bumble import gatt, hci
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Device, Peer
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from pytool.ble import BumbleClient, BumbleScanner
from pytool.sim.radio import RadioHub

SERVICE = "a0b40001-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
READ_CHAR = "a0b40002-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
WRITE_CHAR = "a0b40003-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
NOTIFY_CHAR = "a0b40004-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
CONTROL_CHAR = "a0b40005-8c5b-4a5e-9c1e-0b1e0b1e0b1e"
VALUE = bytes(range(20))
NOTIFY_SIZE = 100


# -- the peripheral (child process) -----------------------------------------------------------------------------


async def peripheral(transport_name: str) -> Device:
    """The bench peripheral, advertising on `transport_name`."""
    transport = await open_transport(transport_name)
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
    return device


async def stock_controller(link: LocalLink, name: str) -> str:
    """A controller on `link` behind Bumble's stock single-client tcp-server on 127.0.0.1; its client transport."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    transport = await open_tcp_server_transport_with_socket(sock)
    Controller(name, host_source=transport.source, host_sink=transport.sink, link=link)
    return f"tcp-client:127.0.0.1:{sock.getsockname()[1]}"


async def serve() -> None:
    """The child process: prints 'HUB_TRANSPORT ADDRESS STOCK_TRANSPORT STOCK_ADDRESS', then serves forever."""
    hub = RadioHub(idle_exit=None)
    await hub.start()
    device = await peripheral(hub.transport)
    link = LocalLink()
    stock_device = await peripheral(await stock_controller(link, "peripheral"))
    stock = await stock_controller(link, "tester")
    addresses = [d.random_address.to_string(with_type_qualifier=False) for d in (device, stock_device)]
    print(hub.transport, addresses[0], stock, addresses[1], flush=True)
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


# -- scan/connect cycles (issue 17) --------------------------------------------------------------------------------

BOARD_NAME = "bench-lopy"
BOARD_READ = "0000ff01-0000-1000-8000-00805f9b34fb"
BOARD_VALUE = b"hello bench"
BOARD_SCRIPT = f"""
from network import Bluetooth
bt = Bluetooth()
bt.set_advertisement(name='{BOARD_NAME}', service_uuid=b'1234567890123456')
bt.advertise(True)
srv = bt.service(uuid=b'1234567890123456', isprimary=True, nbr_chars=1)
srv.characteristic(uuid=0xFF01, value={BOARD_VALUE!r}, properties=Bluetooth.PROP_READ)
"""
PHASES = ("scan", "connect", "read", "disconnect")


@dataclass
class Target:
    """Something to cycle against: found by advertised name, or by address (Bumble's stock radio does not
    deliver scan responses, so names set there never arrive)."""

    label: str
    transport: str
    read_char: str
    value: bytes
    name: str | None = None
    address: str | None = None


@dataclass
class CycleResults:
    label: str
    times: list[float] = field(default_factory=list)  # seconds per successful cycle
    phases: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})
    failures: collections.Counter = field(default_factory=collections.Counter)  # cause -> count


@contextlib.contextmanager
def simulated_board() -> Iterator[Target]:
    """A simulated LoPy4 (own state and data folders) running BOARD_SCRIPT; the target on its radio."""
    from mpremote.transport_serial import SerialTransport

    from pytool.boards import get_board
    from pytool.deploy import simulator_firmware
    from pytool.firmware import load_firmware, plan_archive
    from pytool.sim.testing import running_sim

    with tempfile.TemporaryDirectory(prefix="pytool-bench-ble-") as tmp:
        saved = {key: os.environ.get(key) for key in ("PYTOOL_STATE_DIR", "PYTOOL_DATA_DIR")}
        os.environ.update(PYTOOL_STATE_DIR=f"{tmp}/state", PYTOOL_DATA_DIR=f"{tmp}/data")
        try:
            board = get_board("lopy4")
            image = bytearray(b"\xff" * board.flash_size)
            archive = load_firmware(simulator_firmware("lopy4", "1.20.2.r4"))
            for write in plan_archive(archive, board.flash_size).writes:
                image[write.offset : write.offset + len(write.data)] = write.data
            flash = Path(tmp) / "bench.bin"
            flash.write_bytes(image)
            with running_sim("lopy4", name="bench", flash=flash) as record:
                serial = SerialTransport(record.pty, 115200)
                serial.enter_raw_repl(soft_reset=False)
                serial.exec(BOARD_SCRIPT)
                assert record.hci is not None
                yield Target("simulated LoPy4", record.hci, BOARD_READ, BOARD_VALUE, name=BOARD_NAME)
                serial.close()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _cause(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text[:100]}"


async def bleak_cycle(target: Target) -> dict[str, float]:
    """One scan + connect + read + disconnect with plain bleak on fresh objects; seconds per phase."""
    options = {"transport": target.transport}
    marks = [time.perf_counter()]
    if target.address:
        device = await BleakScanner.find_device_by_address(
            target.address, timeout=10, backend=BumbleScanner, bumble=options
        )
    else:
        device = await BleakScanner.find_device_by_name(target.name, timeout=10, backend=BumbleScanner, bumble=options)
    if device is None:
        raise LookupError("not found by the scan")
    marks.append(time.perf_counter())
    client = BleakClient(device, backend=BumbleClient, bumble=options, timeout=10)
    await client.connect()
    try:
        marks.append(time.perf_counter())
        value = await client.read_gatt_char(target.read_char)
        if bytes(value) != target.value:
            raise ValueError(f"read {bytes(value)!r}")
        marks.append(time.perf_counter())
    finally:
        await client.disconnect()
    marks.append(time.perf_counter())
    return {phase: marks[i + 1] - marks[i] for i, phase in enumerate(PHASES)}


async def raw_cycle(transport_name: str, address: str) -> dict[str, float]:
    """The same cycle with raw Bumble (its own host each time, as the bleak cycle has): the reference."""
    marks = [time.perf_counter()]
    transport = await open_transport(transport_name)
    try:
        device = Device.with_hci("raw", hci.Address.generate_static_address(), transport.source, transport.sink)
        await device.power_on()
        seen: asyncio.Future[hci.Address] = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Advertisement) -> None:
            if advertisement.address.to_string(with_type_qualifier=False) == address and not seen.done():
                seen.set_result(advertisement.address)

        device.on("advertisement", on_advertisement)
        await device.start_scanning(filter_duplicates=False)
        typed = await asyncio.wait_for(seen, 10)
        await device.stop_scanning()
        marks.append(time.perf_counter())
        connection = await device.connect(typed, timeout=10)
        peer = Peer(connection)
        await peer.request_mtu(517)
        await peer.discover_services()
        for service in peer.services:
            for characteristic in await peer.discover_characteristics(service=service):
                await peer.discover_descriptors(characteristic=characteristic)
        marks.append(time.perf_counter())
        char = next(c for s in peer.services for c in s.characteristics if c.uuid == gatt.UUID(READ_CHAR))
        if await peer.read_value(char) != VALUE:
            raise ValueError("wrong value")
        marks.append(time.perf_counter())
        await connection.disconnect()
    finally:
        await transport.close()
    marks.append(time.perf_counter())
    return {phase: marks[i + 1] - marks[i] for i, phase in enumerate(PHASES)}


async def cycle_rounds(cycles: dict[str, Callable[[], Awaitable[dict[str, float]]]], count: int) -> list[CycleResults]:
    """`count` rounds, each running one cycle of every target in turn (so load elsewhere on the machine hits them
    alike); every failure is counted by cause and the rounds go on."""
    results = {label: CycleResults(label) for label in cycles}
    for _ in range(count):
        for label, cycle in cycles.items():
            start = time.perf_counter()
            try:
                phases = await asyncio.wait_for(cycle(), 60)
            except Exception as error:  # counted by cause
                results[label].failures[_cause(error)] += 1
                continue
            results[label].times.append(time.perf_counter() - start)
            for phase, seconds in phases.items():
                results[label].phases[phase].append(seconds)
    return list(results.values())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report_cycles(results: list[CycleResults], count: int) -> None:
    print(
        f"\nscan + connect + read + disconnect, {count} rounds of one cycle per target in turn "
        "(fresh scanner and client each)"
    )
    print(f"{'':40}{'ok':>5}{'fail':>6}{'p50 ms':>9}{'p90':>8}{'p99':>8}{'max':>8}   median ms per phase")
    for r in results:
        times = [t * 1e3 for t in r.times]
        phases = "  ".join(f"{p} {_percentile(r.phases[p], 0.5) * 1e3:.0f}" for p in PHASES)
        print(
            f"{r.label:40}{len(r.times):5d}{sum(r.failures.values()):6d}{_percentile(times, 0.5):9.0f}"
            f"{_percentile(times, 0.9):8.0f}{_percentile(times, 0.99):8.0f}{max(times, default=float('nan')):8.0f}"
            f"   {phases}"
        )
        for cause, n in r.failures.most_common():
            print(f"    {n:4d} x {cause}")
    by_label = {r.label: r for r in results}
    ours, raw = by_label.get("bleak: plain Bumble peripheral"), by_label.get("raw Bumble: plain Bumble peripheral")
    if ours and raw and ours.times and raw.times:
        ratio = _percentile(ours.times, 0.5) / _percentile(raw.times, 0.5)
        print(f"ratio bleak/raw cycle (median, plain peripheral) {ratio:.2f}x")
    total = sum(sum(r.failures.values()) for r in results)
    print(f"failures: {total} (target 0: {'met' if total == 0 else 'NOT met'})")


async def run_cycles(targets: list[Target], hub_transport: str, address: str, count: int) -> list[CycleResults]:
    cycles: dict[str, Callable[[], Awaitable[dict[str, float]]]] = {
        f"bleak: {t.label}": (lambda t=t: bleak_cycle(t)) for t in targets
    }
    cycles = {  # the raw Bumble reference right after the bleak cycle on the same peripheral
        **dict(list(cycles.items())[:1]),
        "raw Bumble: plain Bumble peripheral": lambda: raw_cycle(hub_transport, address),
        **dict(list(cycles.items())[1:]),
    }
    results = await cycle_rounds(cycles, count)
    report_cycles(results, count)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small and fast")
    parser.add_argument("--cycles", type=int, help="scan/connect cycles per target (default 500; --quick: 10)")
    parser.add_argument("--no-throughput", action="store_true", help="only the cycles")
    parser.add_argument("--no-board", action="store_true", help="no simulated board in the cycles")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve:
        asyncio.run(serve())
        return 0
    rounds, notes, repeats = (100, 300, 1) if options.quick else (2000, 5000, 3)
    cycles = options.cycles if options.cycles is not None else (10 if options.quick else 500)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert server.stdout is not None
        transport, address, stock, stock_address = server.stdout.readline().split()
        if not options.no_throughput:
            asyncio.run(asyncio.wait_for(bench(transport, address, rounds, notes, repeats), 600))
        targets = [
            Target("plain Bumble peripheral", transport, name="bench-periph", read_char=READ_CHAR, value=VALUE),
            Target("stock Bumble radio", stock, address=stock_address, read_char=READ_CHAR, value=VALUE),
        ]
        with contextlib.ExitStack() as stack:
            if not (options.quick or options.no_board):
                targets.insert(1, stack.enter_context(simulated_board()))
            results = asyncio.run(run_cycles(targets, transport, address, cycles))
        return 0 if all(not r.failures for r in results) else 1
    finally:
        server.kill()
        server.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
