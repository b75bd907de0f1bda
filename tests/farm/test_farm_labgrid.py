"""pytool on a labgrid farm, end to end on 127.0.0.1 (issue 21).

Two flashed simulated LoPy4s are exported by a real `labgrid-exporter` (YAML from `pytool sim export`) to a
real `labgrid-coordinator` as two places; `pytool -p labgrid:PLACE` then runs info, ls, sync and the
gatt_server example's over-the-air tests on each, in subprocesses as a user would. The Bluetooth transport
comes only from the place (PYTOOL_BLE is unset, and each simulator has its own radio).
"""

from __future__ import annotations

import base64
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("labgrid.remote.client", reason="labgrid is not installed (pip install 'pytool[labgrid]')")

from farm_kit import ResetWires, free_port, pytool, running_farm
from support.flashed import flashed_image

from pytool.sim.testing import running_sim

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "gatt_server"
PLACES = {"bench-a": "farma", "bench-b": "farmb"}  # place -> simulator (exporter group)

pytestmark = pytest.mark.slow


def export_yaml(state: Path, path: Path, cwd: Path) -> str:
    """`pytool sim export` for the simulators registered in `state`, written to `path`."""
    run = pytool(["sim", "export", "-o", str(path)], {**_base_env(), "PYTOOL_STATE_DIR": str(state)}, cwd)
    assert run.returncode == 0, run.stderr
    return path.read_text()


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("PYTOOL_PORT", "PYTOOL_BLE", "LG_COORDINATOR")}


def one_line_error(run: subprocess.CompletedProcess[str], progress: bool = False) -> str:
    """The one error line of a failed run (after the command's progress lines, when `progress`)."""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode != 0
    assert "Traceback" not in run.stderr, run.stderr
    errors = [i for i, line in enumerate(lines) if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0] == len(lines) - 1 and (progress or len(lines) == 1), run.stderr
    return lines[-1]


