"""The board's Bluetooth service driven from Python as device code would drive it through the bridge, checked
over the air by a plain Bumble GATT client on its own controller of the radio hub."""

from __future__ import annotations

import asyncio

import pytest
from bumble import att
from bumble.core import UUID, AdvertisingData
from bumble.device import Device, Peer
from bumble.hci import Address
from bumble.pairing import PairingConfig, PairingDelegate
from support.ble import bumble_host

from pytool.sim.bluetooth import pycom
from pytool.sim.bluetooth.service import BluetoothService

pytestmark = pytest.mark.timeout(90)

BOARD = Address("24:0A:C4:00:00:02/P")  # default base MAC + 2, public


class FakeBridge:
    """Stands in for the runtime's BridgeConnection: records events, answers as the device's handlers would."""

    def __init__(self) -> None:
        self.events: list[tuple[str, list]] = []
        self.answer = lambda name, payload: None  # sync function or coroutine function
        self.seen = asyncio.Event()

    async def event(self, service, name, payload, timeout):
        assert service == "bt"
        self.events.append((name, payload))
        self.seen.set()
        result = self.answer(name, payload)
        if asyncio.iscoroutine(result):
            result = await asyncio.wait_for(result, timeout)
        return result

    async def wait_for(self, predicate, timeout: float = 10.0):
        async def loop():
            while not any(predicate(e) for e in self.events):
                self.seen.clear()
                await self.seen.wait()

        await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def board(hub):
    bt = BluetoothService(hub.transport)
    bridge = FakeBridge()
    bt.interpreter_started(bridge)
    await bt.call("init", [{}], bridge)
    bt.bridge = bridge
    yield bt
    await bt.close()


async def rpc(bt: BluetoothService, method: str, *args):
    return await bt.call(method, list(args), bt.bridge)


async def connect(device: Device) -> Peer:
    connection = await device.connect(BOARD, timeout=10)
    peer = Peer(connection)
    await peer.discover_services()
    for service in peer.services:
        await service.discover_characteristics()
        for char in service.characteristics:
            await char.discover_descriptors()
    return peer


def find_char(peer: Peer, uuid: UUID):
    return next(c for s in peer.services for c in s.characteristics if c.uuid == uuid)


async def example_gatt(bt: BluetoothService) -> tuple[int, int]:
    """The two services of Pycom's GATTSCharacteristic example."""
    await rpc(bt, "set_advertisement", b"LoPy", None, None, b"1234567890123456")
    await rpc(bt, "advertise", True)
    srv1 = await rpc(bt, "service", b"1234567890123456", True, 1, True)
    chr1 = await rpc(bt, "characteristic", srv1, b"ab34567890123456", None, None, 5)
    srv2 = await rpc(bt, "service", 1234, True, 1, True)
    chr2 = await rpc(bt, "characteristic", srv2, 4567, None, None, 0x1234)
    return chr1, chr2


async def test_advertisement_and_scan_response_on_the_air(board, hub):
    await rpc(board, "set_advertisement", b"LoPy", b"\x4c\x00\x07", None, b"1234567890123456")
    await rpc(board, "advertise", True)
    async with bumble_host(hub.transport) as (device, _):
        found = asyncio.get_running_loop().create_future()
        device.on("advertisement", lambda a: a.address == BOARD and not found.done() and found.set_result(a))
        await device.start_scanning()
        adv = await asyncio.wait_for(found, 10)
        assert adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME) == "LoPy"
        assert adv.data.get(AdvertisingData.TX_POWER_LEVEL) == 3
        assert bytes(adv.data) == pycom.advertising_data("LoPy", 3) + pycom.scan_response_data(
            b"\x4c\x00\x07", None, b"1234567890123456"
        )


