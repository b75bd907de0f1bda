"""help() and help('modules') texts of the simulated firmware (pytool/sim/runtime/firmware_help.py), as
py/builtinhelp.c prints the firmware's module tables."""

from __future__ import annotations

from pytool.sim.runtime.firmware_help import PYCOM_HELP, STOCK_HELP, help_text, module_names, modules_text


def test_modules_are_printed_sorted_column_first_in_four_columns_of_18():
    long = "averyveryverylongname"  # 21 characters: the gap wraps to the next column stop (15 spaces)
    text = modules_text(["e", "a", long, "c", "b"])
    assert text == "a" + " " * 17 + "b" + " " * 17 + "e\n" + long + " " * 15 + "c\nPlus any modules on the filesystem\n"


def test_pycom_1_20_lists_both_module_tables_with_their_duplicates():
    names = module_names("pycom", "LoPy4")
    assert len(names) == 50
    for twice in ("uerrno", "uselect", "ubinascii"):  # the core table and the port's both have them
        assert names.count(twice) == 2
    assert {"pycom", "network", "umachine", "machine", "uzlib", "_boot", "_main", "array"} <= set(names)
    assert not {"esp32", "bluetooth", "asyncio", "deflate", "_bridge", "_micropython", "ffi"} & set(names)
    assert "sqnsupgrade" in module_names("pycom", "FiPy") and "sqnsupgrade" not in names  # frozen LTE code
    assert help_text("pycom", "LoPy4", "") == PYCOM_HELP and "CTRL-F" in PYCOM_HELP


def test_stock_1_24_lists_its_builtins_and_frozen_modules():
    names = module_names("micropython", "ESP32")
    assert len(names) == len(set(names)) == 68
    assert {"esp32", "bluetooth", "deflate", "asyncio/__init__", "mip/__init__", "network", "_espnow"} <= set(names)
    assert not {"pycom", "uzlib", "ucrypto", "umachine", "_bridge", "ffi", "termios"} & set(names)
    text = help_text("micropython", "ESP32", "modules")
    assert text.splitlines()[0].split() == ["__main__", "bluetooth", "heapq", "select"]  # 17 rows, column-first
    assert "requests/__init__ websocket\n" in text  # 17 characters: one space
    assert help_text("micropython", "ESP32", "").startswith("Welcome to MicroPython on the ESP32!\n") and STOCK_HELP
