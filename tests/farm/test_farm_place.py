"""One farm place end to end (issue 21): its power switch, its holder, its reservations.

The power switch is the simulator's own (pytool.sim.power_switch, labgrid's `simplerest` protocol on 127.0.0.1),
exported by `pytool sim export --power` as a `NetworkPowerPort` and driven by labgrid's own NetworkPowerDriver
when pytool resets the board of `labgrid:PLACE`. What each reset did is read from the simulator: its power
switch's log (control operation `power-switch`), its boot count and the reset cause of its last boot
(POWERON_RESET after a power cycle; machine.reset() would give SW_CPU_RESET).

Someone else holding or reserving the place (`labgrid-client acquire` / `reserve` as alice on rack7) is
refused in one line naming them; the user's own reservation is used through its token (`labgrid:+`, LG_TOKEN).

One flashed simulated LoPy4, one real `labgrid-coordinator` and `labgrid-exporter` for the module.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("labgrid.remote.client", reason="labgrid is not installed (pip install 'pytool[labgrid]')")

from datetime import datetime

from farm_kit import pytool, running_farm
from support.flashed import flashed_image

from pytool.sim.control import SimControl
from pytool.sim.registry import SimRecord
from pytool.sim.testing import running_sim

PLACE = "bench-pw"
POWER_CYCLE = [False, True]  # what the switch is set to by one power cycle: off, then on

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A flashed simulator with its power switch exported as place bench-pw."""
    image = flashed_image(tmp_path_factory)
    base = tmp_path_factory.mktemp("farmpower")
    state, data = base / "state", base / "data"
    shutil.copyfile(image, base / "flash.bin")
    with running_sim("lopy4", "farmpw", base / "flash.bin", state_dir=state, data_dir=data) as record:
        export = pytool(["sim", "export", "--power", "-o", str(base / "exporter.yaml")], _env(state, data), base)
        assert export.returncode == 0, export.stderr
        assert "NetworkPowerPort" in (base / "exporter.yaml").read_text()
        with running_farm(base, base / "exporter.yaml") as farm:
            farm.add_place(PLACE, "farmpw")
            farm.sim = record
            farm.data = data
            yield farm


