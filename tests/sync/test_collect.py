"""What `pytool sync` deploys: gitignore-style rules, defaults, sync folder, device_lib/ into lib/."""

from __future__ import annotations

import json
import zlib

from pytool import board_feed, config, sync
from pytool.paths import device_lib_dir


def make(root, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def rels(cfg, device_lib: bool = False) -> list[str]:
    return [f.rel for f in sync.collect(cfg, include_device_lib=device_lib)]


def test_defaults_gitignore_and_config_rules(tmp_path):
    make(
        tmp_path,
        {
            "main.py": "",
            "boot.py": "",
            "lib/util.py": "",
            "data/readme.md": "",
            "data/table.bin": "",
            ".git/config": "",
            "__pycache__/x.pyc": "",
            "tests/test_a.py": "",
            "venv2/lib/site.py": "",
            "build/out.py": "",
            "secret.key": "",
            "notes.md": "",
            ".gitignore": "build/\n*.key\n",
            "pytool.toml": 'ignore = ["*.md"]\n',
        },
    )
    (tmp_path / "venv2" / "pyvenv.cfg").write_text("home = /usr\n")  # a venv under any name
    cfg = config.load(tmp_path)
    assert rels(cfg) == ["boot.py", "data/table.bin", "lib/util.py", "main.py"]


def test_negation_and_sync_folder_with_project_gitignore(tmp_path):
    make(
        tmp_path,
        {
            "src/main.py": "",
            "src/gen/a.py": "",
            "src/gen/keep.py": "",
            "README.md": "",
            ".gitignore": "src/gen/*\n!src/gen/keep.py\n",
            "pytool.toml": 'sync_folder = "src"\n',
        },
    )
    assert rels(config.load(tmp_path)) == ["gen/keep.py", "main.py"]


def test_pymakr_file_types(tmp_path):
    make(tmp_path, {"main.py": "", "a.txt": "", "b.bin": "", "sub/c.json": "", "sub/d.exe": ""})
    (tmp_path / "pymakr.conf").write_text(json.dumps({"sync_file_types": "py,txt,json", "py_ignore": ["a.txt"]}))
    assert rels(config.load(tmp_path)) == ["main.py", "sub/c.json"]


def test_device_lib_goes_to_lib_and_the_project_wins(tmp_path):
    libs = sorted(p.name for p in device_lib_dir().glob("*.py"))
    assert libs, "device_lib/ has modules"
    make(tmp_path, {"main.py": "", f"lib/{libs[0]}": "# mine\n"})
    files = {f.rel: f for f in sync.collect(config.load(tmp_path))}
    assert set(files) == {"main.py", *(f"lib/{name}" for name in libs)}
    assert files[f"lib/{libs[0]}"].read() == b"# mine\n"
    assert not any(rel.endswith(".md") for rel in files)


def test_encoding_compresses_source_and_keeps_binary_plain():
    source = b"def handler(chr, data=None):\r\n    return chr.value()\r\n" * 40
    body, packed = sync._encode(source, True)
    assert packed and len(body) < 0.8 * len(source)
    assert zlib.decompress(board_feed.unescape(body)) == source
    noise = zlib.compress(bytes(range(256)) * 2)  # already compressed: not worth packing again
    body, packed = sync._encode(noise, True)
    assert not packed and board_feed.unescape(body) == noise


def test_the_bytes_the_firmware_acts_on_never_travel_as_themselves():
    every = bytes(range(256)) + b"\x1b[\x1bM\x1b\x1b\x03\x06\r\x1bC\x1b"  # escapes next to escapes
    body = board_feed.escape(every)
    assert not set(range(7)) & set(body) and 0x0D not in body  # no REPL control byte, no CR
    assert board_feed.unescape(body) == every
    assert len(body) == len(every) + sum(every.count(bytes((v,))) for v in board_feed.ESCAPED)
