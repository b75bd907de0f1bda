"""Built simulator firmware (`pytool.firmware.build`): archive members in makepkg's order, Pycom's flash
scripts with their packaging bugs, every catalogue board built, identified and planned."""

from __future__ import annotations

import json
import tarfile

import pytest
from support.firmware import EXPECTED_MEMBERS, built

from pytool.boards import catalogue, layouts
from pytool.firmware import (
    load_firmware,
)
from pytool.firmware.build import build_pycom_archive, write_archive

MB4, MB8 = 0x400000, 0x800000


@pytest.mark.parametrize("board", sorted(EXPECTED_MEMBERS))
def test_members_in_makepkg_order(tmp_path, board):
    files = build_pycom_archive(board, "1.20.2.r4")
    out = tmp_path / "a.tar.gz"
    write_archive(files, out)
    with tarfile.open(out) as tar:
        assert tar.getnames() == EXPECTED_MEMBERS[board]


def test_scripts_are_pycom_v21_and_legacy():
    files = built("lopy4")
    s8 = json.loads(files["script_8MB"])
    assert s8["version"] == "2.1"
    assert s8["partitions"] == {
        "factory": ["0x10000", "0x1EF000"],
        "ota_0": ["0x210000", "0x1EF000"],
        "otadata": ["0x1FF000", "0x1000"],
    }
    assert s8["script"] == [
        ["w", "bootloader", "bootloader.bin"],
        ["w", "partitions", "partitions_8MB.bin"],
        ["w", "factory", "lopy4.bin"],
    ]
    legacy = json.loads(files["script"])
    assert [op[1] for op in legacy if op[0] == "e"] == [
        "0x1000",
        "0x41000",
        "0x81000",
        "0xC1000",
        "0x101000",
        "0x141000",
        "0x181000",
        "0x1C1000",
    ]
    assert legacy[-3:] == [
        ["w", "0x1000", "bootloader.bin"],
        ["w", "0x8000", "partitions_8MB.bin"],
        ["w", "0x10000", "lopy4.bin"],
    ]


@pytest.mark.parametrize(("board", "bug"), [("lopy4", True), ("gpy", True), ("fipy", False), ("lopy", False)])
def test_script2_fipy_packaging_bug_reproduced(board, bug):
    script2 = json.loads(built(board)["script2"])
    factory = next(c for c in script2["script"] if c[1] == "factory")
    app = catalogue()[board].app
    assert factory[2] == ("fipy.bin" if bug else app)


@pytest.mark.parametrize("board", [k for k, b in catalogue().items() if b.is_pycom])
def test_every_catalogue_board_builds_identifies_and_plans(tmp_path, board):
    """Build + info + script selection for every Pycom board and each flash size it has archives for."""
    from pytool.firmware import describe

    spec = catalogue()[board]
    path = tmp_path / f"{spec.name}-1.20.2.r4.tar.gz"
    write_archive(build_pycom_archive(board, "1.20.2.r4"), path)
    info = describe(load_firmware(path))
    assert (info["board"], info["version"]) == (spec.name, "1.20.2.r4")
    assert sorted(info["layouts"]) == sorted(spec.archives)
    for key, lay in info["layouts"].items():
        layout = layouts()[key]
        assert lay["script"] == f"script_{key}"
        assert [(w["offset"], w["file"], w["padded"]) for w in lay["writes"]] == [
            (0x1000, "bootloader.bin", 0x7000),
            (0x8000, f"partitions_{key}.bin", 0x1000),
            (0x10000, spec.app, layout.factory.size),
            (layout.otadata.offset, None, 0x1000),
        ]
