"""What `pytool sync` deploys: gitignore-style rules, defaults, sync folder, device_lib/ into lib/."""

from __future__ import annotations

import json
import zlib

import pytest

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


@pytest.mark.parametrize("size", [100, 511, 512, 2307, 2048, 4095, 4096, 16384])
def test_a_pieces_deflate_window_is_never_bigger_than_the_piece(size):
    """The board's inflater allocates the window the zlib header names in one block: on a LoPy's fragmented heap
    a 4 KB window for a 2.3 KB piece did not fit. The window is the largest power of two within the piece (512 B
    at least, 4 KB at most), and the piece still inflates."""
    source = (b"def handler(chr, data=None):\r\n    return chr.value()\r\n" * 200)[:size]
    body, packed = sync._encode(source, True)
    assert packed
    stream = board_feed.unescape(body)
    window = 1 << ((stream[0] >> 4) + 8)  # CINFO: log2 of the window, less 8 (RFC 1950)
    assert window == min(4096, max(512, 1 << (size.bit_length() - 1)))
    assert zlib.decompress(stream) == source


def test_the_bytes_the_firmware_acts_on_never_travel_as_themselves():
    every = bytes(range(256)) + b"\x1b[\x1bM\x1b\x1b\x03\x06\r\x1bC\x1b"  # escapes next to escapes
    body = board_feed.escape(every)
    assert not set(range(7)) & set(body) and 0x0D not in body  # no REPL control byte, no CR
    assert board_feed.unescape(body) == every
    assert len(body) == len(every) + sum(every.count(bytes((v,))) for v in board_feed.ESCAPED)
