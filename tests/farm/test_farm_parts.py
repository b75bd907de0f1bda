"""The farm module's pure parts: place names, the coordinator option, pyserial URLs, the radio a place names,
and the exporter YAML `pytool sim export` writes (parsed back by labgrid's own config loader)."""

from __future__ import annotations

import os

import pytest

from pytool.cli import click, run, split_global_options
from pytool.errors import UsageError
from pytool.farm import exporter, is_farm_port
from pytool.farm import labgrid as farm
from pytool.sim.registry import SimRecord


def test_place_names():
    assert farm.parse_spec("labgrid:bench-a") == "bench-a"
    assert is_farm_port("labgrid:x") and not is_farm_port("sim:x") and not is_farm_port(None)
    for bad in ("labgrid:", "labgrid:a/b", "labgrid:a b"):
        with pytest.raises(UsageError):
            farm.parse_spec(bad)


def test_lg_coordinator_option_is_taken_before_the_double_dash(monkeypatch):
    monkeypatch.setenv("LG_COORDINATOR", "10.0.0.1:1")
    assert farm.coordinator_address() == "10.0.0.1:1"
    assert split_global_options(["ls", "--lg-coordinator", "127.0.0.1:9", "-r"])[1] == ["ls", "-r"]
    assert farm.coordinator_address() == "127.0.0.1:9"
    assert split_global_options(["run", "--", "--lg-coordinator=x"])[1] == ["run", "--", "--lg-coordinator=x"]
    assert farm.coordinator_address() == "127.0.0.1:9"
    monkeypatch.delenv("LG_COORDINATOR")
    assert farm.coordinator_address() == "127.0.0.1:20408"
    with pytest.raises(click.exceptions.UsageError, match="needs a value"):
        split_global_options(["--lg-coordinator"])


def test_lg_coordinator_option_lasts_one_run(monkeypatch):
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    assert run(["--lg-coordinator", "127.0.0.1:9", "--version"]) == 0
    assert "LG_COORDINATOR" not in os.environ


def test_serial_urls():
    static = {"host": "127.0.0.1", "port": 4000, "speed": 115200, "protocol": "rfc2217"}
    assert farm.serial_url(static, {}) == "rfc2217://127.0.0.1:4000"
    # ser2net on a pty: no modem lines, pyserial must not wait for SET_CONTROL's answer
    assert farm.serial_url(static, {"path": "/dev/pts/3"}) == "rfc2217://127.0.0.1:4000?ign_set_control"
    assert farm.serial_url(static, {"path": "/dev/ttyUSB0"}) == "rfc2217://127.0.0.1:4000"
    assert farm.serial_url(static | {"protocol": "raw"}, {}) == "socket://127.0.0.1:4000"


def test_radio_from_a_network_service_or_the_comment():
    common = pytest.importorskip("labgrid.remote.common", reason="labgrid is not installed")
    Place, ResourceEntry = common.Place, common.ResourceEntry

    hci = ResourceEntry({"cls": "NetworkService", "params": {"address": "127.0.0.1", "port": 7001, "username": "u"}})
    ssh = ResourceEntry({"cls": "NetworkService", "params": {"address": "127.0.0.1", "port": 22, "username": "u"}})
    place = Place("p", comment="rack 3 hci=usb:0")
    assert farm.ble_from_place(place, {("hci", "NetworkService"): ("e/g/NetworkService/hci", hci)}) == (
        "tcp-client:127.0.0.1:7001"
    )
    assert farm.ble_from_place(place, {("ssh", "NetworkService"): ("e/g/NetworkService/ssh", ssh)}) == "usb:0"
    assert farm.ble_from_place(Place("q"), {}) is None


def test_exporter_yaml_is_what_labgrid_reads(tmp_path):
    ResourceConfig = pytest.importorskip("labgrid.remote.config", reason="labgrid is not installed").ResourceConfig

    records = [
        SimRecord("a", "lopy4", 1, "/x", rfc2217="rfc2217://127.0.0.1:4001", hci="tcp-client:127.0.0.1:5001"),
        SimRecord("b", "esp32", 2, "/y", rfc2217="rfc2217://127.0.0.1:4002"),
    ]
    path = tmp_path / "exporter.yaml"
    path.write_text(exporter.exporter_yaml(records))
    data = ResourceConfig(str(path)).data
    assert data["a"]["NetworkSerialPort"] == {"host": "127.0.0.1", "port": 4001, "speed": 115200, "protocol": "rfc2217"}
    assert data["a"]["hci"] == {"cls": "NetworkService", "address": "127.0.0.1", "port": 5001, "username": "bumble-hci"}
    assert set(data["b"]) == {"NetworkSerialPort"}  # no radio, no hci resource
