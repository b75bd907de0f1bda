"""A board without a raw REPL prompt: its state told from what it printed (pytool.board_state.verdict), on the
texts the ESP32 ROM and ESP-IDF's bootloader print, and a port that says nothing at all."""

from __future__ import annotations

import socket
import threading

import pytest

from pytool import board_state
from pytool.board import BoardSession
from pytool.errors import PytoolError
from pytool.ports import Target, resolve_port

ROM = b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
LOADER = b"configsip: 0, SPIWP:0xee\r\nmode:DIO, clock div:1\r\nload:0x3fff0018,len:4\r\nentry 0x40078a5c\r\n"
TARGET = Target("/dev/ttyUSB0", "/dev/ttyUSB0", "dtr-rts", "Silicon Labs CP210x")

CASES = {
    "download": (
        ROM.replace(b"0x13 (SPI_FAST_FLASH_BOOT)", b"0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))")
        + b"waiting for download\r\n",
        "is in its ROM download mode (waiting for download)",
    ),
    "blank": (ROM + b"invalid header: 0xffffffff\r\n" * 3, "has no bootloader and no firmware: its flash is blank"),
    "blank, older ROM text": (ROM + b"flash read err, 1000\r\nets_main.c 371 \r\n", "flash is blank or erased"),
    "damaged bootloader": (ROM + b"invalid header: 0x3fff0030\r\n", "has a damaged bootloader"),
    "app erased": (
        ROM + LOADER + b"E (50) esp_image: image at 0x10000 has invalid magic byte\r\n"
        b"E (50) boot: factory app partition is not bootable\r\n"
        b"E (60) boot: No bootable app partitions in the partition table\r\n",
        "is erased: the bootloader finds no app to start",
    ),
    "half-flashed": (
        ROM + LOADER + b"E (463) esp_image: Checksum failed. Calculated 0x7f read 0xee\r\n"
        b"E (467) boot: Factory app partition is not bootable\r\n",
        "does not boot: its firmware is damaged or half-flashed (E (463) esp_image: Checksum failed",
    ),
    "program": (ROM + LOADER + b"tick\r\ntick\r\n", "boots, but its program does not stop on Ctrl-C"),
}


@pytest.mark.parametrize("state", list(CASES))
def test_each_state_has_its_own_line(state):
    text, expected = CASES[state]
    found = board_state.verdict(TARGET, text)
    assert found is not None and expected in str(found) and "\n" not in str(found)
    assert found.hint  # and says what to do


def test_only_the_last_boot_counts():
    text = CASES["half-flashed"][0] + CASES["program"][0]  # it was re-flashed meanwhile and now boots
    assert "does not stop on Ctrl-C" in str(board_state.verdict(TARGET, text))


def test_text_without_boot_output_tells_nothing():
    assert board_state.verdict(TARGET, b"tick\r\ntick\r\n") is None


def test_a_port_that_says_nothing(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    target = resolve_port(f"socket://127.0.0.1:{server.getsockname()[1]}")
    try:
        with pytest.raises(PytoolError) as caught:
            BoardSession.connect(target, timeout=3)
    finally:
        for conn in held:
            conn.close()
        server.close()
    assert str(caught.value).startswith(f"the board on {target.spec} prints nothing - ")
