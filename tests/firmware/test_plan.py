"""Flash plans (`pytool.firmware.plan`): script selection by flash size, padding, otadata, the config block
kept out, archives that do not fit refused."""

from __future__ import annotations

import json

import pytest
from support.firmware import built, load_firmware_from

from pytool.boards import layouts
from pytool.firmware import (
    CONFIG_BLOCK,
    FirmwareError,
    parse_boot_info,
    plan_archive,
)

MB4, MB8 = 0x400000, 0x800000


def test_script_selection_by_flash_size_and_fallbacks():
    fw = load_firmware_from(built("wipy2"))
    assert plan_archive(fw, MB4).script == "script_4MB"
    assert plan_archive(fw, MB8).script == "script_8MB"
    fw.files.pop("script_8MB")
    plan = plan_archive(fw, MB8)
    assert plan.script == "script2"  # WiPy script2 is the 4MB one: fine on an 8MB chip
    fw.files.pop("script2")
    plan = plan_archive(fw, MB8)
    assert plan.script == "script"
    assert (0x1000, 0x40000) in plan.erases and all(off < 0x201000 for off, _ in plan.erases)


def test_lopy4_script2_bug_survived_by_resolving_the_app():
    fw = load_firmware_from(built("lopy4"))
    fw.files.pop("script_8MB")
    plan = plan_archive(fw, MB8)
    assert plan.script == "script2"
    app = next(w for w in plan.writes if w.label == "factory")
    assert app.file == "lopy4.bin" and any("fipy.bin" in n for n in plan.notes)


def test_plan_pads_app_writes_otadata_and_avoids_config_block():
    fw = load_firmware_from(built("lopy4"))
    plan = plan_archive(fw, MB8)
    lay = layouts()["8MB"]
    by_label = {w.label: w for w in plan.writes}
    assert by_label["factory"].offset == lay.factory.offset and len(by_label["factory"].data) == lay.factory.size
    assert by_label["factory"].data[by_label["factory"].file_size :] == b"\xff" * (
        lay.factory.size - by_label["factory"].file_size
    )
    info = parse_boot_info(by_label["otadata"].data[:40])
    assert info is not None and info.active_img == 0 and info.status == 1
    cb_start, cb_size = CONFIG_BLOCK
    for w in plan.writes:
        assert w.end <= cb_start or w.offset >= cb_start + cb_size


def test_8mb_only_archive_refused_on_4mb_module():
    fw = load_firmware_from(built("lopy4"))
    with pytest.raises(FirmwareError, match="for 8MB modules and does not fit this 4MB module"):
        plan_archive(fw, MB4)


def test_app_too_large_for_partition(tmp_path):
    files = dict(built("sipy"))
    files["sipy.bin"] = files["sipy.bin"] + b"\0" * 0x100000  # still a valid image prefix, too big for 4MB factory
    fw = load_firmware_from(files)
    with pytest.raises(FirmwareError, match="too large for the 'factory' partition"):
        plan_archive(fw, MB4)


def test_script_writing_config_block_refused():
    files = dict(built("lopy4"))
    s = json.loads(files["script_8MB"])
    s["script"].append(["w", "config", "partitions_8MB.bin"])
    files["script_8MB"] = json.dumps(s).encode()
    with pytest.raises(FirmwareError, match="config block"):
        plan_archive(load_firmware_from(files), MB8)


def test_unknown_script_format(tmp_path):
    files = dict(built("lopy4"))
    files["script_8MB"] = json.dumps({"version": "3.0", "steps": []}).encode()
    with pytest.raises(FirmwareError, match=r"unknown format \(version 3.0\)"):
        plan_archive(load_firmware_from(files), MB8)