async def test_example_services_read_exactly_pycoms_bytes(board, hub):
    _, chr2 = await example_gatt(board)
    async with bumble_host(hub.transport) as (device, _):
        peer = await connect(device)
        uuids = {str(s.uuid).lower() for s in peer.services}
        assert "36353433-3231-3039-3837-363534333231" in uuids  # b'1234567890123456', little-endian
        c1 = find_char(peer, pycom.uuid_from_pycom(b"ab34567890123456"))
        c2 = find_char(peer, UUID.from_16_bits(4567))
        assert await find_char(peer, UUID.from_16_bits(0x2A00)).read_value() == b"LoPy"  # GAP device name
        assert c1.properties == pycom.DEFAULT_PROPERTIES
        assert await c1.read_value() == b"\x05"  # constructor: big-endian by magnitude
        assert await c2.read_value() == b"\x12\x34"

        # value(int) is little-endian 16-bit and notifies the connected client, subscribed or not
        got = asyncio.Queue()
        peer.gatt_client.notification_subscribers[c2.handle] = {lambda v: got.put_nowait(bytes(v))}
        assert await rpc(board, "char_value", chr2, 0x12345678) is None
        assert await asyncio.wait_for(got.get(), 5) == b"\x78\x56"
        assert await rpc(board, "char_value", chr2) == b"\x78\x56"
        assert await c2.read_value() == b"\x78\x56"


async def test_read_callback_return_is_sent_not_stored(board, hub):
    chr1, _ = await example_gatt(board)
    await rpc(board, "char_callback", chr1, pycom.CHAR_READ_EVENT | pycom.CHAR_WRITE_EVENT)
    counter = {"n": 0}

    def answer(name, payload):
        assert name == "char" and payload[:2] == [chr1, pycom.CHAR_READ_EVENT]
        counter["n"] += 1
        return b"ABC DEF" if counter["n"] >= 3 else None

    board.bridge.answer = answer
    async with bumble_host(hub.transport) as (device, _):
        peer = await connect(device)
        c1 = find_char(peer, pycom.uuid_from_pycom(b"ab34567890123456"))
        reads = [await c1.read_value() for _ in range(4)]
        assert reads == [b"\x05", b"\x05", b"ABC DEF", b"ABC DEF"]
        assert await rpc(board, "char_value", chr1) == b"\x05"  # not stored
        assert await rpc(board, "char_events", chr1) == pycom.CHAR_READ_EVENT
        assert await rpc(board, "char_events", chr1) == 0  # events() clears
        await c1.write_value(b"hello", with_response=True)
        await board.bridge.wait_for(lambda e: e == ("char", [chr1, pycom.CHAR_WRITE_EVENT, b"hello"]))
        assert await rpc(board, "char_events", chr1) == pycom.CHAR_WRITE_EVENT
        assert await rpc(board, "char_value", chr1) == b"hello"


