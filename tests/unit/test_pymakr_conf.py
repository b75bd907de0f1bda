"""pymakr.conf keys are honoured or reported, one line each (issue 19): py_ignore wins over sync_file_types, and
the keys pytool does not act on say so."""

from __future__ import annotations

import json

from pytool import config, sync

CONF = {
    "address": "/dev/ttyUSB0",
    "sync_file_types": "py,txt",
    "py_ignore": ["secret.py", "docs", "lib/skip"],
    "safe_boot_on_upload": True,
    "open_on_start": True,
    "username": "micro",
    "password": "python",
    "ctrl_c_on_connect": False,
    "fast_upload": True,
}


def _project(tmp_path, conf: dict) -> config.ProjectConfig:
    for rel in ("main.py", "secret.py", "notes.txt", "image.png", "docs/x.py", "lib/a.py", "lib/skip/b.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    (tmp_path / "pymakr.conf").write_text(json.dumps(conf))
    return config.load(tmp_path)


def test_py_ignore_applies_together_with_sync_file_types(tmp_path):
    cfg = _project(tmp_path, CONF)
    assert [f.rel for f in sync.collect(cfg, include_device_lib=False)] == ["lib/a.py", "main.py", "notes.txt"]


def test_every_key_pytool_does_not_act_on_gets_one_line(tmp_path):
    cfg = _project(tmp_path, CONF)
    assert cfg.safe_boot_before_sync
    assert cfg.notes == [
        "safe_boot_on_upload: honoured: each sync starts with a Pycom safe boot (Ctrl-F)",
        "ctrl_c_on_connect = false: not supported: pytool always stops the running program to connect",
        "username: not used: the address is not a WiFi (telnet) board",
        "password: not used: the address is not a WiFi (telnet) board",
        "open_on_start: not supported: pytool opens no terminal by itself (`pytool repl` does)",
        "fast_upload: not needed: pytool always sends compressed, hash-verified chunks",
    ]
    assert all("\n" not in note for note in cfg.notes)


def test_a_telnet_address_uses_the_login_and_says_nothing_of_it(tmp_path):
    cfg = _project(tmp_path, {"address": "192.168.4.1", "username": "micro", "password": "python"})
    assert (cfg.port, cfg.wifi_user, cfg.notes) == ("telnet://192.168.4.1", "micro", [])
