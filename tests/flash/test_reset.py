"""Reset strategies (`pytool.reset`): one per name the port discovery hands out, each doing its board's bootloader
entry and exit; the PIC one at the byte level against the fake PIC."""

from __future__ import annotations

import pytest
from support.fake_pic import FakePic

from pytool import pic, ports
from pytool.errors import PytoolError, UsageError
from pytool.ports import Target
from pytool.reset import STRATEGIES, DtrRtsReset, ManualReset, PicReset, ResetStrategy, strategy_for


def test_every_strategy_name_ports_hands_out_has_a_class():
    names = {f.reset for f in ports.USB_FAMILIES.values()} | {ports.SIM_FAMILY.reset, ports.UNKNOWN_FAMILY.reset}
    assert names <= set(ports.RESET_STRATEGIES) == set(STRATEGIES)
    for name in ports.RESET_STRATEGIES:
        strategy = strategy_for(name)
        assert isinstance(strategy, ResetStrategy) and strategy.name == name


def test_unknown_name_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown reset strategy 'jtag'"):
        strategy_for("jtag")


def test_a_pic_in_dfu_mode_is_refused_with_a_hint():
    port = Target("/dev/ttyACM0", "/dev/ttyACM0", "none", "Pytrack (DFU)")
    with pytest.raises(PytoolError, match=r"cannot reach the ESP32 \(Pytrack \(DFU\)\)") as info:
        strategy_for("none").enter_bootloader(port, lambda _: None)
    assert "replug" in (info.value.hint or "")


def test_connection_settings_differ_where_the_boards_do():
    assert DtrRtsReset.esptool_before == "default-reset"  # esptool resets the chip itself on connect
    assert {strategy_for(n).esptool_before for n in ("pic", "manual", "sim")} == {"no-reset"}
    assert ManualReset.connect_patience > 0 and ManualReset.connect_attempts == 1  # a person needs time
    assert PicReset.max_read_baud == pic.MAX_READ_BAUD and DtrRtsReset.max_read_baud is None


class _Esp:
    """esptool's loader as far as the strategies use it."""

    def __init__(self) -> None:
        self.hard_resets = 0
        self._port = self

    def hard_reset(self) -> None:
        self.hard_resets += 1

    def close(self) -> None:
        self.closed = True


def test_dtr_rts_leaves_the_bootloader_with_esptools_hard_reset():
    esp = _Esp()
    strategy_for("dtr-rts").run_firmware(esp, Target("p", "p", "dtr-rts", "x"))
    assert esp.hard_resets == 1


def test_pic_strategy_enters_and_leaves_the_bootloader_through_the_pic(monkeypatch):
    fake = FakePic()
    monkeypatch.setattr(pic.Pic, "open", classmethod(lambda cls, url: cls(fake, sleep=lambda _: None)))
    said: list[str] = []
    port = Target("/dev/ttyACM0", "/dev/ttyACM0", "pic", "Pytrack")
    strategy = strategy_for("pic")
    strategy.enter_bootloader(port, said.append)
    assert fake.boots == ["download"]
    assert said == ["Expansion board PIC: product 0xF013, hardware 3, firmware 0.0.10"]
    esp = _Esp()
    strategy.run_firmware(esp, port)
    assert esp.closed  # esptool's 8-bit handle is closed before the PIC is spoken to
    assert fake.boots == ["download", "flash"] and fake.gpio0 == 1
