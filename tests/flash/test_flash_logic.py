"""Pieces of `pytool flash` that need no chip: banner wait, boot verdict, erase-skip expectation, board check."""

from __future__ import annotations

import pytest

from pytool.firmware import FirmwareIdentity, FlashPlan, FlashWrite, identify
from pytool.flash import FlashError, FlashResult, _boot_verdict, _check_board, _expected_after, wait_for_banner

LOPY4 = "Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32"


def ident(banner: str = LOPY4) -> FirmwareIdentity:
    found = identify(banner.encode())
    assert found is not None
    return found


def feeder(chunks: list[bytes]):
    sent: list[bytes] = []

    def read() -> bytes:
        return chunks.pop(0) if chunks else b""

    return read, sent.append, sent


def test_banner_found_across_chunks():
    read, write, sent = feeder(
        [
            b"ets Jun  8 2016\r\nPycom Micro",
            b"Python 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; Lo",
            b"Py4 with ESP32\r\n>>> ",
        ]
    )
    assert wait_for_banner(read, write, timeout=5) == LOPY4
    assert sent == []  # found without nudging the REPL


def test_banner_nudges_repl_when_quiet():
    chunks: list[bytes] = []
    sent: list[bytes] = []

    def read() -> bytes:
        return chunks.pop(0) if chunks else b""

    def write(data: bytes) -> None:
        sent.append(data)
        chunks.append(b"\r\n" + LOPY4.encode() + b"\r\n>>> ")

    assert wait_for_banner(read, write, timeout=0.6) == LOPY4
    assert sent == [b"\r\x03\x03\x02"]  # Ctrl-C twice, then Ctrl-B: never Ctrl-F (0x06)


def test_no_banner_leaves_what_the_board_printed_instead():
    read, write, _ = feeder([b"ets Jun  8 2016 00:22:57\r\n", b"rst:0x10 (RTCWDT_RTC_RESET)\r\nTraceback"])
    seen = bytearray()
    assert wait_for_banner(read, write, timeout=0.3, seen=seen) is None
    assert bytes(seen) == b"ets Jun  8 2016 00:22:57\r\nrst:0x10 (RTCWDT_RTC_RESET)\r\nTraceback"


def test_banner_asked_again_when_the_first_request_gets_no_answer():
    chunks: list[bytes] = []
    sent: list[bytes] = []

    def read() -> bytes:
        return chunks.pop(0) if chunks else b""

    def write(data: bytes) -> None:  # the first request is swallowed (the firmware was still starting)
        sent.append(data)
        if len(sent) == 2:
            chunks.append(b"\r\n" + LOPY4.encode() + b"\r\n>>> ")

    assert wait_for_banner(read, write, timeout=0.9) == LOPY4
    assert sent == [b"\r\x03\x03\x02"] * 2


def test_no_banner_returns_none():
    read, write, _ = feeder([b"rst:0x10 (RTCWDT_RTC_RESET)\r\ninvalid header: 0xffffffff\r\n"])
    assert wait_for_banner(read, write, timeout=0.3) is None


def test_boot_verdicts():
    assert _boot_verdict(ident(), LOPY4, "LoPy4") == "ok"
    assert "no firmware banner" in _boot_verdict(ident(), None, "LoPy4")
    other = LOPY4.replace("1.20.2.r4", "1.20.1")
    assert _boot_verdict(ident(), other, "LoPy4") == "running LoPy4 1.20.1, expected LoPy4 1.20.2.r4"
    assert _boot_verdict(ident(), LOPY4, "FiPy") == "LoPy4 firmware runs on a FiPy"


def test_expected_after_overlays_writes_on_erased():
    plan = FlashPlan("8MB", "script", [FlashWrite("0x1000", 0x1000, b"AB", "b", 2)], [(0x0, 0x4000)])
    data = _expected_after(plan, 0, 0x4000)
    assert data[0x1000:0x1002] == b"AB" and data.count(b"\xff") == 0x4000 - 2


def result() -> FlashResult:
    return FlashResult(False, "p", "f", "LoPy4", "1.20.2.r4", None, "8MB", "script_8MB", "mac")


class FW:
    def __init__(self, banner: str) -> None:
        self.identity = ident(banner)
        self.board_name = self.identity.board_name
        self.source = "fw.tar.gz"


def test_wrong_board_refused_and_forced():
    fipy = FW(LOPY4.replace("LoPy4", "FiPy"))
    with pytest.raises(FlashError, match="FiPy firmware but the module is a LoPy4"):
        _check_board(fipy, "LoPy4", "simulator", False, result())
    r = result()
    _check_board(fipy, "LoPy4", "simulator", True, r)
    assert any("--force" in n for n in r.notes)


def test_unknown_target_is_noted_not_refused():
    r = result()
    _check_board(FW(LOPY4), None, "unknown", False, r)
    assert r.notes and "checked after the reset" in r.notes[0]


class RecordingEsp:
    """Stands in for esptool's loader object: records baud changes and reads (the protocol is tested elsewhere)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def change_baud(self, baud: int) -> None:
        self.calls.append(("baud", baud))

    def read_flash(self, offset: int, size: int) -> bytes:
        self.calls.append(("read", offset, size))
        return b"\xff" * size


@pytest.mark.parametrize(
    ("strategy", "baud", "expected"),
    [
        ("pic", 921600, [("baud", 230400), ("read", 0x3FF000, 16), ("baud", 921600)]),
        ("pic", 115200, [("read", 0x3FF000, 16)]),
        ("dtr-rts", 921600, [("read", 0x3FF000, 16)]),
    ],
)
def test_reads_through_a_pic_are_capped_at_230400(strategy, baud, expected):
    from pytool.flash import Session
    from pytool.ports import Target
    from pytool.reset import strategy_for

    esp = RecordingEsp()
    session = Session(esp, Target("p", "p", strategy, "x"), strategy_for(strategy), baud, 0x800000, "mac")
    assert session.read(0x3FF000, 16) == b"\xff" * 16
    assert esp.calls == expected


def test_corrupt_single_image_refused_before_touching_the_port(tmp_path):
    from pytool.firmware import load_firmware
    from pytool.firmware.build import build_micropython_image
    from pytool.flash import FlashOptions, flash
    from pytool.ports import Target

    good = build_micropython_image()
    bad = tmp_path / "corrupt.bin"
    bad.write_bytes(good[:0x20000] + bytes([good[0x20000] ^ 1]) + good[0x20001:])
    nowhere = Target("/dev/nonexistent", "/dev/nonexistent", "dtr-rts", "x")
    with pytest.raises(FlashError, match=r"not a bootable merged image \(no valid app image \(factory: checksum"):
        flash(load_firmware(bad), nowhere, FlashOptions())
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(good[: len(good) // 3])
    with pytest.raises(FlashError, match="not a bootable merged image"):
        flash(load_firmware(truncated), nowhere, FlashOptions())