async def test_permissions_budget_truncation_and_subscribe(board, hub):
    await rpc(board, "advertise", True)
    srv = await rpc(board, "service", 0x180D, True, 2, True)
    ro = await rpc(board, "characteristic", srv, 0x2A37, pycom.PERM_READ, pycom.PROP_READ | pycom.PROP_NOTIFY, 7)
    wo = await rpc(board, "characteristic", srv, 0x2A38, pycom.PERM_WRITE, pycom.PROP_WRITE, None)
    extra = await rpc(board, "characteristic", srv, 0x2A39, None, None, 1)  # over nbr_chars: silently missing
    await rpc(board, "char_callback", ro, pycom.CHAR_SUBSCRIBE_EVENT)
    assert extra > 0
    async with bumble_host(hub.transport) as (device, _):
        peer = await connect(device)
        chars = {c.uuid for s in peer.services for c in s.characteristics}
        assert UUID.from_16_bits(0x2A37) in chars and UUID.from_16_bits(0x2A38) in chars
        assert UUID.from_16_bits(0x2A39) not in chars
        c_ro, c_wo = find_char(peer, UUID.from_16_bits(0x2A37)), find_char(peer, UUID.from_16_bits(0x2A38))
        with pytest.raises(att.ATT_Error) as err:
            await c_ro.write_value(b"x", with_response=True)
        assert err.value.error_code == att.ATT_WRITE_NOT_PERMITTED_ERROR
        with pytest.raises(att.ATT_Error) as err:
            await c_wo.read_value()
        assert err.value.error_code == att.ATT_READ_NOT_PERMITTED_ERROR

        # CCCD write: config(), CHAR_SUBSCRIBE_EVENT with data None, and the current value notified at once
        got = asyncio.Queue()
        await c_ro.subscribe(lambda v: got.put_nowait(bytes(v)))
        assert await asyncio.wait_for(got.get(), 5) == b"\x07"
        await board.bridge.wait_for(lambda e: e == ("char", [ro, pycom.CHAR_SUBSCRIBE_EVENT, None]))
        assert await rpc(board, "char_config", ro) == pycom.CHAR_CONFIG_NOTIFY
        assert await rpc(board, "char_events", ro) == pycom.CHAR_SUBSCRIBE_EVENT

        # 197-byte values; a notification carries at most MTU-3
        await peer.request_mtu(200)
        await c_wo.write_value(bytes(range(200)), with_response=True)
        assert await rpc(board, "char_value", wo) == bytes(range(197))
        await rpc(board, "char_value", ro, bytes(250))
        assert len(await asyncio.wait_for(got.get(), 5)) == 197
        assert await rpc(board, "gatts_mtu") == 200
        assert await rpc(board, "gatts_mtu") is None  # one-shot per exchange


async def test_value_without_client_raises_after_storing(board):
    srv = await rpc(board, "service", 0x1815, True, 1, True)
    char = await rpc(board, "characteristic", srv, 0x2A56, None, None, 0)
    with pytest.raises(OSError, match="Erorr while sending BLE indication/notification"):
        await rpc(board, "char_value", char, b"new")
    assert await rpc(board, "char_value", char) == b"new"


async def test_one_client_and_disconnect_events(board, hub):
    await rpc(board, "callback", pycom.CLIENT_CONNECTED | pycom.CLIENT_DISCONNECTED)
    await rpc(board, "advertise", True)
    async with bumble_host(hub.transport, "C0:00:00:00:00:01") as (first, first_transport):
        await first.connect(BOARD, timeout=10)
        await board.bridge.wait_for(lambda e: e == ("bt", [pycom.CLIENT_CONNECTED]))
        assert await rpc(board, "events") == pycom.CLIENT_CONNECTED
        # still advertising (advertise(True) again while connected): a second central is dropped at once
        await rpc(board, "advertise", True)
        async with bumble_host(hub.transport, "C0:00:00:00:00:02") as (second, _):
            dropped = asyncio.get_running_loop().create_future()
            connection = await second.connect(BOARD, timeout=10)
            connection.on("disconnection", lambda reason: dropped.done() or dropped.set_result(reason))
            await asyncio.wait_for(dropped, 10)
        assert board.client is not None and board.client.peer_address == Address("C0:00:00:00:00:01")
        await first_transport.close()  # the tester is killed
        await board.bridge.wait_for(lambda e: e == ("bt", [pycom.CLIENT_DISCONNECTED]))
    assert await rpc(board, "events") == pycom.CLIENT_DISCONNECTED
    # advertising resumes: a new tester finds and connects to the board
    async with bumble_host(hub.transport, "C0:00:00:00:00:03") as (third, _):
        connection = await third.connect(BOARD, timeout=10)
        assert connection.peer_address == BOARD


