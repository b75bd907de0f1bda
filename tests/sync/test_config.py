"""Project config: pytool.toml, `pytool init`, and the import of Pymakr's pymakr.conf."""

from __future__ import annotations

import json

import pytest

from pytool import config
from pytool.errors import UsageError

PYMAKR_1 = {
    "address": "/dev/ttyUSB0",
    "username": "micro",
    "password": "python",
    "sync_folder": "src",
    "open_on_start": True,
    "safe_boot_on_upload": False,
    "py_ignore": ["pymakr.conf", ".vscode", "secrets.py"],
    "fast_upload": False,
    "sync_file_types": "py,txt,json",
    "sync_all_file_types": False,
    "reboot_after_upload": True,
}


def test_pymakr_conf_is_imported_when_there_is_no_pytool_toml(tmp_path):
    (tmp_path / "pymakr.conf").write_text(json.dumps(PYMAKR_1))
    cfg = config.load(tmp_path)
    assert cfg.source == "pymakr.conf"
    assert cfg.port == "/dev/ttyUSB0"
    assert cfg.sync_root == (tmp_path / "src").resolve()
    assert cfg.reset_after_sync == "soft"
    assert "secrets.py" in cfg.ignore and "!*.py" in cfg.ignore and cfg.ignore[0] == "*"


def test_pymakr_2_conf_with_comments_and_telnet_address(tmp_path):
    (tmp_path / "pymakr.conf").write_text(
        '{\n  "py_ignore": [".vscode", "config-sample.json"],\n  "name": "temp-sensor", // anything\n'
        '  "dist_dir": "dist", "address": "192.168.4.1"\n}\n'
    )
    cfg = config.load(tmp_path)
    assert cfg.sync_folder == "dist" and cfg.ignore[::2] == [".vscode", "config-sample.json"]  # each with its contents
    assert cfg.port == "telnet://192.168.4.1"  # an IP address: Pymakr classic's telnet
    assert cfg.reset_after_sync is None


def test_pytool_toml_wins_over_pymakr_conf(tmp_path):
    (tmp_path / "pymakr.conf").write_text(json.dumps(PYMAKR_1))
    (tmp_path / "pytool.toml").write_text('port = "sim:a"\nreset_after_sync = "hard"\n[ble]\nname = "X"\n')
    cfg = config.load(tmp_path)
    assert (cfg.source, cfg.port, cfg.reset_after_sync, cfg.ble_name, cfg.sync_folder) == (
        "pytool.toml",
        "sim:a",
        "hard",
        "X",
        "",
    )


def test_init_imports_pymakr_and_round_trips(tmp_path):
    (tmp_path / "pymakr.conf").write_text(json.dumps(PYMAKR_1))
    path, cfg = config.init(tmp_path, board="lopy4")
    assert path == tmp_path / "pytool.toml"
    assert cfg.source == "pytool.toml" and cfg.board == "lopy4" and cfg.port == "/dev/ttyUSB0"
    assert cfg.sync_folder == "src" and cfg.reset_after_sync == "soft" and "secrets.py" in cfg.ignore
    assert config.load(tmp_path).to_json() == cfg.to_json()
    with pytest.raises(UsageError, match="already exists"):
        config.init(tmp_path)


def test_init_defaults_documents_every_key(tmp_path):
    path, cfg = config.init(tmp_path)
    assert path.name == "pytool.toml"
    text = path.read_text()
    for key in ("port", "board", "firmware", "sync_folder", "ignore", "reset_after_sync", "[ble]", "name"):
        assert key in text
    assert cfg.reset_after_sync is None and cfg.port is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1\n", "unknown setting"),
        ('reset_after_sync = "sometimes"\n', "reset_after_sync"),
        ("ignore = 3\n", "ignore must be a list"),
        ("port = \n", "cannot read"),
    ],
)
def test_bad_pytool_toml_is_a_usage_error(tmp_path, text, message):
    (tmp_path / "pytool.toml").write_text(text)
    with pytest.raises(UsageError, match=message):
        config.load(tmp_path)


def test_pymakr_conf_wifi_login_is_imported_by_init_and_never_shown(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTOOL_USER", raising=False)
    monkeypatch.delenv("PYTOOL_PASSWORD", raising=False)
    conf = {"address": "192.168.4.1", "username": "admin", "password": "s3cret-pw"}
    (tmp_path / "pymakr.conf").write_text(json.dumps(conf))
    path, cfg = config.init(tmp_path)
    assert path.name == "pytool.toml"
    assert cfg.port == "telnet://192.168.4.1"
    assert (cfg.wifi_user, cfg.wifi_password) == ("admin", "s3cret-pw")
    assert "s3cret-pw" not in json.dumps(cfg.to_json()) and "s3cret-pw" not in repr(cfg)
    again = config.load(tmp_path)  # from the written pytool.toml
    assert (again.source, again.wifi_user, again.wifi_password) == ("pytool.toml", "admin", "s3cret-pw")
    from pytool import transports

    try:
        assert transports.credentials() == ("admin", "s3cret-pw")  # what a telnet:// login will use
    finally:
        transports.set_credentials(None, None)
