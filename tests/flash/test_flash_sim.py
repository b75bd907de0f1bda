"""`pytool flash` / `pytool erase` end to end: real esptool (in-process) against the simulated board."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path

import pytest
from support.cli import run_json as pytool
from support.sim import module_sim
from support.sim import read_flash_file as read_image

from pytool.boards import layouts
from pytool.firmware import boot_select
from pytool.firmware.build import build_pycom_archive, write_archive
from pytool.sim import SimControl, running_sim

pytestmark = pytest.mark.timeout(240)

L8 = layouts()["8MB"]
L4 = layouts()["4MB"]
CB = 0x3FF000


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("fw")
    paths = {}
    for key, board, version in [
        ("lopy4", "lopy4", "1.20.2.r4"),
        ("lopy4_old", "lopy4", "1.20.1"),
        ("fipy", "fipy", "1.20.2.r4"),
        ("sipy", "sipy", "1.20.2.r4"),
    ]:
        paths[key] = out / f"{key}.tar.gz"
        write_archive(build_pycom_archive(board, version), paths[key])
    return paths


@pytest.fixture(scope="module")
def sim8_proc(tmp_path_factory):
    with module_sim(tmp_path_factory, "lopy4", "flash8") as (rec, state, _data):
        yield rec, state


@pytest.fixture(scope="module")
def sim4_proc(tmp_path_factory):
    with module_sim(tmp_path_factory, "sipy", "flash4") as (rec, state, _data):
        yield rec, state


@pytest.fixture
def sim8(sim8_proc, monkeypatch):
    rec, state = sim8_proc
    monkeypatch.setenv("PYTOOL_STATE_DIR", str(state))
    return rec


@pytest.fixture
def sim4(sim4_proc, monkeypatch):
    rec, state = sim4_proc
    monkeypatch.setenv("PYTOOL_STATE_DIR", str(state))
    return rec


def image_md5(rec) -> str:
    """MD5 of everything but the /flash filesystem (which the running firmware may be writing)."""
    data = Path(rec.flash).read_bytes()
    fs = (L8 if len(data) == L8.flash_size else L4).fs
    return hashlib.md5(data[: fs.offset] + data[fs.end :]).hexdigest()


def esptool_write(rec, offset: int, data: bytes, tmp_path: Path) -> None:
    """Put bytes into the simulated flash with the esptool CLI code path (as a user would), then reset."""
    import esptool

    blob = tmp_path / f"blob{offset:x}.bin"
    blob.write_bytes(data)
    SimControl(rec.control).reset(bootloader=True)
    esptool.main(
        ["--port", rec.pty, "--before", "no-reset", "--after", "no-reset", "write-flash", hex(offset), str(blob)]
    )
    SimControl(rec.control).reset()


def booted(rec) -> str | None:
    """What the simulated board identified at its last boot (its own boot_select)."""
    return SimControl(rec.control).status()["firmware"]


def test_flash_8mb_board_end_to_end_then_reflash_skips(sim8, archives, capsys, tmp_path):
    code, doc, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", str(archives["lopy4"]))
    assert code == 0, err
    assert doc["ok"] and doc["board"] == "LoPy4" and doc["target_board"] == "LoPy4"
    assert doc["flash_size"] == "8MB" and doc["script"] == "script_8MB"
    assert [(r["offset"], r["action"]) for r in doc["regions"]] == [
        (0x1000, "written"),
        (0x8000, "written"),
        (0x10000, "written"),
        (L8.otadata.offset, "written"),
    ]
    assert doc["config_block"] == "unchanged"
    assert doc["booted"] == "Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32"
    assert doc["boot_check"] == "ok"
    assert booted(sim8) == doc["booted"]
    result = boot_select(lambda o, n: read_image(sim8, o, n), L8.flash_size)
    assert result.ok and result.identity.version == "1.20.2.r4"

    code, doc, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", str(archives["lopy4"]))
    assert code == 0, err
    assert {r["action"] for r in doc["regions"]} == {"skipped"}
    assert doc["boot_check"] == "ok"

    code, doc, err = pytool(
        capsys, "--port", f"sim:{sim8.name}", "flash", "--no-check", "--no-skip", str(archives["lopy4"])
    )
    assert code == 0, err
    assert {r["action"] for r in doc["regions"]} == {"written"}


def lfs_image(files: dict[str, bytes], size: int) -> bytes:
    """A LittleFS /flash image made on the host (block 4096, as Pycom firmware formats it)."""
    from littlefs import LittleFS

    fs = LittleFS(block_size=4096, block_count=size // 4096)
    for name, data in files.items():
        with fs.open(name, "wb") as f:
            f.write(data)
    return bytes(fs.context.buffer)


def lfs_files(rec, region) -> dict[str, bytes]:
    """The files in /flash, read from the simulator's flash image on the host."""
    from littlefs import LittleFS, UserContext

    raw = read_image(rec, region.offset, region.size)
    if raw == b"\xff" * region.size:
        return {}  # erased, and no firmware has formatted it yet
    context = UserContext(region.size)
    context.buffer = bytearray(raw)
    fs = LittleFS(context=context, block_size=4096, block_count=region.size // 4096)
    out = {}
    for name in fs.listdir("/"):
        if fs.stat(name).type == 1:  # regular file
            with fs.open(name, "rb") as f:
                out[name] = f.read()
    return out


def test_config_block_survives_and_files_kept_unless_erase_fs(sim8, archives, capsys, tmp_path):
    config = bytes(range(256)) * 16  # a config block with LoRa MAC, Sigfox ID, ...: anything but 0xFF
    esptool_write(sim8, CB, config, tmp_path)
    esptool_write(sim8, L8.fs.offset, lfs_image({"keep.py": b"print('mine')\n"}, L8.fs.size), tmp_path)

    code, doc, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", str(archives["lopy4_old"]))
    assert code == 0, err
    assert doc["booted"].startswith("Pycom MicroPython 1.20.1 [") and doc["boot_check"] == "ok"
    assert read_image(sim8, CB, 0x1000) == config
    assert lfs_files(sim8, L8.fs)["keep.py"] == b"print('mine')\n"

    code, doc, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", "--erase-fs", str(archives["lopy4"]))
    assert code == 0, err
    assert any(r["action"] == "erased" and r["offset"] == L8.fs.offset for r in doc["regions"])
    assert doc["booted"].startswith("Pycom MicroPython 1.20.2.r4 [") and doc["boot_check"] == "ok"
    assert "keep.py" not in lfs_files(sim8, L8.fs)  # erased (the firmware then makes a fresh /flash)
    assert read_image(sim8, CB, 0x1000) == config


def test_wrong_board_refused_nothing_written(sim8, archives, capsys):
    before = image_md5(sim8)
    code, _, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", "--no-check", str(archives["fipy"]))
    assert code == 1
    assert "FiPy firmware but the module is a LoPy4" in err and "--force" in err
    assert err.count("Error:") == 1 and "Traceback" not in err
    assert image_md5(sim8) == before


def test_8mb_only_firmware_refused_on_4mb_module_and_4mb_board_end_to_end(sim4, archives, capsys):
    before = image_md5(sim4)
    code, _, err = pytool(
        capsys, "--port", f"sim:{sim4.name}", "flash", "--no-check", "--force", str(archives["lopy4"])
    )
    assert code == 1 and "does not fit this 4MB module" in err
    assert image_md5(sim4) == before

    code, doc, err = pytool(capsys, "--port", f"sim:{sim4.name}", "flash", str(archives["sipy"]))
    assert code == 0, err
    assert doc["flash_size"] == "4MB" and doc["script"] == "script_4MB" and doc["target_board"] == "SiPy"
    assert [r["offset"] for r in doc["regions"]] == [0x1000, 0x8000, 0x10000, L4.otadata.offset]
    assert doc["booted"].endswith("; SiPy with ESP32") and doc["boot_check"] == "ok"


def _bad_archives(tmp_path: Path, good: Path) -> dict[str, tuple[Path, str]]:
    members = {}
    with tarfile.open(good) as tar:
        for m in tar.getmembers():
            members[m.name] = tar.extractfile(m).read()

    def archive(name: str, files: dict[str, bytes], rename: dict[str, str] | None = None) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as tar:
            for n, data in files.items():
                info = tarfile.TarInfo((rename or {}).get(n, n))
                info.size = len(data)
                import io

                tar.addfile(info, io.BytesIO(data))
        return path

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    corrupt = tmp_path / "corrupt.tar.gz"
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\0" * 64
    corrupt.write_bytes(bytes(raw))
    unknown = dict(members, script_8MB=json.dumps({"version": "9.0", "script": []}).encode())
    big = dict(members)
    big["lopy4.bin"] = members["lopy4.bin"] + b"\0" * 0x100000  # valid image, too large for the factory slot
    return {
        "truncated": (truncated, "corrupt or truncated"),
        "corrupt": (corrupt, "corrupt or truncated"),
        "unknown script": (archive("unknown.tar.gz", unknown), "unknown format"),
        "dotdot": (archive("dotdot.tar.gz", members, {"script": "../script"}), "'..' component"),
        "too large": (archive("big.tar.gz", big), "too large for the 'factory' partition"),
    }


def test_bad_archives_one_clear_error_nothing_written(sim8, archives, capsys, tmp_path):
    before = image_md5(sim8)
    for what, (path, message) in _bad_archives(tmp_path, archives["lopy4"]).items():
        code, _, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", "--no-check", str(path))
        assert code == 1, what
        assert message in err, (what, err)
        assert err.count("Error:") == 1 and "Traceback" not in err, what
        assert image_md5(sim8) == before, what


def test_erase_all_backs_up_config_and_nvs(sim4, capsys, tmp_path):
    config = b"\x70\xb3\xd5\x49\x9a\x11\x22\x33" + b"\x42" * (0x1000 - 8)
    esptool_write(sim4, CB, config, tmp_path)
    code, doc, err = pytool(capsys, "--port", f"sim:{sim4.name}", "erase", "--all")
    assert code == 0, err
    backup = Path(doc["backup"])
    assert backup.is_file() and str(backup).startswith(os.environ["PYTOOL_DATA_DIR"])
    with tarfile.open(backup) as tar:
        assert tar.extractfile("config.bin").read() == config
        assert len(tar.extractfile("nvs.bin").read()) == L4.nvs.size
    assert Path(sim4.flash).read_bytes() == b"\xff" * L4.flash_size
    assert booted(sim4) is None  # erased chip: the ROM's invalid-header loop


def test_stock_micropython_image_on_generic_esp32(tmp_path_factory, monkeypatch, capsys, tmp_path):
    from pytool.firmware.build import build_micropython_image

    image = tmp_path / "ESP32_GENERIC-v1.24.1.bin"
    image.write_bytes(build_micropython_image("1.24.1"))
    state, data = tmp_path_factory.mktemp("state"), tmp_path_factory.mktemp("data")
    with running_sim("esp32", state_dir=state, data_dir=data) as rec:
        monkeypatch.setenv("PYTOOL_STATE_DIR", str(state))
        vfs_marker = b"stock MicroPython vfs" * 10
        esptool_write(rec, 0x200000, vfs_marker, tmp_path)
        code, doc, err = pytool(capsys, "--port", f"sim:{rec.name}", "flash", "--erase-fs", str(image))
        assert code == 0, err
        assert [(r["offset"], r["action"]) for r in doc["regions"]] == [(0x200000, "erased"), (0x1000, "written")]
        assert doc["config_block"] == "n/a"  # no Pycom config block on a generic ESP32: its vfs covers 0x3FF000
        assert read_image(rec, 0x200000, len(vfs_marker)) == b"\xff" * len(vfs_marker)
        assert doc["booted"] == "MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32"
        assert booted(rec) == doc["booted"]


def test_dtr_rts_reset_over_rfc2217(sim4, tmp_path, capsys):
    """The classic auto-reset path: esptool's DTR/RTS sequence over RFC2217 enters download mode, and the
    hard reset afterwards boots the new firmware (no control socket involved)."""
    small = tmp_path / "SiPy-small.tar.gz"
    write_archive(build_pycom_archive("sipy", "1.20.1", app_size=0x30000), small)
    code, doc, err = pytool(capsys, "--port", sim4.rfc2217, "flash", "--board", "sipy", str(small))
    assert code == 0, err
    assert doc["script"] == "script_4MB" and "written" in {r["action"] for r in doc["regions"]}
    assert booted(sim4).startswith("Pycom MicroPython 1.20.1 [")


def test_manual_reset_waits_for_the_user(sim4, archives, capsys):
    """Expansion Board 2.0: pytool asks for the G23 jumper + reset and waits; the 'user' does it a bit later."""
    import threading

    control = SimControl(sim4.control)
    timer = threading.Timer(2.0, lambda: control.reset(bootloader=True))
    timer.start()
    try:
        code, _doc, err = pytool(
            capsys,
            "--port",
            sim4.pty,
            "flash",
            "--reset",
            "manual",
            "--no-check",
            "--board",
            "sipy",
            str(archives["sipy"]),
        )
    finally:
        timer.join()
    assert code == 0, err
    assert "jumper G23 to GND and press the reset button" in err
    assert control.status()["mode"] != "app"  # nobody pressed reset again yet: still in the bootloader
    control.reset()
    assert booted(sim4).startswith("Pycom MicroPython 1.20.2.r4 [")


def test_erase_firmware_keeps_fs_and_config_block(sim8, archives, capsys, tmp_path):
    code, _, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", str(archives["lopy4"]))
    assert code == 0, err
    config = read_image(sim8, CB, 0x1000)
    fs_before = read_image(sim8, L8.fs.offset, 0x10000)
    code, doc, err = pytool(capsys, "--port", f"sim:{sim8.name}", "erase")
    assert code == 0, err
    assert doc["backup"] is None and doc["config_block"] == "unchanged"
    # bootloader + table, factory + otadata (adjacent), ota_0: from the chip's own partition table
    assert doc["erased"] == [[0x1000, 0x8000], [0x10000, 0x1F0000], [0x210000, 0x1EF000]]
    assert read_image(sim8, 0x1000, 0x7000) == b"\xff" * 0x7000  # bootloader gone
    assert read_image(sim8, 0x10000, 0x1000) == b"\xff" * 0x1000  # app gone
    assert read_image(sim8, CB, 0x1000) == config
    assert read_image(sim8, L8.fs.offset, 0x10000) == fs_before
    assert booted(sim8) is None  # invalid-header boot loop


def _without(path: Path, drop: set[str], out: Path) -> Path:
    import io

    with tarfile.open(path) as src, tarfile.open(out, "w:gz") as dst:
        for m in src.getmembers():
            if m.name not in drop:
                dst.addfile(m, io.BytesIO(src.extractfile(m).read()))
    return out


def test_script2_with_fipy_bin_bug_and_legacy_script(sim8, archives, capsys, tmp_path):
    """LoPy4 archives whose script_8MB is missing fall back to script2 (which names fipy.bin: the packaging bug)
    and then to the legacy script (erase 0x1000..0x200FFF, raw offsets); re-flashing the legacy way skips all."""
    script2_only = _without(archives["lopy4_old"], {"script_8MB"}, tmp_path / "s2.tar.gz")
    code, doc, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", str(script2_only))
    assert code == 0, err
    assert doc["script"] == "script2" and any("fipy.bin" in n for n in doc["notes"])
    assert doc["booted"].startswith("Pycom MicroPython 1.20.1 [") and doc["booted"].endswith("LoPy4 with ESP32")

    legacy_only = _without(archives["lopy4"], {"script_8MB", "script2"}, tmp_path / "legacy.tar.gz")
    code, doc, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", str(legacy_only))
    assert code == 0, err
    assert doc["script"] == "script"
    erased = [r["offset"] for r in doc["regions"] if r["action"] == "erased"]
    assert 0x1000 in erased and all(o < 0x201000 for o in erased)
    assert doc["booted"].startswith("Pycom MicroPython 1.20.2.r4 [")

    code, doc, err = pytool(capsys, "--port", f"sim:{sim8.name}", "flash", str(legacy_only))
    assert code == 0, err
    assert {r["action"] for r in doc["regions"]} == {"skipped"}
