"""Pycom's modules in the simulated firmware: pycom (NVS in the flash image, LED state, helpers), machine,
uhashlib's one-active-hash rule, uzlib; and the stock-MicroPython flavour's differences."""

from __future__ import annotations

import gzip
import hashlib
import time
import zlib

import pytest
from mpremote.transport import TransportExecError
from mpremote.transport_serial import SerialTransport
from support.runtime import new_image, start_board

from pytool.boards import get_board


def test_nvs_lives_in_the_flash_nvs_region_and_survives_hard_reset(lopy4):
    t = SerialTransport(lopy4.port, baudrate=115200)
    t.enter_raw_repl()
    t.exec("import pycom\npycom.nvs_set('count', 41)\npycom.nvs_set('name', 'lopy')")
    assert t.eval("pycom.nvs_get('count') + 1") == 42
    t.exit_raw_repl()
    t.close()
    lopy4.call(lopy4.boot)  # power cycle
    lopy4.wait_ready()
    with open(lopy4.image, "rb") as f:
        f.seek(lopy4.board.layout.nvs.offset)
        assert f.read(4) == b"PYNV"
    t = SerialTransport(lopy4.port, baudrate=115200)
    try:
        t.enter_raw_repl()
        assert t.eval("__import__('pycom').nvs_get('count')") == 41
        assert t.eval("__import__('pycom').nvs_get('name')") == "lopy"
        assert t.eval("__import__('pycom').nvs_get('nope', 7)") == 7
        with pytest.raises(TransportExecError, match="ValueError"):
            t.exec("import pycom; pycom.nvs_get('nope')")
        t.exec("pycom.nvs_erase('count')")
        assert t.eval("pycom.nvs_get('count', None)") is None
        t.exec("pycom.nvs_erase_all()")
        assert t.eval("pycom.nvs_get('name', 'gone')") == "gone"
        t.exit_raw_repl()
    finally:
        t.close()


def test_pycom_helpers(raw):
    raw.exec("import pycom")
    uuid = raw.eval("bytes(pycom.create_128bit_le_uuid_from_string('00112233445566778899aabbccddeeff'))")
    assert uuid == bytes.fromhex("ffeeddccbbaa99887766554433221100")
    assert raw.eval("pycom.heartbeat()") is True
    raw.exec("pycom.heartbeat(False); pycom.rgbled(0x00FF00)")
    assert raw.eval("pycom.heartbeat()") is False
    internal, psram = raw.eval("pycom.get_free_heap()")
    assert internal > 0 and 0 < psram < 4 * 1024 * 1024 - 2560 * 1024  # LoPy4: 4 MB PSRAM minus the GC pool
    assert raw.eval("pycom.bootmgr()") == ("Factory", "LittleFS", "SafeBoot: False", "Status: Ready")


def test_machine(lopy4, raw):
    raw.exec("import machine")
    assert raw.eval("machine.unique_id()") == lopy4.mac
    assert raw.eval("machine.freq()") == 160000000
    raw.exec("r = machine.RTC(); r.init((2021, 1, 12, 10, 30, 0, 0, 0))")
    now = raw.eval("r.now()")
    assert now[:4] == (2021, 1, 12, 10) and now[7] is None
    raw.exec("p = machine.Pin('P9', mode=machine.Pin.OUT, value=1); p.toggle()")
    assert raw.eval("(p.value(), p.mode(), p.id())") == (0, 2, "P9")
    raw.exec("c = machine.Timer.Chrono(); c.start(); time = __import__('time'); time.sleep_ms(20); c.stop()")
    first, again = raw.eval("(c.read_us(), c.read_us())")
    assert first > 0 and first == again  # a stopped chrono stands still


def test_uhashlib_allows_one_active_hash(raw):
    raw.exec("import uhashlib, hashlib")
    assert raw.eval("uhashlib.sha256(b'abc').digest()") == hashlib.sha256(b"abc").digest()
    raw.exec("h = uhashlib.sha256(b'ab')")
    with pytest.raises(TransportExecError, match="OSError: only one active hash operation is permitted at a time"):
        raw.exec("uhashlib.md5(b'x')")
    raw.exec("h.update(b'c'); d = h.digest()")
    assert raw.eval("d") == hashlib.sha256(b"abc").digest()
    raw.exec("h.update(b'more')")  # after digest(): ignored, as moduhashlib.c does
    assert raw.eval("h.digest()") == hashlib.sha256(b"abc").digest()
    assert raw.eval("hashlib.sha1(b'x').digest()") == hashlib.sha1(b"x").digest()  # free again
    data = bytes(range(256)) * 2
    for name in ("sha224", "sha384", "sha512"):  # Pycom has them; the interpreter does not (pure Python here)
        assert raw.eval(f"uhashlib.{name}({data!r}).digest()") == hashlib.new(name, data).digest()
    assert raw.eval("hasattr(uhashlib.sha256(), 'hexdigest')") is False


