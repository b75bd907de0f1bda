"""Several boards in one test run: the pytool.hil plugin with `--board-port ROLE=PORT` repeated, against two
simulated LoPy4 boards on the shared virtual radio (started once for this module).

- the plugin alone: both boards advertise the same name, and `ble_client_for(board)` still reaches each one (by
  the address the board has: a simulator's registry record for one, read over serial for the other, reached as
  a real board would be through its RFC2217 port); per-board logs, report sections and JUnit properties;
- examples/lopy_to_lopy: deployed by the plugin (`--deploy`: each role's own project), one board as GATT client
  (Pycom's GATTC API) connecting to the other's GATT server, checked on both boards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytool.sim.testing import running_sim

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "lopy_to_lopy"
RUN_TIMEOUT = 240
FIRMWARE = "1.20.2.r4"

pytestmark = [pytest.mark.slow, pytest.mark.hil]


def flash_image(path: Path) -> Path:
    """A LoPy4 flash image holding Pycom firmware FIRMWARE as `pytool flash` writes it (no flashing step needed)."""
    from pytool.boards import get_board
    from pytool.deploy import simulator_firmware
    from pytool.firmware import load_firmware, plan_archive

    board = get_board("lopy4")
    plan = plan_archive(load_firmware(simulator_firmware("lopy4", FIRMWARE)), board.flash_size)
    image = bytearray(b"\xff" * board.flash_size)
    for write in plan.writes:
        image[write.offset : write.offset + len(write.data)] = write.data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image)
    return path


@pytest.fixture(scope="module")
def two_boards(tmp_path_factory):
    """Two simulated LoPy4 boards (sim:mb-one, sim:mb-two) on one radio; the environment that finds them."""
    base = tmp_path_factory.mktemp("multi-board")
    dirs = {"PYTOOL_STATE_DIR": str(base / "state"), "PYTOOL_DATA_DIR": str(base / "data")}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE")} | dirs
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_DATA_DIR", dirs["PYTOOL_DATA_DIR"])  # the firmware build cache
        image = flash_image(base / "image" / "flash.bin")
    shutil.copyfile(image, base / "flash-one.bin")
    shutil.copyfile(image, base / "flash-two.bin")
    with (
        running_sim(
            "lopy4", "mb-one", base / "flash-one.bin", state_dir=dirs["PYTOOL_STATE_DIR"], data_dir=base / "data"
        ) as one,
        running_sim(
            "lopy4", "mb-two", base / "flash-two.bin", state_dir=dirs["PYTOOL_STATE_DIR"], data_dir=base / "data"
        ) as two,
    ):
        assert one.hci == two.hci and one.bt_address != two.bt_address  # one radio, two boards
        yield env, one, two


def pytest_run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def junit_cases(path: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """test name -> (outcome, JUnit properties)."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        cases[case.get("name")] = (kinds[0] if kinds else "passed", props)
    return cases


TWO_BOARDS_TEST = '''
SCRIPT = """
import os
from network import Bluetooth
bt = Bluetooth()
bt.set_advertisement(name='LoPy')
bt.advertise(True)
srv = bt.service(uuid=0xFFF0)
ch = srv.characteristic(uuid=0xFFF1, value=ROLE)
print('I am', ROLE)
"""
NO_MAIN = "import os\\ntry:\\n    os.remove('/flash/main.py')\\nexcept OSError:\\n    pass"
CHAR = "0000fff1-0000-1000-8000-00805f9b34fb"


async def test_each_client_reaches_its_own_board(boards, ble_client_for):
    assert list(boards) == ["one", "two"]
    for role, board in boards.items():
        board.exec(NO_MAIN)
        board.reset()
        board.exec(SCRIPT.replace("ROLE", repr(role.encode())))
    for role in ("two", "one"):
        client = await ble_client_for(boards[role])
        assert client.address == boards[role].address
        assert bytes(await client.read_gatt_char(CHAR)) == role.encode()
        assert await ble_client_for(role) is client  # the same connection while it lasts


def test_fails_on_purpose(boards):
    boards["two"].exec("print('two says bye')")
    assert False, "on purpose"
'''


