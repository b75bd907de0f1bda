"""`pip install pytool` gives every feature: the wheel, installed into a fresh venv, runs the demo and an over-the-air
test run from a folder outside the repository, with no other install step (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with only the pytool wheel (and what its metadata pulls in) installed."""
    root = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["COLUMNS"] = "200"  # rich wraps the demo's summary line at 80 columns otherwise
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(REPO)], root, env
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (root / "dist").glob("pytool-*.whl")
    venv.EnvBuilder(with_pip=True, clear=True).create(root / "venv")
    bin_dir = root / "venv" / "bin"
    pip = _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], root, env
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return bin_dir, env


def test_wheel_has_no_dev_tools_and_finds_its_data(installed, tmp_path):
    bin_dir, env = installed
    probe = (
        "from pytool import paths; import pytest, pytest_asyncio; "
        "print(paths.mpy_cross_111() is not None, paths.mpy_cross_for_micropython('1.24.1') is not None, "
        "'site-packages' in str(paths.firmware_dir()), (paths.firmware_dir().parent / 'examples').is_dir())"
    )
    result = _run([str(bin_dir / "python"), "-c", probe], tmp_path, env)
    assert result.stdout.split() == ["True"] * 4, result.stderr


def test_pytool_demo_runs_from_the_wheel(installed, tmp_path):
    bin_dir, env = installed
    result = _run([str(bin_dir / "pytool"), "demo"], tmp_path, env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Demo PASSED" in result.stderr and " 0 failed" in result.stderr


def test_pytool_test_runs_a_copied_example_outside_the_repository(installed, tmp_path):
    bin_dir, env = installed
    site = _run(
        [str(bin_dir / "python"), "-c", "from pytool.paths import firmware_dir; print(firmware_dir().parent)"],
        tmp_path,
        env,
    )
    project = tmp_path / "my_project"
    subprocess.run(["cp", "-r", str(Path(site.stdout.strip()) / "examples" / "gatt_server"), str(project)], check=True)
    result = _run([str(bin_dir / "pytool"), "test", "--sim"], project, env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (project / ".pytool" / "results" / "junit.xml").is_file()
    assert str(REPO) not in result.stdout + result.stderr  # nothing came from the checkout
