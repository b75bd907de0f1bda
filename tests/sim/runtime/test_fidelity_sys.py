"""What device code sees on a simulated board reports the firmware, not the host interpreter: sys, os.uname(),
help(micropython), the module set and mount point of each flavour, and pytool's own reading of them."""

from __future__ import annotations

import pytest
from support.runtime import raw_exec

from pytool.board import BoardSession
from pytool.sim.runtime.firmware_help import help_text

pytestmark = pytest.mark.timeout(180)


def test_pycom_sys_is_micropython_1_11_on_esp32(lopy4):
    out, err = raw_exec(lopy4, "import sys\nprint(sys.implementation)\nprint(sys.version, sys.platform)")
    assert err == ""
    assert out == "(name='micropython', version=(1, 11, 0))\r\n3.4.0 esp32\r\n"
    out, _ = raw_exec(lopy4, "import sys\nprint(sys.path, hasattr(sys, 'atexit'), hasattr(sys, 'executable'))")
    assert out == "['', '/flash', '/flash/lib'] False False\r\n"


def test_stock_sys_is_its_version(esp32):
    out, err = raw_exec(esp32, "import sys\nprint(sys.implementation)\nprint(sys.version, sys.platform)")
    assert err == ""
    assert out == (
        "(name='micropython', version=(1, 24, 1, ''), _machine='Generic ESP32 module with ESP32', _mpy=11014)\r\n"
        "3.4.0; MicroPython v1.24.1 on 2024-11-29 esp32\r\n"
    )


def test_uname_formats_like_attrtuple(lopy4):
    # tests/basics/attrtuple2.py
    code = "import os\nu = os.uname()\nt = ''\nfor v in u:\n    t += v + ' '\nprint(('%s ' * len(u)) % u == t)"
    assert raw_exec(lopy4, code) == ("True\r\n", "")


def test_help_micropython_shows_no_simulator_helpers(lopy4):
    out, err = raw_exec(lopy4, "import micropython\nhelp(micropython)")
    assert err == ""
    assert out.startswith("object <module 'micropython'> is of type module\r\n")
    assert "_bridge" not in out and "_mp" not in out and "_micropython" not in out


def test_module_sets_per_flavour(lopy4, esp32):
    probe = (
        "import os\nfor m in ('pycom', 'uzlib', 'esp32'):\n"
        "    try:\n        __import__(m); print(m, 'yes')\n    except ImportError:\n        print(m, 'no')\n"
        "print(os.listdir('/'), os.getcwd())"
    )
    out, err = raw_exec(lopy4, probe)
    assert err == ""
    assert out.split("\r\n")[:4] == ["pycom yes", "uzlib yes", "esp32 no", "['flash'] /flash"]
    out, err = raw_exec(esp32, probe)
    assert err == ""
    lines = out.split("\r\n")
    assert lines[:3] == ["pycom no", "uzlib no", "esp32 yes"]
    assert lines[3].startswith("[") and "'boot.py'" in lines[3] and "flash" not in lines[3] and lines[3].endswith(" /")


def test_pytool_reads_stock_board_as_micropython(esp32, lopy4):
    with BoardSession.connect(esp32.port) as board:
        caps = board.capabilities()
    assert caps.flavour == "micropython" and caps.label.startswith("MicroPython 1.24.1")
    assert caps.micropython == (1, 24, 1) and caps.platform == "esp32"
    with BoardSession.connect(lopy4.port) as board:
        caps = board.capabilities()
    assert caps.flavour == "pycom" and caps.label == "Pycom 1.20.2.r4 (LoPy4)" and caps.micropython == (1, 11, 0)


def test_help_and_help_modules_print_the_firmwares_texts(lopy4, esp32):
    for hb, flavour, board in ((lopy4, "pycom", "LoPy4"), (esp32, "micropython", "ESP32")):
        out, err = raw_exec(hb, "help()")
        assert (out, err) == (help_text(flavour, board, "").replace("\n", "\r\n"), "")
        out, err = raw_exec(hb, "help('modules')")
        assert (out, err) == (help_text(flavour, board, "modules").replace("\n", "\r\n"), "")
        assert "_bridge" not in out and "_micropython" not in out and "ffi" not in out


def test_stock_network_is_stock_micropythons(esp32, lopy4):
    # stock MicroPython's network on an ESP32: WLAN, LAN, STA_IF/AP_IF; not Pycom's Bluetooth, Server, LoRa
    probe = "import network\nprint([hasattr(network, n) for n in ('WLAN', 'LAN', 'Bluetooth', 'Server', 'LoRa')])"
    assert raw_exec(esp32, probe) == ("[True, True, False, False, False]\r\n", "")
    code = (
        "import network, machine\nw = network.WLAN(network.STA_IF)\nprint(w is network.WLAN(), w.active())\n"
        "try:\n    w.scan()\nexcept OSError as e:\n    print(e)\n"
        "w.active(True)\nprint(w.scan(), w.isconnected(), w.config('mac') == machine.unique_id())\n"
        "print(network.STA_IF, network.AP_IF, network.WLAN(network.AP_IF).config('mac')[5] - machine.unique_id()[5])"
    )
    out, err = raw_exec(esp32, code)
    assert err == ""
    assert out == "True False\r\nSTA must be active\r\n[] False True\r\n0 1 1\r\n"
    assert raw_exec(lopy4, probe)[0].startswith("[False, False, True, True,")  # Pycom's network: not stock's


def test_pycom_lacks_the_interpreters_collections_heapq_random(lopy4):
    # Pycom 1.20.x has ucollections and no collections weak link, no (u)heapq, no (u)random
    probe = (
        "for m in ('collections', 'heapq', 'random', 'ucollections'):\n"
        "    try:\n        __import__(m); print(m, 'yes')\n    except ImportError as e:\n        print(m, e)\n"
    )
    out, err = raw_exec(lopy4, probe)
    assert err == ""
    assert out.split("\r\n")[:4] == [
        "collections no module named 'collections'",
        "heapq no module named 'heapq'",
        "random no module named 'random'",
        "ucollections yes",
    ]
    raw_exec(lopy4, "f = open('/flash/lib/heapq.py', 'w')\nf.write('X = 7')\nf.close()")
    try:  # a file of that name on the board's path imports, as on the board
        assert raw_exec(lopy4, "import heapq\nprint(heapq.X)") == ("7\r\n", "")
    finally:
        raw_exec(lopy4, "import os\nos.remove('/flash/lib/heapq.py')")
