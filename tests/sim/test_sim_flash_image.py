"""The flash image: erased = 0xFF, NOR programming (AND), sector erase, bounds, persistence, size checks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytool.errors import UsageError
from pytool.sim.flash_image import FlashBoundsError, FlashImage

SIZE = 0x10000


def test_new_image_is_erased_and_has_the_chip_size(tmp_path):
    with FlashImage(tmp_path / "f.bin", SIZE) as flash:
        assert flash.read(0, SIZE) == b"\xff" * SIZE
    assert (tmp_path / "f.bin").stat().st_size == SIZE


@settings(max_examples=50, deadline=None)
@given(first=st.binary(min_size=1, max_size=64), second=st.binary(min_size=1, max_size=64), offset=st.integers(0, 64))
def test_programming_only_clears_bits(tmp_path_factory, first, second, offset):
    with FlashImage(tmp_path_factory.mktemp("nor") / "f.bin", 256) as flash:
        flash.write(offset, first)
        flash.write(offset, second)
        n = min(len(first), len(second))
        got = flash.read(offset, max(len(first), len(second)))
        assert got[:n] == bytes(a & b for a, b in zip(first, second, strict=False))
        longer = first if len(first) > len(second) else second
        assert got[n:] == longer[n:]


def test_erase_sets_ff_and_sector_erase_covers_whole_sectors(tmp_path):
    with FlashImage(tmp_path / "f.bin", SIZE) as flash:
        flash.write(0, b"\x00" * SIZE)
        flash.erase(0x10, 0x20)
        assert flash.read(0, 0x40) == b"\x00" * 0x10 + b"\xff" * 0x20 + b"\x00" * 0x10
        flash.erase_sectors(0x1800, 0x1000)  # touches sectors 0x1000 and 0x2000
        assert flash.read(0x1000, 0x2000) == b"\xff" * 0x2000
        assert flash.read(0xFFF, 1) == b"\x00"
        assert flash.read(0x3000, 1) == b"\x00"


@pytest.mark.parametrize(("offset", "length"), [(SIZE - 1, 2), (-1, 1), (SIZE, 1)])
def test_accesses_outside_the_chip_are_refused(tmp_path, offset, length):
    with FlashImage(tmp_path / "f.bin", SIZE) as flash:
        with pytest.raises(FlashBoundsError):
            flash.read(offset, length)
        with pytest.raises(FlashBoundsError):
            flash.write(offset, b"\x00" * length)
        with pytest.raises(FlashBoundsError):
            flash.erase(offset, length)
    assert (tmp_path / "f.bin").stat().st_size == SIZE  # never grown


def test_contents_persist_across_reopen(tmp_path):
    with FlashImage(tmp_path / "f.bin", SIZE) as flash:
        flash.write(0x1234, b"persist")
    with FlashImage(tmp_path / "f.bin", SIZE) as flash:
        assert flash.read(0x1234, 7) == b"persist"


def test_an_image_of_the_wrong_size_is_a_usage_error(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"\xff" * 100)
    with pytest.raises(UsageError, match="100 bytes"):
        FlashImage(tmp_path / "f.bin", SIZE)