def _env(state: Path, data: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE", "LG_COORDINATOR")}
    return env | {"PYTOOL_STATE_DIR": str(state), "PYTOOL_DATA_DIR": str(data)}


def _switched(record: SimRecord) -> list[bool]:
    return SimControl(record.control).request({"op": "power-switch"})["switched"]


def test_reset_power_cycles_the_board_through_the_places_power_port(lab, tmp_path):
    control = SimControl(lab.sim.control)
    before, switched = control.status(), _switched(lab.sim)
    env = lab.env(PYTOOL_STATE_DIR=str(tmp_path / "state"), PYTOOL_DATA_DIR=str(lab.data))

    run = pytool(["-p", f"labgrid:{PLACE}", "reset", "+", "exec", "print(6 * 7)"], env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"hard reset done (power cycle of labgrid place {PLACE})" in run.stderr
    assert run.stdout.strip().endswith("42")  # the chain's next command reached the rebooted board
    after = control.status()
    assert _switched(lab.sim) == [*switched, *POWER_CYCLE]
    assert after["boots"] == before["boots"] + 1
    assert after["boot_reason"] == "0x1 (POWERON_RESET)" and after["mode"] == "app"
    assert lab.acquired() == []


def test_flash_leaves_the_bootloader_by_a_power_cycle(lab, tmp_path):
    """Without a `boot` output esptool enters the ROM over DTR/RTS (RFC2217); leaving it is the power switch."""
    from pytool.deploy import simulator_firmware

    archive = simulator_firmware("lopy4", "1.20.2.r4")
    switched = _switched(lab.sim)
    env = lab.env(PYTOOL_STATE_DIR=str(tmp_path / "state"), PYTOOL_DATA_DIR=str(lab.data))
    run = pytool(["-p", f"labgrid:{PLACE}", "flash", str(archive)], env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "labgrid reset" in run.stderr
    assert "Booted: Pycom MicroPython 1.20.2.r4" in run.stdout, run.stdout
    assert _switched(lab.sim) == [*switched, *POWER_CYCLE]
    assert SimControl(lab.sim.control).status()["boot_reason"] == "0x1 (POWERON_RESET)"
    assert lab.acquired() == []


def test_labgrid_client_switches_the_simulators_power(lab):
    """labgrid's own client drives the same switch: power off leaves the board off, power on boots it."""
    control = SimControl(lab.sim.control)
    lab.client("-p", PLACE, "acquire")
    try:
        lab.client("-p", PLACE, "power", "off")
        assert control.status()["mode"] == "off"
        lab.client("-p", PLACE, "power", "on")
        assert control.status()["mode"] == "app"
    finally:
        lab.client("-p", PLACE, "release")


def test_export_with_and_without_a_power_switch(tmp_path):
    from labgrid.remote.config import ResourceConfig

    from pytool.errors import PytoolError
    from pytool.farm.exporter import exporter_yaml

    new = SimRecord("new", "lopy4", 1, "/x", rfc2217="rfc2217://127.0.0.1:4001", power="http://127.0.0.1:4002/power")
    (tmp_path / "exporter.yaml").write_text(exporter_yaml([new], power=True))
    port = ResourceConfig(str(tmp_path / "exporter.yaml")).data["new"]["NetworkPowerPort"]
    assert port == {"model": "simplerest", "host": "http://127.0.0.1:4002/power/{value}", "index": 0}
    assert "NetworkPowerPort" not in exporter_yaml([new])  # only with --power
    old = SimRecord("old", "lopy4", 1, "/x", rfc2217="rfc2217://127.0.0.1:4001")
    with pytest.raises(PytoolError, match="simulator 'old' has no power switch"):
        exporter_yaml([old], power=True)


ALICE = {"LG_USERNAME": "alice", "LG_HOSTNAME": "rack7"}


def _one_line_error(run) -> str:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
    assert len(lines) == 1 and lines[0].startswith("Error:"), run.stderr
    return lines[0]


def _token(reserve_output: str) -> str:
    """The token in `labgrid-client reserve --shell`'s `export LG_TOKEN=...`."""
    [line] = [line for line in reserve_output.splitlines() if line.startswith("export LG_TOKEN=")]
    return line.split("=", 1)[1].strip()


def test_a_place_held_by_someone_else_names_who_and_since_when(lab, tmp_path):
    switched = _switched(lab.sim)
    before = datetime.now().replace(microsecond=0)
    lab.client("-p", PLACE, "acquire", **ALICE)
    after = datetime.now()
    try:
        line = _one_line_error(pytool(["-p", f"labgrid:{PLACE}", "reset"], lab.env(), tmp_path))
    finally:
        lab.client("-p", PLACE, "release", **ALICE)
    assert "labgrid place 'bench-pw' is held by alice on rack7 since " in line
    since = datetime.strptime(line.split(" since ")[1][:19], "%Y-%m-%d %H:%M:%S")
    assert before <= since <= after  # when alice acquired it
    assert _switched(lab.sim) == switched  # nothing reached the board


def test_a_place_reserved_for_someone_else_is_refused_in_one_line(lab, tmp_path):
    token = _token(lab.client("reserve", "--shell", f"name={PLACE}", **ALICE).stdout)
    switched = _switched(lab.sim)
    try:
        line = _one_line_error(pytool(["-p", f"labgrid:{PLACE}", "reset"], lab.env(), tmp_path))
        assert "labgrid place 'bench-pw' is reserved for alice on rack7 since " in line
        assert token not in line
    finally:
        lab.client("cancel-reservation", token, **ALICE)
    assert _switched(lab.sim) == switched and lab.acquired() == []


def test_the_users_own_reservation_is_used_through_its_token(lab, tmp_path):
    token = _token(lab.client("reserve", "--shell", f"name={PLACE}").stdout)
    env = lab.env(PYTOOL_STATE_DIR=str(tmp_path / "state"), PYTOOL_DATA_DIR=str(lab.data))
    try:
        by_env = pytool(["-p", "labgrid:+", "exec", "print(6 * 7)"], env | {"LG_TOKEN": token}, tmp_path)
        assert by_env.returncode == 0, by_env.stderr
        assert by_env.stdout.strip() == "42"
        by_name = pytool(["-p", f"labgrid:{PLACE}", "exec", "print(7 * 6)"], env, tmp_path)
        assert by_name.returncode == 0 and by_name.stdout.strip() == "42", by_name.stderr
        assert lab.acquired() == []
        assert "state: allocated" in lab.client("reservations").stdout  # still the user's after the commands
    finally:
        lab.client("cancel-reservation", token)
    line = _one_line_error(pytool(["-p", f"labgrid:+{token}", "ls"], env, tmp_path))
    assert f"labgrid reservation {token} has no place allocated" in line
    line = _one_line_error(pytool(["-p", "labgrid:+", "ls"], env, tmp_path))
    assert "LG_TOKEN is not set" in line
