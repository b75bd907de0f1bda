"""The board catalogue matches the reference's flash layouts (pycom-platform.txt 1.1-1.3)."""

from __future__ import annotations

import itertools

import pytest

from pytool import boards
from pytool.errors import UsageError


def test_every_pycom_board_is_in_the_catalogue():
    names = {b.name for b in boards.catalogue().values()}
    assert {"WiPy", "LoPy", "LoPy4", "SiPy", "GPy", "FiPy"} <= names


@pytest.mark.parametrize(
    ("key", "size", "fs"),
    [
        ("lopy4", 8, (0x400000, 0x400000)),
        ("lopy", 4, (0x380000, 0x7F000)),
        ("sipy", 4, (0x380000, 0x7F000)),
        ("wipy3", 8, (0x400000, 0x400000)),
    ],
)
def test_flash_size_and_filesystem_region(key, size, fs):
    board = boards.get_board(key)
    assert board.flash_size == size * 1024 * 1024
    assert (board.layout.fs.offset, board.layout.fs.size) == fs


def test_config_block_is_at_the_same_place_on_both_sizes():
    for layout in boards.layouts().values():
        assert (layout.config.offset, layout.config.size) == (0x3FF000, 0x1000)
        assert layout.factory.offset == 0x10000 and layout.otadata.end <= layout.ota_0.offset


def test_regions_do_not_overlap():
    for layout in boards.layouts().values():
        regions = sorted(
            [layout.nvs, layout.factory, layout.otadata, layout.ota_0, layout.fs, layout.config],
            key=lambda r: r.offset,
        )
        for a, b in itertools.pairwise(regions):
            assert a.end <= b.offset, (layout.key, a, b)
        assert regions[-1].end <= layout.flash_size


def test_unknown_board_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown board 'nopy'"):
        boards.get_board("nopy")


def test_radios_for_uname():
    assert boards.get_board("lopy4").lorawan == "1.0.2" and boards.get_board("lopy4").sigfox == "1.0.1"
    assert boards.get_board("gpy").lorawan is None and boards.get_board("sipy").sigfox == "1.0.1"