def test_ble_client_for_reaches_each_of_two_boards_advertising_the_same_name(tmp_path, two_boards):
    env, one, two = two_boards
    project = tmp_path / "project"
    (project / "tests" / "hil").mkdir(parents=True)
    (project / "pytool.toml").write_text('board = "lopy4"\n[ble]\nname = "LoPy"\n')
    (project / "tests" / "hil" / "test_two.py").write_text(TWO_BOARDS_TEST)
    junit = tmp_path / "out" / "junit.xml"
    # board two as a real board would be reached: a network serial port, its address read over serial
    ports = ["--board-port", f"one=sim:{one.name}", "--board-port", f"two={two.rfc2217}"]
    run = pytest_run(["tests/hil", *ports, f"--junitxml={junit}"], project, env)
    assert run.returncode == 1, run.stdout[-4000:] + run.stderr[-2000:]
    cases = junit_cases(junit)
    outcome, props = cases["test_each_client_reaches_its_own_board"]
    assert outcome == "passed", run.stdout[-4000:]
    assert props["board.one.port"] == "sim:mb-one" and props["board.two.port"] == two.rfc2217
    assert props["board.one.address"] == one.bt_address and props["board.two.address"] == two.bt_address
    # per-board logs: each holds its own board's output only
    one_log = Path(props["board.one.log"]).read_text()
    two_log = Path(props["board.two.log"]).read_text()
    assert "I am b'one'" in one_log and "I am b'two'" not in one_log
    assert "I am b'two'" in two_log and "I am b'one'" not in two_log
    assert f"connect {one.bt_address}" in one_log  # the BLE operations, tagged [one] / [two]
    # a failing test's report shows each board's output under its own heading
    assert cases["test_fails_on_purpose"][0] == "failure"
    assert f"board two ({two.rfc2217}) serial output" in run.stdout and "two says bye" in run.stdout


def test_lopy_to_lopy_example_on_two_simulated_boards(tmp_path, two_boards):
    env, one, two = two_boards
    junit = tmp_path / "junit.xml"
    ports = ["--board-port", f"server=sim:{one.name}", "--board-port", f"client=sim:{two.name}"]
    run = pytest_run([str(EXAMPLE / "tests" / "hil"), *ports, "--deploy", f"--junitxml={junit}"], tmp_path, env)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert "pytool deploy server: sync" in run.stdout and "pytool deploy client: sync" in run.stdout
    assert "pytool deploy server: advertise  ok       'LoPy' seen at " + one.bt_address in run.stdout
    cases = junit_cases(junit)
    assert len(cases) == 3 and all(outcome == "passed" for outcome, _ in cases.values()), cases
    logs = sorted(p.name for p in (tmp_path / "hil-logs").iterdir())
    assert len(logs) == 6 and all(name.endswith((".server.log", ".client.log")) for name in logs), logs


def pytool_run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytool", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def test_pytool_test_gives_each_role_its_port_in_one_run(tmp_path, two_boards):
    """`pytool test` on a project whose [[boards]] play parts: one pytest run with both boards, --port values in
    the order of the list; one --port short is one line naming the board without a port."""
    env, one, two = two_boards
    junit = tmp_path / "junit.xml"
    args = ["--port", f"sim:{one.name}", "--port", f"sim:{two.name}", "test", str(EXAMPLE), "--junit", str(junit)]
    run = pytool_run(args, tmp_path, env)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert f"server (sim:{one.name}), client (sim:{two.name})" in run.stderr
    cases = junit_cases(junit)
    assert len(cases) == 3 and all(outcome == "passed" for outcome, _ in cases.values()), cases
    short = pytool_run(["--port", f"sim:{one.name}", "test", str(EXAMPLE), "--no-deploy"], tmp_path, env)
    lines = [line for line in short.stderr.splitlines() if line.strip()]
    assert short.returncode == 2 and "Traceback" not in short.stderr, short.stderr
    assert "the board 'client' of this project's [[boards]] (server, client) has no port" in lines[0], lines
    together = pytool_run(["test", str(EXAMPLE), "--all"], tmp_path, env)
    assert together.returncode == 2 and "play different parts" in together.stderr, together.stderr
