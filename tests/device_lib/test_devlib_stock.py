"""device_lib on a stock MicroPython board: the same server_project/main.py (pytool_gatt), deployed to a simulated
generic ESP32, runs over pytool_nimble's adapter on `bluetooth.BLE`; bleak (pytool's Bumble backend) drives it
and the probe checks it, as on Pycom boards (test_devlib_sim.py)."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from bleak import BleakClient, BleakScanner

from pytool.ble import BumbleClient, BumbleScanner, resolve_transport
from pytool.deploy import DeployOptions, deploy
from pytool.hil.probe import Probe
from pytool.monitor import BoardMonitor
from pytool.sim.testing import running_sim

pytestmark = [pytest.mark.timeout(240), pytest.mark.asyncio]

PROJECT = __import__("pathlib").Path(__file__).parent / "server_project"
NAME = "devlib-test"
LEVEL = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
SETPOINT = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
COUNT = "6e400004-b5a3-f393-e0a9-e50e24dcca9e"
LABEL = "6e400005-b5a3-f393-e0a9-e50e24dcca9e"
PROBE_CHAR = "7079746f-6f6c-7072-6f62-650000000002"
WAIT = 15.0


async def test_device_lib_server_on_stock_micropython(tmp_path, monkeypatch):
    state, data, project = tmp_path / "state", tmp_path / "data", tmp_path / "project"
    state.mkdir()
    data.mkdir()
    shutil.copytree(PROJECT, project)
    toml = project / "pytool.toml"
    toml.write_text(toml.read_text().replace('board = "lopy4"', 'board = "esp32"').replace("1.20.2.r4", "1.24.1"))
    monkeypatch.setenv("PYTOOL_STATE_DIR", str(state))
    monkeypatch.setenv("PYTOOL_DATA_DIR", str(data))
    with running_sim("esp32", name="devlibstock", state_dir=state, data_dir=data) as rec:
        sim = f"sim:{rec.name}"
        await asyncio.to_thread(deploy, project, sim, DeployOptions(firmware="1.24.1", advertise=False))
        transport = resolve_transport(sim)
        with BoardMonitor(sim) as board:
            assert board.eval("(srv.bt.__class__ is __import__('pytool_nimble').Bluetooth, srv.connected)") == (
                True,
                False,
            )
            probe = Probe(board)
            device = await BleakScanner.find_device_by_name(
                NAME, timeout=WAIT, backend=BumbleScanner, bumble={"transport": transport}
            )
            assert device is not None, f"{NAME} does not advertise"
            client = BleakClient(device, backend=BumbleClient, bumble={"transport": transport}, timeout=WAIT)
            await client.connect()
            try:
                probe.wait_for("connect", timeout=WAIT)
                assert await client.read_gatt_char(LEVEL) == b"\x34\x12"  # u16le stored
                assert await client.read_gatt_char(COUNT) == bytes([1, 2, 3, 1])  # a read handler's answer
                assert await client.read_gatt_char(LABEL) == b"hello"
                waiter = Probe(board)
                for value in (b"\x05", b"\x0d", b"\x06"):
                    waiter.mark()
                    await client.write_gatt_char(SETPOINT, value, response=True)
                    assert waiter.wait_for("write", "setpoint", timeout=WAIT).data == value
                assert board.eval("written") == [5, 13, 6]  # the handler that raised (13) was contained
                got: asyncio.Queue = asyncio.Queue()
                await client.start_notify(LEVEL, lambda _c, d: got.put_nowait(bytes(d)))
                assert board.eval("level.notify(0x0304)") is True
                assert await asyncio.wait_for(got.get(), WAIT) == b"\x04\x03"
                probe_read = json.loads(bytes(await client.read_gatt_char(PROBE_CHAR)))
                assert probe_read["seq"] >= 6
            finally:
                await client.disconnect()
            probe.wait_for("disconnect", timeout=WAIT)
            errors = [e for e in probe.events() if e.event == "error"]
            assert len(errors) == 1 and "unlucky setpoint" in errors[0].data
            assert board.eval("level.notify(0x0506)") is False  # nobody connected: stored, no OSError
            assert board.eval("level.get()") == 0x0506
