"""`pytool restore` and `pytool bootloader` against a simulated SiPy (4 MB flash), with real esptool."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.cli import run_json as pytool
from support.sim import esptool_pty, module_sim, read_flash_file

from pytool.boards import layouts
from pytool.sim import SimControl

pytestmark = pytest.mark.timeout(180)

L4 = layouts()["4MB"]


@pytest.fixture(scope="module")
def sim_proc(tmp_path_factory):
    with module_sim(tmp_path_factory, "sipy", "chip4") as (rec, state, _data):
        yield rec, state


@pytest.fixture
def sim(sim_proc, monkeypatch):
    rec, state = sim_proc
    monkeypatch.setenv("PYTOOL_STATE_DIR", str(state))
    return rec


def test_restore_puts_back_what_erase_all_backed_up(sim, capsys, tmp_path):
    config = b"\x70\xb3\xd5\x49\x9a\x11\x22\x33" + bytes(range(256)) * 15 + b"\x42" * 0xF8  # LoRa MAC first
    nvs = b"NVS!" * (L4.nvs.size // 4)
    for offset, data in ((L4.config.offset, config), (L4.nvs.offset, nvs)):
        blob = tmp_path / f"{offset:x}.bin"
        blob.write_bytes(data)
        esptool_pty(sim, "write-flash", hex(offset), str(blob))
    code, erased, err = pytool(capsys, "--port", f"sim:{sim.name}", "erase", "--all")
    assert code == 0, err
    assert read_flash_file(sim, L4.config.offset, L4.config.size) == b"\xff" * L4.config.size

    code, doc, err = pytool(capsys, "--port", f"sim:{sim.name}", "restore")
    assert code == 0, err
    assert doc["backup"] == erased["backup"] and doc["mac"] == erased["mac"]
    assert [(r["name"], r["action"]) for r in doc["regions"]] == [("config.bin", "written"), ("nvs.bin", "written")]
    assert read_flash_file(sim, L4.config.offset, L4.config.size) == config  # the LoRa MAC is back
    assert read_flash_file(sim, L4.nvs.offset, L4.nvs.size) == nvs
    code, doc, err = pytool(capsys, "--port", f"sim:{sim.name}", "restore")
    assert code == 0 and {r["action"] for r in doc["regions"]} == {"unchanged"}, err

    other = tmp_path / "aabbccddeeff-20260101-000000.tar"
    shutil.copyfile(erased["backup"], other)
    code, _, err = pytool(capsys, "--port", f"sim:{sim.name}", "restore", str(other))
    assert code == 2 and "is not a backup of this chip" in err and "--force" in err
    code, _, err = pytool(capsys, "--port", f"sim:{sim.name}", "restore", str(other), "--force")
    assert code == 0, err

    damaged = tmp_path / Path(erased["backup"]).name
    damaged.write_bytes(b"not a tar file" * 100)
    code, _, err = pytool(capsys, "--port", f"sim:{sim.name}", "restore", str(damaged))
    assert code == 2 and "cannot read the backup" in err and "Traceback" not in err and err.count("Error:") == 1
    code, _, err = pytool(capsys, "--port", f"sim:{sim.name}", "restore", str(tmp_path / "missing.tar"))
    assert code == 2 and "missing.tar does not exist" in err


def test_restore_without_a_backup_says_where_backups_come_from(sim, capsys):
    code, _, err = pytool(capsys, "--port", f"sim:{sim.name}", "restore")  # a fresh data folder: no backups
    assert code == 1 and "there is no backup of the chip" in err and "erase --all" in err


def test_bootloader_leaves_the_chip_in_download_mode(sim, capsys):
    control = SimControl(sim.control)
    control.reset(bootloader=False)
    assert control.status()["mode"] != "download"
    code, doc, err = pytool(capsys, "--port", f"sim:{sim.name}", "bootloader")
    assert code == 0, err
    assert doc == {"ok": True, "port": f"sim:{sim.name}", "chip": "ESP32", "reset": "sim"}
    assert control.status()["mode"] == "download"