class PortWatch:
    """A TCP listener standing in for a board's serial port: records whether anyone connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    """Two flashed simulators exported as places bench-a and bench-b, plus place `guarded` on a watched port."""
    image = flashed_image(tmp_path_factory)
    base = tmp_path_factory.mktemp("farm")
    data = base / "data"
    watch = PortWatch()
    # each simulator in its own state folder, so each has an air of its own: both advertise "LoPy", and on one
    # shared air the tests of one place could find the other place's board (as on a real farm within range)
    try:
        with (
            running_sim("lopy4", "farma", _copy(image, base / "a.bin"), state_dir=base / "sa", data_dir=data),
            running_sim("lopy4", "farmb", _copy(image, base / "b.bin"), state_dir=base / "sb", data_dir=data),
        ):
            text = export_yaml(base / "sa", base / "a.yaml", base) + export_yaml(base / "sb", base / "b.yaml", base)
            text += f'guarded:\n  NetworkSerialPort:\n    host: "127.0.0.1"\n    port: {watch.port}\n'
            (base / "exporter.yaml").write_text(text)
            with running_farm(base, base / "exporter.yaml") as lab:
                for place, group in {**PLACES, "guarded": "guarded"}.items():
                    lab.add_place(place, group)
                lab.watch = watch
                lab.base = base
                yield lab
    finally:
        watch.close()


def _copy(image: Path, path: Path) -> Path:
    shutil.copyfile(image, path)
    return path


@pytest.mark.parametrize("place", sorted(PLACES))
def test_info_ls_sync_and_example_tests_on_each_place(farm, place, tmp_path):
    env = farm.env(PYTOOL_STATE_DIR=str(tmp_path / "state"), PYTOOL_DATA_DIR=str(farm.base / "data"))
    port = f"labgrid:{place}"

    info = pytool(["-p", port, "info"], env, tmp_path)
    assert info.returncode == 0, info.stderr
    assert "LoPy4" in info.stdout
    assert farm.acquired() == []

    project = tmp_path / "project"
    project.mkdir()
    (project / "pytool.toml").write_text(f'board = "lopy4"\nport = "{port}"\n')  # the place from pytool.toml
    (project / "farm_note.py").write_text(f"PLACE = {place!r}\n")
    sync = pytool(["sync", str(project)], env, tmp_path)
    assert sync.returncode == 0, sync.stderr
    ls = pytool(["-p", port, "ls"], env, tmp_path)
    assert ls.returncode == 0, ls.stderr
    assert "/flash/farm_note.py" in ls.stdout
    cat = pytool(["-p", port, "cat", "/flash/farm_note.py"], env, tmp_path)
    assert cat.stdout == f"PLACE = {place!r}\n"
    assert farm.acquired() == []

    example = tmp_path / "gatt_server"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns(".pytool", "__pycache__"))
    test = pytool(["-p", port, "test", str(example), "--junit", str(tmp_path / "junit.xml")], env, tmp_path)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    assert " passed" in test.stdout + test.stderr
    assert farm.acquired() == []


def test_all_places_in_parallel_pass_and_none_is_left_acquired(farm, tmp_path):
    """`pytool test --all --places 'bench-*'`: one child pytool per place, both at once, each acquiring and
    releasing its own place and testing over the radio that place carries."""
    import json

    env = farm.env(PYTOOL_STATE_DIR=str(tmp_path / "state"), PYTOOL_DATA_DIR=str(farm.base / "data"))
    example = tmp_path / "gatt_server"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns(".pytool", "__pycache__"))
    run = pytool(["--json", "test", "--all", "--places", "bench-*", str(example)], env, tmp_path, timeout=400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    boards = {board["port"]: board for board in json.loads(run.stdout)["boards"]}
    assert sorted(boards) == [f"labgrid:{place}" for place in sorted(PLACES)]
    for board in boards.values():
        assert board["status"] == "ok", board
        assert board["tests"] == {"passed": 6, "failed": 0, "error": 0, "skipped": 0}, board
        assert board["address"], board  # read over the place's serial port, matched over its radio
    a, b = boards.values()
    assert a["started_at"] < b["ended_at"] and b["started_at"] < a["ended_at"]  # at the same time
    assert a["address"] != b["address"]
    assert farm.acquired() == []


def test_place_held_by_someone_else_is_refused_without_touching_the_board(farm, tmp_path):
    farm.client("-p", "guarded", "acquire", LG_USERNAME="alice", LG_HOSTNAME="rack7")
    try:
        run = pytool(["-p", "labgrid:guarded", "ls"], farm.env(), tmp_path)
        line = one_line_error(run)
        assert "held by alice on rack7 since" in line
        assert farm.acquired() == ["guarded"]  # still alice's
    finally:
        farm.client("-p", "guarded", "release", LG_USERNAME="alice", LG_HOSTNAME="rack7")
    assert farm.watch.connections == 0


def test_unknown_place_and_unreachable_coordinator_are_one_line_each(farm, tmp_path):
    line = one_line_error(pytool(["-p", "labgrid:nowhere", "ls"], farm.env(), tmp_path))
    assert "labgrid place 'nowhere' does not exist" in line and "bench-a" in line
    dead = f"127.0.0.1:{free_port()}"
    line = one_line_error(pytool(["--lg-coordinator", dead, "-p", "labgrid:bench-a", "ls"], farm.env(), tmp_path))
    assert f"coordinator at {dead} is unreachable" in line
    assert farm.acquired() == []


def test_labgrid_not_installed_is_one_line(tmp_path):
    shadow = tmp_path / "shadow" / "labgrid"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'labgrid'\")\n")
    env = _base_env() | {"PYTHONPATH": str(shadow.parent), "LG_COORDINATOR": f"127.0.0.1:{free_port()}"}
    line = one_line_error(pytool(["-p", "labgrid:bench-a", "ls"], env, tmp_path))
    assert "labgrid is not installed" in line and "pytool[labgrid]" in line


@pytest.mark.parametrize("interruption", ["coordinator-killed", "ctrl-c"])
def test_interrupted_farm_sync_is_one_line_and_leaves_files_old_or_new(tmp_path_factory, tmp_path, interruption):
    """A paced simulator makes the sync last seconds. The coordinator dies while it runs: the sync finishes on
    the board's own port and the failed release is one line. Or the user presses Ctrl-C: the place is
    released, and every file on the board is old or new."""
    image = flashed_image(tmp_path_factory)
    base = tmp_path_factory.mktemp("farmkill")
    state, data = base / "state", base / "data"
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytool.toml").write_text('board = "lopy4"\n')
    noise = random.Random(21)  # incompressible content, so that the paced line takes seconds
    files = {f"data{i:02d}.py": f"VALUE = {base64.b64encode(noise.randbytes(4500)).decode()!r}\n" for i in range(16)}
    for name, text in files.items():
        (project / name).write_text(text)
    args = ["--baud-pacing"]
    with running_sim("lopy4", "farmkill", _copy(image, base / "k.bin"), args, state_dir=state, data_dir=data) as rec:
        export_yaml(state, base / "exporter.yaml", base)
        with running_farm(base, base / "exporter.yaml") as lab:
            lab.add_place("paced", "farmkill")
            env = lab.env(PYTOOL_STATE_DIR=str(tmp_path / "state"), PYTOOL_DATA_DIR=str(data))
            proc = subprocess.Popen(
                [sys.executable, "-m", "pytool", "-p", "labgrid:paced", "sync", str(project)],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                deadline = time.monotonic() + 60
                while "paced" not in lab.acquired() and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.2)
                if interruption == "ctrl-c":
                    time.sleep(1.0)  # into the upload
                assert proc.poll() is None, "the sync ended before it could be interrupted"
                if interruption == "ctrl-c":
                    proc.send_signal(signal.SIGINT)
                else:
                    lab.kill_coordinator()
                out, err = proc.communicate(timeout=240)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(30)
            run = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
            if interruption == "ctrl-c":
                assert run.returncode == 130, err
                assert "Traceback" not in err and "Error" not in err, err
                assert lab.acquired() == []
            else:
                line = one_line_error(run, progress=True)
                assert "could not release labgrid place 'paced'" in line and "unreachable" in line
        # the board, straight over its own port: every file old (absent) or new; after a lost coordinator, all new
        env = _base_env() | {"PYTOOL_STATE_DIR": str(state)}
        for name, text in files.items():
            cat = pytool(["-p", rec.pty, "cat", f"/flash/{name}"], env, base)
            if interruption == "ctrl-c" and cat.returncode != 0:
                assert "no such file" in cat.stderr.lower() or "not found" in cat.stderr.lower(), cat.stderr
                continue
            assert cat.returncode == 0 and cat.stdout == text, (name, cat.stderr)


def test_flash_resets_through_the_places_reset_and_boot_outputs(tmp_path_factory, tmp_path):
    """A place with digital outputs `reset` and `boot` (HttpDigitalOutput, labgrid's driver) gets strategy
    `labgrid`: esptool finds the chip in its ROM because pytool drove IO0 and EN, not DTR/RTS."""
    from pytool.deploy import simulator_firmware

    archive = simulator_firmware("lopy4", "1.20.2.r4")
    base = tmp_path_factory.mktemp("farmio")
    state, data = base / "state", base / "data"
    with running_sim("lopy4", "farmio", state_dir=state, data_dir=data) as rec:
        wires = ResetWires(rec.control)
        try:
            text = export_yaml(state, base / "exporter.yaml", base) + wires.exporter_yaml()
            (base / "exporter.yaml").write_text(text)
            with running_farm(base, base / "exporter.yaml") as lab:
                lab.add_place("bench-io", "farmio")
                env = lab.env(PYTOOL_STATE_DIR=str(tmp_path / "state"), PYTOOL_DATA_DIR=str(data))
                run = pytool(["-p", "labgrid:bench-io", "flash", str(archive)], env, tmp_path)
                assert run.returncode == 0, run.stderr
                assert "labgrid reset" in run.stderr
                assert "Booted: Pycom MicroPython 1.20.2.r4" in run.stdout, run.stdout
                assert lab.acquired() == []
        finally:
            wires.close()
    into_rom = [("boot", True), ("reset", True), ("reset", False), ("boot", False)]
    assert wires.events == [*into_rom, ("reset", True), ("reset", False)]