async def test_slow_or_dead_callback_gives_att_error_not_a_stall(board, hub):
    srv = await rpc(board, "service", 0x1816, True, 1, True)
    char = await rpc(board, "characteristic", srv, 0x2A5B, None, None, 9)
    await rpc(board, "char_callback", char, pycom.CHAR_READ_EVENT)
    await rpc(board, "advertise", True)

    async def never(name, payload):
        await asyncio.Event().wait()

    board.bridge.answer = never
    board.callback_timeout = 1.0
    async with bumble_host(hub.transport) as (device, _):
        peer = await connect(device)
        c = find_char(peer, UUID.from_16_bits(0x2A5B))
        with pytest.raises(att.ATT_Error) as err:
            await c.read_value()  # after callback_timeout (1 s here), not the ATT's 30 s
        assert err.value.error_code == att.ATT_UNLIKELY_ERROR_ERROR
        # the handler raised on the device: the IRQ thread is gone, later callbacks never run
        await rpc(board, "irq_died")
        count = len(board.bridge.events)
        with pytest.raises(att.ATT_Error):
            await c.read_value()
        assert len(board.bridge.events) == count
        # a soft reset brings callbacks back but unregisters the GATT apps (4.10): the service is gone
        board.interpreter_stopped(hard=False)
        board.interpreter_started(board.bridge)
        assert board.device is not None and board.db is not None and board.db.services == []
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(rpc(board, "service", 0x1817, True, 1, True), 0.5)  # hangs as on the board


async def test_pin_makes_default_permissions_encrypted_and_tx_power_levels(board, hub):
    await rpc(board, "init", {"explicit": True, "pin": 123456})
    srv = await rpc(board, "service", 0x1818, True, 1, True)
    await rpc(board, "characteristic", srv, 0x2A63, None, None, 1)  # default perms: READ/WRITE_ENCRYPTED (0x22)
    await rpc(board, "advertise", True)
    async with bumble_host(hub.transport) as (device, _):
        peer = await connect(device)
        char = find_char(peer, UUID.from_16_bits(0x2A63))
        with pytest.raises(att.ATT_Error) as err:
            await char.read_value()  # not paired: refused, not hung
        assert err.value.error_code == att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR

        class TypesThePin(PairingDelegate):
            async def get_number(self) -> int:
                return 123456

        delegate = TypesThePin(io_capability=PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY)
        device.pairing_config_factory = lambda connection: PairingConfig(sc=True, mitm=True, delegate=delegate)
        await peer.connection.pair()  # passkey entry with the board's static pin
        assert peer.connection.authenticated
        assert await char.read_value() == b"\x01"
    assert await rpc(board, "tx_power", pycom.TX_PWR_ADV) == 3  # IDF default level P3
    await rpc(board, "tx_power", pycom.TX_PWR_ADV, 7)
    assert await rpc(board, "tx_power", pycom.TX_PWR_ADV) == 9
    with pytest.raises(ValueError):
        await rpc(board, "tx_power", pycom.TX_PWR_ADV, 8)


async def test_disconnect_client_and_deinit_drop_the_link(board, hub):
    await rpc(board, "advertise", True)
    async with bumble_host(hub.transport) as (device, _):
        for how in ("disconnect_client", "deinit"):
            if how == "deinit":
                await rpc(board, "init", {"explicit": False})  # Bluetooth(): the stack is still up
                await rpc(board, "advertise", True)
            connection = await device.connect(BOARD, timeout=10)
            dropped = asyncio.get_running_loop().create_future()
            connection.on("disconnection", lambda reason, f=dropped: f.done() or f.set_result(reason))
            await rpc(board, how)
            await asyncio.wait_for(dropped, 10)
        assert board.device is None  # deinit: the stack is down, the board's controller left the air
        await rpc(board, "init", {"explicit": False})  # a new Bluetooth() brings it back
        await rpc(board, "advertise", True)
        connection = await device.connect(BOARD, timeout=10)
        assert connection.peer_address == BOARD