def test_uzlib_decompresses_as_pycoms_moduzlib(raw):
    """Pycom 1.20's uzlib.decompress (extmod/moduzlib.c) returns a bytearray and reads zlib (or raw deflate) only:
    gzip is for DecompIO. MicroPython 1.11's exec() refuses a bytearray (mp_obj_str_get_data)."""
    data = b"pycom " * 500
    raw.exec(f"import uzlib, zlib\nz = {zlib.compress(data)!r}\ng = {gzip.compress(data)!r}")
    assert raw.eval("bytes(uzlib.decompress(z))") == data
    assert raw.eval("type(uzlib.decompress(z)).__name__") == "bytearray"
    assert raw.eval("repr(uzlib.decompress(b'x\\x9c\\x03\\x00\\x00\\x00\\x00\\x01'))") == "bytearray(b'')"
    assert raw.eval("bytes(uzlib.decompress(z[2:-4], -15))") == data
    out = raw.exec("try:\n zlib.decompress(g, 31)\nexcept ValueError as e:\n print(repr(e))")
    assert out.strip() == b"ValueError(-3,)"
    assert raw.eval("zlib.DecompIO(__import__('io').BytesIO(g), 31).read()") == data
    out = raw.exec("try:\n exec(bytearray(b'x = 1'))\nexcept TypeError as e:\n print(e)")
    assert out.strip() == b"can't convert 'bytearray' object to str implicitly"
    assert raw.eval("eval(compile('6 * 7', 's', 'eval'))") == 42  # a code object is still run


def test_stock_micropython_flavour(tmp_path):
    hb = start_board("esp32", tmp_path)
    try:
        assert b"MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32\r\n" in hb.output
        t = SerialTransport(hb.port, baudrate=115200)
        try:
            t.enter_raw_repl()
            u = t.eval("tuple(__import__('os').uname())")
            assert (u[0], u[4], len(u)) == ("esp32", "Generic ESP32 module with ESP32", 5)
            t.exec("print(1)")
            assert t.use_raw_paste is True  # stock firmware answers the raw-paste request ("R\x01")
            t.exit_raw_repl()
        finally:
            t.close()
        deadline = time.monotonic() + 10
        while b"MPY: soft reboot\r\n" not in hb.output and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b"MPY: soft reboot\r\n" in hb.output and b"PYB: soft reboot" not in hb.output
    finally:
        hb.close()


def test_config_block_selects_fat_and_bootmgr_switches_back(tmp_path):
    board = get_board("lopy")
    image = new_image(tmp_path / "fat.bin", board)
    with open(image, "r+b") as f:  # config block byte 533 = 0: FatFS (pycom-fwtool-cli pycom --fs_type FatFS)
        f.seek(board.layout.config.offset + 533)
        f.write(b"\x00")
    hb = start_board("lopy", tmp_path, image=image)
    try:
        t = SerialTransport(hb.port, baudrate=115200)
        try:
            t.enter_raw_repl()
            t.exec("import os, pycom\nwith open('fat.txt', 'w') as f: f.write('on fat')")
            assert t.eval("pycom.bootmgr()[1]") == "FAT"
            assert t.eval("os.statvfs('/flash')[0]") == 512  # FatFS sectors of 512 bytes, as Pycom formats it
            t.exec("pycom.bootmgr(fs_type=pycom.LittleFS)")  # takes effect at the next boot; not converted
            t.exit_raw_repl()
        finally:
            t.close()
        with open(image, "rb") as f:
            f.seek(board.layout.fs.offset)
            assert f.read(3)[0] == 0xEB  # a FAT boot sector at the start of the fs region
        hb.call(hb.boot)
        hb.wait_ready()
        t = SerialTransport(hb.port, baudrate=115200)
        try:
            t.enter_raw_repl()
            assert t.eval("__import__('pycom').bootmgr()[1]") == "LittleFS"
            assert t.eval("sorted(__import__('os').listdir())") == ["boot.py", "cert", "lib", "main.py", "sys"]
            t.exit_raw_repl()
        finally:
            t.close()
    finally:
        hb.close()
