"""What `pytool deploy` decides before it touches a board: which firmware the project wants, what is synced."""

from __future__ import annotations

import pytest

from pytool import config as project_config
from pytool import deploy, sync
from pytool.deploy import DeployOptions, _wanted, simulator_firmware
from pytool.errors import UsageError


def make_project(tmp_path, firmware: str | None = None):
    text = 'board = "lopy4"\n' + (f'firmware = "{firmware}"\n' if firmware else "")
    (tmp_path / "pytool.toml").write_text(text)
    (tmp_path / "main.py").write_text("print('hi')\n")
    return project_config.load(tmp_path)


def test_test_results_are_never_synced(tmp_path):
    cfg = make_project(tmp_path)
    results = tmp_path / ".pytool" / "results"
    (results / "hil-logs").mkdir(parents=True)
    (results / "junit.xml").write_text("<testsuites/>")
    (results / "hil-logs" / "test_x.log").write_text("serial")
    (tmp_path / "tests" / "hil").mkdir(parents=True)
    (tmp_path / "tests" / "hil" / "test_air.py").write_text("def test(): pass\n")
    assert [f.rel for f in sync.collect(cfg, include_device_lib=False)] == ["main.py"]
    assert deploy.tests_dir(tmp_path) == tmp_path.resolve() / "tests" / "hil"


def test_wanted_firmware_version_or_archive(tmp_path):
    cfg = make_project(tmp_path, firmware="1.20.2.r4")
    assert _wanted(cfg, DeployOptions()) == ("1.20.2.r4", None)
    assert _wanted(cfg, DeployOptions(firmware="1.20.1")) == ("1.20.1", None)
    archive = simulator_firmware("lopy4", "1.20.1")  # a real Pycom archive, built as `pytool firmware build` does
    assert archive.name == "LoPy4-1.20.1.tar.gz"
    assert _wanted(cfg, DeployOptions(firmware=str(archive))) == ("1.20.1", archive)
    with pytest.raises(UsageError, match="does not exist"):
        _wanted(cfg, DeployOptions(firmware=str(tmp_path / "LoPy4-9.9.9.tar.gz")))
    assert _wanted(make_project(tmp_path), DeployOptions()) == (None, None)  # pytool.toml names no firmware


def test_project_without_tests_hil(tmp_path):
    make_project(tmp_path)
    with pytest.raises(UsageError, match="no tests/hil folder"):
        deploy.tests_dir(tmp_path)
