"""Reading firmware (`pytool.firmware.archive`): the safety corpus of malicious and broken archives, folders
and single images."""

from __future__ import annotations

import tarfile

import pytest
from support.firmware import built, load_firmware_from, make_archive

from pytool.firmware import (
    FirmwareError,
    load_firmware,
    plan_archive,
    read_archive,
)
from pytool.firmware.build import build_pycom_archive, write_archive

MB4, MB8 = 0x400000, 0x800000


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