async def test_raw_advertisement_and_mtu_limit(board, hub):
    raw = bytes.fromhex("020106") + bytes([10, 0x09]) + b"RawName12" + bytes(30)  # longer than 30 bytes
    await rpc(board, "set_advertisement_raw", raw)
    await rpc(board, "init", {"explicit": True, "mtu": 517})  # clamped to 200
    await rpc(board, "advertise", True)
    async with bumble_host(hub.transport) as (device, _):
        found = asyncio.get_running_loop().create_future()
        device.on("advertisement", lambda a: a.address == BOARD and not found.done() and found.set_result(a))
        await device.start_scanning(active=False)
        adv = await asyncio.wait_for(found, 10)
        assert bytes(adv.data) == raw[:14]  # 30 bytes copied; the zero padding ends the AD structures
        assert adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME) == "RawName12"
        await device.stop_scanning()
        await rpc(board, "init", {"explicit": True, "mtu": 100})
        peer = Peer(await device.connect(BOARD, timeout=10))
        assert await peer.request_mtu(250) == 100


async def test_irq_queue_holds_32_callbacks_and_drops_the_rest(board, hub):
    srv = await rpc(board, "service", 0x1819, True, 1, True)
    char = await rpc(board, "characteristic", srv, 0x2A70, None, None, 0)
    await rpc(board, "char_callback", char, pycom.CHAR_WRITE_EVENT)
    await rpc(board, "advertise", True)
    release = asyncio.Event()

    async def slow(name, payload):
        await release.wait()  # the device's IRQ thread is busy in the first handler

    board.bridge.answer = slow
    async with bumble_host(hub.transport) as (device, _):
        peer = await connect(device)
        c = find_char(peer, UUID.from_16_bits(0x2A70))
        for i in range(40):
            await c.write_value(bytes([i]), with_response=True)  # every write is answered at once
        release.set()
        await c.write_value(b"last", with_response=True)
        await board.bridge.wait_for(lambda e: e[1][2] == b"last")
    delivered = [e[1][2] for e in board.bridge.events]
    # one in the handler, 32 queued (mpirq.c: xQueueSend, 0 timeout, length 32), the rest lost, in order
    assert delivered == [bytes([i]) for i in range(33)] + [b"last"]


async def test_a_pending_read_is_answered_by_the_next_callback_of_its_characteristic(board, hub):
    # modbt checks read_request after ANY callback of the characteristic (4.5): a write callback still running
    # when the read arrives answers the read with its own return value; the read callback's return is ignored
    srv = await rpc(board, "service", 0x181A, True, 1, True)
    char = await rpc(board, "characteristic", srv, 0x2A71, None, None, b"stored")
    await rpc(board, "char_callback", char, pycom.CHAR_READ_EVENT | pycom.CHAR_WRITE_EVENT)
    await rpc(board, "advertise", True)
    release = asyncio.Event()

    async def answer(name, payload):
        _, event, data = payload
        if event == pycom.CHAR_WRITE_EVENT:
            await release.wait()
            return b"W" + data
        return b"R"

    board.bridge.answer = answer
    async with bumble_host(hub.transport) as (device, _):
        peer = await connect(device)
        c = find_char(peer, UUID.from_16_bits(0x2A71))
        await c.write_value(b"1", with_response=True)
        read = asyncio.ensure_future(c.read_value())

        async def read_pending():
            while board.db.characteristics[char].pending_read is None:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(read_pending(), 10)  # the read waits behind the write callback
        release.set()
        assert await read == b"W1"
        assert await c.read_value() == b"R"  # the next read is answered by its own callback


async def test_stopped_and_unstarted_services_are_invisible(board, hub):
    started = await rpc(board, "service", 0x181B, True, 1, True)
    later = await rpc(board, "service", 0x181E, True, 1, False)  # start=False
    await rpc(board, "characteristic", later, 0x2A72, None, None, 1)
    await rpc(board, "advertise", True)
    async with bumble_host(hub.transport) as (device, _):
        peer = Peer(await device.connect(BOARD, timeout=10))

        async def visible() -> set[UUID]:
            return {s.uuid for s in await peer.discover_services()} & {
                UUID.from_16_bits(0x181B),
                UUID.from_16_bits(0x181E),
            }

        assert await visible() == {UUID.from_16_bits(0x181B)}
        await rpc(board, "service_start", later)
        await rpc(board, "service_stop", started)
        assert await visible() == {UUID.from_16_bits(0x181E)}
