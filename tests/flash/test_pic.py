"""The PIC bootloader-entry protocol at the byte level, against a fake PIC modelling the documented commands."""

from __future__ import annotations

import pytest
from support.fake_pic import PORTA, PORTC, RC0, RC5, TRISA, TRISC, FakePic

from pytool.pic import Pic, PicError

ENTER = bytes.fromhex(
    "028c00df0000"  # RA5 output
    "020c00df0000"  # RA5 low
    "028e00fe0000"  # RC0 output
    "020e00fe0000"  # RC0 low
    "028e00df0000"  # RC5 output
    "020e00df0000"  # RC5 low
    "020e00ff2000"  # RC5 high
    "028e00ff2000"  # RC5 input
)
EXIT = bytes.fromhex(
    "028c00df0000"  # RA5 output
    "020c00ff2000"  # RA5 high
    "028e00ff0100"  # RC0 input
    "028e00df0000"  # RC5 output
    "020e00df0000"  # RC5 low
    "020e00ff2000"  # RC5 high
    "028e00ff2000"  # RC5 input
)


def make() -> tuple[FakePic, Pic, list[float]]:
    fake = FakePic()
    sleeps: list[float] = []
    return fake, Pic(fake, sleep=sleeps.append), sleeps


def test_check_reads_versions():
    fake, pic, _ = make()
    assert pic.check() == (0xF013, 3, 10)
    assert bytes(fake.written) == bytes([0x11, 0x12, 0x10])


def test_old_pic_firmware_refused():
    fake, pic, _ = make()
    fake.fw_version = 5
    with pytest.raises(PicError, match="too old"):
        pic.check()


def test_no_pic_on_port():
    fake, pic, _ = make()
    fake.bytesize = 8  # a port without a PIC in command mode: nothing answers
    with pytest.raises(PicError, match="no PIC answered"):
        pic.check()


def test_enter_bootloader_exact_bytes_and_pin_states():
    fake, pic, sleeps = make()
    pic.enter_bootloader()
    assert bytes(fake.written) == ENTER
    assert sleeps == [0.2, 0.1]
    # module was reset with GPIO0 held low -> ROM download mode; RC0 left driving low, RC5 released
    assert fake.boots == ["download"]
    assert not fake.sfr[TRISC] & RC0 and not fake.sfr[PORTC] & RC0
    assert fake.sfr[TRISC] & RC5 and fake.en == 1
    assert not fake.sfr[TRISA] & 0x20 and not fake.sfr[PORTA] & 0x20


def test_exit_bootloader_releases_gpio0_and_boots_firmware():
    fake, pic, _ = make()
    pic.enter_bootloader()
    fake.written.clear()
    pic.exit_bootloader()
    assert bytes(fake.written) == EXIT
    assert fake.boots == ["download", "flash"]
    assert fake.sfr[TRISC] & RC0 and fake.gpio0 == 1  # RC0 input: GPIO0 released
    assert fake.sfr[PORTA] & 0x20  # RA5 high


def test_peek_poke():
    fake, pic, _ = make()
    pic.poke(PORTC, 0x5A)
    assert pic.peek(PORTC) == 0x5A
    assert bytes(fake.written) == bytes([0x01, 0x0E, 0x00, 0x5A, 0x00, 0x0E, 0x00])
