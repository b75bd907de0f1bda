"""pytool.toml is validated against `pytool.config.SETTINGS`: a wrong type, an unknown key or a board pytool does not
know is one line naming the key, what was expected and the file, with exit code 2, before any board is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytool import config
from pytool.cli import run

REPO = Path(__file__).resolve().parents[2]

BAD = {
    "port-number": ("port = 123", "port must be a string, not int 123"),
    "firmware-float": ("firmware = 1.2", "firmware must be a string, not float 1.2"),
    "board-number": ("board = 5", "board must be a string, not int 5"),
    "board-unknown": ('board = "lopy99"', "board 'lopy99' is not a board pytool knows"),
    "ignore-number": ("ignore = 7", "ignore must be a list of strings, not int 7"),
    "reset-number": ("reset_after_sync = 3", 'reset_after_sync must be "soft", "hard" or false, not int 3'),
    "unknown-key": ('prot = "/dev/ttyUSB0"', "unknown setting 'prot'"),
    "ble-not-table": ('ble = "LoPy"', "ble must be a table, not str 'LoPy'"),
    "ble-name-number": ("[ble]\nname = 5", "ble.name must be a string, not int 5"),
    "ble-unknown-key": ('[ble]\nname = "LoPy"\nadress = "aa:bb"', "unknown setting 'ble.adress'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_pytool_toml_is_one_line_naming_key_type_and_file(case, tmp_path, capsys):
    text, message = BAD[case]
    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "pytool.toml").write_text(text + "\n")
    code = run(["check", str(tmp_path)])
    stderr = capsys.readouterr().err
    assert code == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert message in lines[0] and str(tmp_path / "pytool.toml") in lines[0], lines[0]


def test_every_key_of_the_examples_and_of_init_is_valid(tmp_path):
    for toml in REPO.glob("examples/*/pytool.toml"):
        config.load_pytool_toml(toml)
    _, cfg = config.init(tmp_path, board="lopy4", port="sim:dev")
    assert cfg.board == "lopy4" and cfg.port == "sim:dev"


def test_every_setting_is_documented():
    text = (REPO / "docs" / "config.md").read_text()
    for setting in config.SETTINGS:
        assert f"`{setting.key}`" in text, f"docs/config.md does not document {setting.key}"
