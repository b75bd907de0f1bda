"""The scan -> connect path never loses its controller (issue 17): quick cycles of scan, connect, read, disconnect.

Two radios: the simulator's hub (a controller per connection) and Bumble's stock virtual radio as
`bumble/apps/controllers.py tcp-server:... tcp-server:...` builds it: two controllers on a LocalLink, each behind
a stock `tcp-server` transport that serves one client at a time. On the stock radio a scan that closed its
transport and at once opened a new one for the client lost the new connection to the old one's close (its
HCI_Reset went unanswered): every cycle failed there before the close was made clean and awaited.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakBluetoothNotAvailableError
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket
from support.ble_peripheral import READ_CHAR, READ_VALUE, Peripheral
from support.ble_radio import Radio

from pytool.ble import BumbleClient, BumbleScanner
from pytool.ble import host as ble_host

pytestmark = pytest.mark.timeout(240)

CYCLES = 30


class StockRadio:
    """Bumble's stock virtual radio: controllers on a LocalLink behind single-client tcp-server transports."""

    def __init__(self, radio: Radio) -> None:
        self.radio = radio  # borrowed for its background loop only
        self.link = LocalLink()
        self.transports = []

    async def add_controller(self, name: str) -> str:
        """A controller on the link behind a tcp-server on 127.0.0.1; returns the tcp-client transport name."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        transport = await open_tcp_server_transport_with_socket(sock)
        self.transports.append(transport)
        Controller(name, host_source=transport.source, host_sink=transport.sink, link=self.link)
        return f"tcp-client:127.0.0.1:{port}"

    async def close(self) -> None:
        for transport in self.transports:
            transport.server.close()
            await transport.close()


@pytest.fixture(scope="module")
def stock_radio(radio: Radio) -> Iterator[tuple[str, Peripheral]]:
    """(the tester's transport, a plain Bumble peripheral) on Bumble's stock virtual radio."""
    stock = StockRadio(radio)
    periph_transport = radio.call(stock.add_controller("peripheral"))
    tester_transport = radio.call(stock.add_controller("tester"))
    peripheral = Peripheral(periph_transport, "stock-periph")
    radio.call(peripheral.start())
    yield tester_transport, peripheral
    radio.call(peripheral.stop())
    radio.call(stock.close())


async def _cycles(transport: str, address: str) -> list[str]:
    """CYCLES rounds of scan, connect, read, disconnect; the outcome of each ('ok' or the error)."""
    options = {"transport": transport}
    outcomes = []
    for _ in range(CYCLES):
        try:
            device = await BleakScanner.find_device_by_address(
                address, timeout=10, backend=BumbleScanner, bumble=options
            )
            assert device is not None, "not found"
            async with BleakClient(device, backend=BumbleClient, bumble=options, timeout=10) as client:
                assert await client.read_gatt_char(READ_CHAR) == READ_VALUE
            outcomes.append("ok")
        except Exception as error:  # every failure is reported, not just the first
            outcomes.append(f"{type(error).__name__}: {error}")
    return outcomes


async def test_scan_then_connect_cycles_on_a_single_client_hci_server(stock_radio):
    transport, peripheral = stock_radio
    outcomes = await _cycles(transport, peripheral.address)
    assert outcomes == ["ok"] * CYCLES, [o for o in outcomes if o != "ok"]
    assert ble_host.open_hosts() == []


async def test_scan_then_connect_cycles_on_the_simulator_hub(radio, peripheral):
    outcomes = await _cycles(radio.transport, peripheral.address)
    assert outcomes == ["ok"] * CYCLES, [o for o in outcomes if o != "ok"]
    assert ble_host.open_hosts() == []


# -- the real cause of a transport that does not work ----------------------------------------------------------


async def _silent_server(close_at_once: bool) -> tuple[asyncio.Server, str]:
    """A TCP server on 127.0.0.1 that accepts and then never answers (or closes each connection at once)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if close_at_once:
            writer.close()
            return
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"tcp-client:127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_a_transport_where_nothing_speaks_hci_says_hci_reset_got_no_answer(monkeypatch):
    monkeypatch.setattr(ble_host, "POWER_ON_TIMEOUT", 0.5)
    server, transport = await _silent_server(close_at_once=False)
    try:
        with pytest.raises(BleakBluetoothNotAvailableError) as error:
            await BleakScanner.discover(timeout=0.1, backend=BumbleScanner, bumble={"transport": transport})
    finally:
        server.close()
    assert f"no Bluetooth controller answered on {transport}: HCI_Reset got no answer within 0.5 s" in str(error.value)
    assert "busy with another client" in error.value.hint


async def test_a_transport_closed_by_the_other_end_says_so():
    server, transport = await _silent_server(close_at_once=True)
    try:
        with pytest.raises(BleakBluetoothNotAvailableError) as error:
            await BleakScanner.discover(timeout=0.1, backend=BumbleScanner, bumble={"transport": transport})
    finally:
        server.close()
    assert "the other end closed the connection during the HCI reset" in str(error.value)
    assert "one client at a time" in error.value.hint
