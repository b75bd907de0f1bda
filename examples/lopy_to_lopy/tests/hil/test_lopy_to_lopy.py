"""Over the air, board to board: the client board finds the server board, connects, reads and writes, and the
server board's callbacks see it all.

Needs two boards (real or simulated), one per role of pytool.toml's [[boards]]:

    pytest examples/lopy_to_lopy/tests/hil --board-port server=PORT1 --board-port client=PORT2 --deploy

Fixtures from the `pytool.hil` plugin: `boards` (role -> board: serial session with `expect`, `exec`, `eval`,
`reset`, and its Bluetooth `address`), `ble_client_for(board)` (a bleak client on the host connected to that
board, found by its address).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.hil

MESSAGE_UUID = "0000a003-0000-1000-8000-00805f9b34fb"  # 16-bit 0xA003
GREETING_UUID = "0000a001-0000-1000-8000-00805f9b34fb"
EXCHANGE_TIMEOUT = 40.0  # scan (up to 10 s), connect, discover, five reads and a write


def same_address(a: str, b: str) -> bool:
    return a.replace(":", "").upper() == b.replace(":", "").upper()


@pytest.fixture
def server(boards):
    """The server board, hard-reset: advertising, its counter and message list empty."""
    board = boards["server"]
    assert board.reset(main_timeout=20), "the server's main.py did not return to the REPL"
    board.expect(r"server: advertising as LoPy")
    return board


def test_client_board_connects_to_the_server_board_reads_and_writes(boards, server):
    client = boards["client"]
    assert client.reset(main_timeout=EXCHANGE_TIMEOUT), "the client's main.py did not finish its exchange"
    client.expect(r"client: done")
    result = client.eval("result")
    assert same_address(result["server"], server.address), (result["server"], server.address)
    assert not same_address(result["server"], client.address)
    assert result["greeting"] == b"Hi from the server"
    assert result["counts"] == [b"\x01", b"\x02"]  # the server's read callback answered 1, then 2
    assert result["read_back"] == result["wrote"] == b"Hi from the client"
    # the server board's callbacks ran, with the client's data
    server.expect(r"server: client connected")
    server.expect(r"server: counter read 1")
    server.expect(r"server: counter read 2")
    server.expect(r"server: message b'Hi from the client'")
    server.expect(r"server: client disconnected")
    assert server.eval("received") == [b"Hi from the client"]
    assert server.eval("reads") == 2


def test_the_server_advertises_again_and_keeps_counting_across_connections(boards, server):
    client = boards["client"]
    first = client.eval("exchange(b'one')", timeout=EXCHANGE_TIMEOUT)
    second = client.eval("exchange(b'two')", timeout=EXCHANGE_TIMEOUT)
    assert first["counts"] == [b"\x01", b"\x02"] and first["read_back"] == b"one"
    assert second["counts"] == [b"\x03", b"\x04"] and second["read_back"] == b"two"
    assert same_address(second["server"], server.address)
    server.expect(r"server: client disconnected")
    server.expect(r"server: client disconnected")
    assert server.eval("received") == [b"one", b"two"]
    assert server.count(r"server: client connected") == 2


async def test_the_host_reads_what_the_client_board_wrote(boards, server, ble_client_for):
    client = boards["client"]
    assert client.eval("exchange(b'for the host')", timeout=EXCHANGE_TIMEOUT)["read_back"] == b"for the host"
    server.expect(r"server: client disconnected")  # the server takes one client at a time
    host = await ble_client_for(server)
    assert same_address(host.address, server.address)
    assert bytes(await host.read_gatt_char(MESSAGE_UUID)) == b"for the host"
    assert bytes(await host.read_gatt_char(GREETING_UUID)) == b"Hi from the server"
