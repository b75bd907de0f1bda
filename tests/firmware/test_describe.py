"""`pytool firmware build` / `info` (`pytool.firmware.describe`): JSON output, bad input in one line, broken
images reported."""

from __future__ import annotations

import json

import pytest
from support.firmware import EXPECTED_MEMBERS

from pytool import cli
from pytool.errors import PytoolError
from pytool.firmware import (
    FirmwareError,
)

MB4, MB8 = 0x400000, 0x800000


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


def test_info_reports_a_broken_merged_image(tmp_path, capsys):
    from pytool.firmware.build import build_micropython_image

    image = build_micropython_image()
    path = tmp_path / "broken.bin"
    path.write_bytes(image[:0x7020] + b"\0" * 32 + image[0x7040:])  # 2nd partition table entry zeroed
    assert cli.run(["--json", "firmware", "info", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["valid"] is False and "partition table" in info["problem"]
