"""Pycom archives: members and order per board, scripts, safe reading, script selection, flash plans."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from fw_fixtures import built

from pytool import cli
from pytool.boards import catalogue, layouts
from pytool.errors import PytoolError
from pytool.firmware import (
    CONFIG_BLOCK,
    FirmwareError,
    load_firmware,
    parse_boot_info,
    plan_archive,
    read_archive,
)
from pytool.firmware.build import build_pycom_archive, write_archive

MB4, MB8 = 0x400000, 0x800000

EXPECTED_MEMBERS = {  # reference 1.1: tar order boot, part4MB, part8MB, app, script4MB, script8MB, script, script2
    "lopy4": ["bootloader.bin", "partitions_8MB.bin", "lopy4.bin", "script_8MB", "script", "script2"],
    "gpy": ["bootloader.bin", "partitions_8MB.bin", "gpy.bin", "script_8MB", "script", "script2"],
    "fipy": ["bootloader.bin", "partitions_8MB.bin", "fipy.bin", "script_8MB", "script", "script2"],
    "lopy": [
        "bootloader.bin",
        "partitions_4MB.bin",
        "partitions_8MB.bin",
        "lopy.bin",
        "script_4MB",
        "script_8MB",
        "script",
        "script2",
    ],
    "wipy3": [
        "bootloader.bin",
        "partitions_4MB.bin",
        "partitions_8MB.bin",
        "wipy.bin",
        "script_4MB",
        "script_8MB",
        "script",
        "script2",
    ],
    "sipy": ["bootloader.bin", "partitions_4MB.bin", "sipy.bin", "script_4MB", "script", "script2"],
}


def make_archive(tmp_path, members: list[tuple[str, bytes]], name="fw.tar.gz", **info) -> str:
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members:
            ti = tarfile.TarInfo(member)
            ti.size = len(data)
            for k, v in info.items():
                setattr(ti, k, v)
            tar.addfile(ti, io.BytesIO(data))
    return str(path)


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


def load_firmware_from(files: dict[str, bytes], tmp=[]):  # noqa: B006 - tiny memo of a temp dir
    import tempfile
    from pathlib import Path

    if not tmp:
        tmp.append(Path(tempfile.mkdtemp()))
    path = tmp[0] / f"fw{len(list(tmp[0].iterdir()))}.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return load_firmware(path)


# ------------------------------------------------------------------------------------ safety corpus


def test_dotdot_member_rejected(tmp_path):
    path = make_archive(tmp_path, [("../evil.bin", b"x"), ("script", b"[]")])
    with pytest.raises(FirmwareError, match=r"'\.\.' component"):
        read_archive(__import__("pathlib").Path(path))
    assert not (tmp_path.parent / "evil.bin").exists()


def test_absolute_member_rejected(tmp_path):
    path = make_archive(tmp_path, [("/tmp/evil.bin", b"x")])
    with pytest.raises(FirmwareError, match="absolute"):
        load_firmware(path)


def test_symlink_member_rejected(tmp_path):
    path = make_archive(tmp_path, [("bootloader.bin", b"")], type=tarfile.SYMTYPE, linkname="/etc/passwd")
    with pytest.raises(FirmwareError, match="is a link"):
        load_firmware(path)


def test_oversized_member_rejected_without_reading_it(tmp_path):
    # a header claiming 64 MiB followed by nothing: refused from the header alone
    ti = tarfile.TarInfo("lopy4.bin")
    ti.size = 64 * 1024 * 1024
    raw = ti.tobuf(format=tarfile.GNU_FORMAT)
    path = tmp_path / "big.tar"
    path.write_bytes(raw + b"\0" * 1024)
    with pytest.raises(FirmwareError, match="larger than any ESP32 flash"):
        load_firmware(path)


def test_truncated_archive(tmp_path):
    good = tmp_path / "good.tar.gz"
    write_archive(build_pycom_archive("lopy4", "1.20.2.r4"), good)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FirmwareError, match=r"corrupt or truncated|truncated"):
        load_firmware(cut)


def test_corrupt_archive(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 100)
    with pytest.raises(FirmwareError, match="corrupt or truncated"):
        load_firmware(bad)


def test_not_a_firmware_archive(tmp_path):
    path = make_archive(tmp_path, [("README.txt", b"hello")])
    with pytest.raises(FirmwareError, match="not a Pycom firmware archive"):
        load_firmware(path)


def test_invalid_app_in_archive(tmp_path):
    files = dict(built("lopy4"))
    files["lopy4.bin"] = b"\xe9" + files["lopy4.bin"][1:100]
    with pytest.raises(FirmwareError, match="not a valid ESP32 app image"):
        load_firmware_from(files)


# ------------------------------------------------------------------------------------ CLI


def test_cli_build_and_info_json(tmp_path, capsys):
    out = tmp_path / "LoPy4-1.20.2.r4.tar.gz"
    assert cli.run(["firmware", "build", "--board", "lopy4", "--version", "1.20.2.r4", "-o", str(out)]) == 0
    capsys.readouterr()
    assert cli.run(["--json", "firmware", "info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["board"], info["version"], info["flavour"]) == ("LoPy4", "1.20.2.r4", "pycom")
    assert [f["name"] for f in info["files"]] == EXPECTED_MEMBERS["lopy4"]
    writes = info["layouts"]["8MB"]["writes"]
    assert [(w["offset"], w["file"]) for w in writes] == [
        (0x1000, "bootloader.bin"),
        (0x8000, "partitions_8MB.bin"),
        (0x10000, "lopy4.bin"),
        (0x1FF000, None),
    ]


def test_cli_micropython_image(tmp_path, capsys):
    out = tmp_path / "mp.bin"
    assert cli.run(["firmware", "build", "--flavour", "micropython", "-o", str(out)]) == 0
    capsys.readouterr()
    assert cli.run(["--json", "firmware", "info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["image_kind"], info["offset"], info["valid"], info["board"]) == ("merged", 0x1000, True, "ESP32")


@pytest.mark.parametrize(
    "argv",
    [
        ["firmware", "build", "--board", "nopy"],
        ["firmware", "build", "--board", "lopy4", "--version", "9.9.9"],
        ["firmware", "info", "/nonexistent/x.tar.gz"],
    ],
)
def test_cli_bad_input_one_line(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.run(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("Error:") == 1 and "Traceback" not in err


def test_cli_truncated_archive_exit_1(tmp_path, capsys):
    bad = tmp_path / "LoPy4-x.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"\0" * 50)
    assert cli.run(["firmware", "info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "corrupt or truncated" in err and "Traceback" not in err


def test_pytool_error_is_base():
    assert issubclass(FirmwareError, PytoolError)


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


def test_folder_and_single_images(tmp_path):
    from pytool.firmware import image_kind

    folder = tmp_path / "LoPy4-1.20.2.r4"
    folder.mkdir()
    for name, data in built("lopy4").items():
        (folder / name).write_bytes(data)
    fw = load_firmware(folder)
    assert fw.kind == "pycom" and fw.app_name == "lopy4.bin" and fw.board_name == "LoPy4"
    assert plan_archive(fw, MB8).script == "script_8MB"
    app = tmp_path / "lopy4.bin"
    app.write_bytes(built("lopy4")["lopy4.bin"])
    fw = load_firmware(app)
    assert (fw.kind, fw.image_kind, fw.image_offset, fw.board_name) == ("image", "app", 0x10000, "LoPy4")
    assert image_kind(b"\x00" * 64) == ("raw", 0x10000)


def test_info_reports_a_broken_merged_image(tmp_path, capsys):
    from pytool.firmware.build import build_micropython_image

    image = build_micropython_image()
    path = tmp_path / "broken.bin"
    path.write_bytes(image[:0x7020] + b"\0" * 32 + image[0x7040:])  # 2nd partition table entry zeroed
    assert cli.run(["--json", "firmware", "info", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["valid"] is False and "partition table" in info["problem"]
