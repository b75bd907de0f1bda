"""The pytest plugin's footprint and its errors, without a board: it stays out of runs that do not use it, and
missing settings end in one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pytool.cli import run as pytool_run


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugin_adds_nothing_to_runs_that_do_not_use_it(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "import os, bleak\n"
        "def test_untouched():\n"
        "    assert 'PYTOOL_BLE' not in os.environ\n"
        "    assert bleak.get_platform_client_backend_type.__module__.startswith('bleak')  # no pytool.ble hook\n"
    )
    run = pytest_in(tmp_path, "--junitxml", str(tmp_path / "out" / "junit.xml"))
    assert run.returncode == 0, run.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["junit.xml"]  # no hil-logs folder
    help_text = pytest_in(tmp_path, "--help").stdout
    assert "--board-port=PORT" in help_text and "--ble-name=NAME" in help_text


def test_missing_ble_name_is_one_clear_error(tmp_path):
    (tmp_path / "test_air.py").write_text("def test_needs_the_board(ble_target):\n    pass\n")
    run = pytest_in(tmp_path)
    assert run.returncode == 1
    assert "no BLE name: give --ble-name NAME or set [ble] name" in run.stdout
    assert "Traceback" not in run.stdout


def test_ble_target_from_pytool_toml_and_options(tmp_path):
    tests = tmp_path / "tests" / "hil"
    tests.mkdir(parents=True)
    (tmp_path / "pytool.toml").write_text('board = "lopy4"\n[ble]\nname = "FromToml"\n')
    (tests / "test_target.py").write_text(
        "import os\n"
        "def test_target(ble_target):\n"
        "    print('TARGET', ble_target.name, ble_target.address, ble_target.scan_timeout)\n"
    )
    by_toml = pytest_in(tmp_path, "tests/hil", "-s")
    assert "TARGET FromToml None 20.0" in by_toml.stdout, by_toml.stdout
    by_option = pytest_in(tmp_path, "tests/hil", "-s", "--ble-name", "Other", "--ble-scan-timeout", "3")
    assert "TARGET Other None 3.0" in by_option.stdout, by_option.stdout


def test_pytool_test_needs_tests_hil(tmp_path, capsys):
    (tmp_path / "pytool.toml").write_text('board = "lopy4"\n')
    assert pytool_run(["test", str(tmp_path)]) == 2
    assert "has no tests/hil folder" in capsys.readouterr().err
