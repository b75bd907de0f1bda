"""Pycom's REPL, boot and /flash on the simulated firmware, driven by unmodified mpremote (its CLI and its
Python transport) and by raw bytes on the pty like a terminal."""

from __future__ import annotations

import hashlib
import os
import pty
import select
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest
from mpremote.transport_serial import SerialTransport
from support.runtime import HarnessBoard, start_board

from pytool.boards import catalogue, get_board
from pytool.sim.flash_image import FlashImage
from pytool.sim.runtime.fs_image import FlashFS

MPREMOTE = [sys.executable, "-m", "mpremote"]


def mpremote(board: HarnessBoard, *args: str, check: bool = True) -> str:
    for _ in range(20):
        r = subprocess.run([*MPREMOTE, "connect", board.port, *args], capture_output=True, timeout=60)
        # another program on this shared machine may hold the pty's lock for a moment (port scans)
        if b"failed to access" not in r.stderr or not os.path.exists(board.port):
            break
        time.sleep(0.25)
    out = r.stdout.decode()  # not text=True: the board's "\r\n" must stay visible
    if check:
        assert r.returncode == 0, out + r.stderr.decode()
    return out


def write_scripts(board: HarnessBoard, **scripts: str) -> None:
    """Write /flash/boot.py and/or /flash/main.py."""
    code = "".join(f"with open('{name}.py', 'w') as f: f.write({text!r})\n" for name, text in scripts.items())
    mpremote(board, "exec", code)


class Terminal:
    """The serial port as a terminal program sees it (bytes in, bytes out)."""

    def __init__(self, port: str) -> None:
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.buf = b""

    def sync(self) -> None:
        """Forget whatever earlier sessions left on the port and wait for a fresh friendly prompt."""
        Terminal._n += 1
        self.send(b"\x02\x03\rprint('sy' + 'nc%d')\r" % Terminal._n)
        self.expect(b"sync%d\r\n>>> " % Terminal._n)
        self.buf = b""

    _n = 0

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, marker: bytes, timeout: float = 20) -> bytes:
        """Read until `marker` arrives; return everything up to and including it."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {marker!r}; got {self.buf[-400:]!r}"
            if select.select([self.fd], [], [], min(left, 0.2))[0]:
                self.buf += os.read(self.fd, 4096)
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture(scope="module")
def lopy(tmp_path_factory) -> HarnessBoard:
    hb = start_board("lopy", tmp_path_factory.mktemp("lopy"))
    yield hb
    hb.close()


@pytest.fixture
def term(lopy4):
    t = Terminal(lopy4.port)
    t.sync()
    yield t
    t.close()


# ---------------------------------------------------------------------------------------------- mpremote


def test_mpremote_exec_eval_and_uname(lopy4):
    out = mpremote(lopy4, "exec", "import os; print(os.uname().sysname, os.uname().machine)")
    assert out == "LoPy4 LoPy4 with ESP32\r\n"
    assert mpremote(lopy4, "eval", "6 * 7") == "42\r\n"


def test_mpremote_fs_round_trip(lopy4, tmp_path):
    src = tmp_path / "proj"
    (src / "sub").mkdir(parents=True)
    (src / "a.py").write_text("print('A')\n")
    blob = os.urandom(5000) + bytes(range(256)) * 20
    (src / "sub" / "data.bin").write_bytes(blob)
    mpremote(lopy4, "fs", "cp", "-r", str(src), ":")
    assert "data.bin" in mpremote(lopy4, "fs", "ls", ":proj/sub")
    assert mpremote(lopy4, "fs", "cat", ":proj/a.py") == "print('A')\r\n"  # a UART's line ends
    assert hashlib.sha256(blob).hexdigest() in mpremote(lopy4, "fs", "sha256sum", ":proj/sub/data.bin")
    back = tmp_path / "back.bin"
    mpremote(lopy4, "fs", "cp", ":proj/sub/data.bin", str(back))
    assert back.read_bytes() == blob
    mpremote(lopy4, "fs", "mkdir", ":newdir")
    assert mpremote(lopy4, "exec", "import os; print(os.stat('newdir')[6])") == "0\r\n"  # as Pycom's LittleFS
    mpremote(lopy4, "fs", "rm", ":proj/a.py")
    listing = mpremote(lopy4, "fs", "ls", ":")
    assert "newdir/" in listing
    assert "a.py" not in mpremote(lopy4, "fs", "ls", ":proj")
    script = tmp_path / "run_me.py"
    script.write_text("import os\nprint('cwd', os.getcwd(), sorted(os.listdir('/')))\n")
    assert mpremote(lopy4, "run", str(script)) == "cwd /flash ['flash']\r\n"


def test_files_survive_soft_reset_and_hard_reset(lopy4):
    mpremote(lopy4, "exec", "with open('keep.txt', 'w') as f: f.write('kept')")
    mpremote(lopy4, "soft-reset")
    assert mpremote(lopy4, "exec", "print(open('keep.txt').read())") == "kept\r\n"
    resets = len(lopy4.hard_resets)
    mpremote(lopy4, "reset")  # machine.reset(): a hard reset of the board
    deadline = time.monotonic() + 30
    while len(lopy4.hard_resets) == resets and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lopy4.hard_resets[resets:] == [False]
    lopy4.wait_ready()
    assert mpremote(lopy4, "exec", "import machine; print(open('keep.txt').read(), machine.reset_cause())") == (
        "kept 4\r\n"
    )


def test_files_survive_restart_and_erase_removes_them(tmp_path):
    board = get_board("sipy")
    hb = start_board("sipy", tmp_path)
    try:
        mpremote(hb, "exec", "with open('lib/mod.py', 'w') as f: f.write('X = 5')")
    finally:
        hb.close()
    hb = start_board("sipy", tmp_path, image=hb.image)  # the simulator restarted on the same flash image
    try:
        assert mpremote(hb, "exec", "import mod; print(mod.X)") == "5\r\n"
        hb.power_off()
        with FlashImage(hb.image, board.flash_size) as flash:  # what esptool's erase-region does
            flash.erase(board.layout.fs.offset, board.layout.fs.size)
        hb.call(hb.boot)
        hb.wait_ready()
        out = mpremote(hb, "exec", "import os; print(sorted(os.listdir()), sorted(os.listdir('lib')))")
        assert out == "['boot.py', 'cert', 'lib', 'main.py', 'sys'] []\r\n"
    finally:
        hb.close()


# ---------------------------------------------------------------------------------------------- REPL bytes


def test_raw_repl_is_byte_exact_and_refuses_raw_paste(term):
    term.send(b"\x01")
    assert term.expect(b"exit\r\n>") == b"\r\nraw REPL; CTRL-B to exit\r\n>"
    term.send(b"\x05A\x01")  # raw-paste request: Pycom 1.20 has none, 0x01 just resets the raw REPL
    assert term.expect(b"raw REPL; CTRL-B to exit\r\n>") == b"raw REPL; CTRL-B to exit\r\n>"
    term.send(b"print('a')\nprint('b')\x04")
    assert term.expect(b"\x04>") == b"OKa\r\nb\r\n\x04\x04>"
    term.send(b"1/0\x04")
    assert term.expect(b"\x04>").startswith(b"OK\x04Traceback (most recent call last):\r\n")
    term.send(b"\x02")
    assert term.expect(b">>> ") == (
        b"\r\nPycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; LoPy4 with ESP32\r\n"
        b'Type "help()" for more information.\r\n>>> '
    )


def test_ctrl_c_interrupts_busy_loop_and_sleep(term):
    term.send(b"while True: pass\r\r")
    term.expect(b"\r\n")
    term.send(b"\x03")
    assert b"KeyboardInterrupt: \r\n>>> " in term.expect(b">>> ")
    term.send(b"import time; time.sleep(100)\r")
    term.expect(b"sleep(100)\r\n")
    term.send(b"\x03")
    assert b"KeyboardInterrupt: \r\n>>> " in term.expect(b">>> ")


def test_boot_and_main_order_in_both_modes(lopy4, term):
    write_scripts(lopy4, boot='print("BOOT")', main='print("MAIN")')
    term.sync()
    try:
        term.send(b"\x04")  # friendly REPL: soft reboot runs boot.py, then main.py
        out = term.expect(b">>> ")
        assert out.startswith(b"\r\nPYB: soft reboot\r\nBOOT\r\nMAIN\r\nPycom MicroPython ")
        term.send(b"\x01")
        term.expect(b"raw REPL; CTRL-B to exit\r\n>")
        term.send(b"\x04")  # raw REPL: soft reboot runs boot.py only, and stays in the raw REPL
        assert term.expect(b"raw REPL; CTRL-B to exit\r\n>") == (
            b"OK\r\nPYB: soft reboot\r\nBOOT\r\nraw REPL; CTRL-B to exit\r\n>"
        )
        term.send(b"\x02")
        term.expect(b">>> ")
    finally:
        write_scripts(lopy4, boot="# boot.py -- run on boot-up", main="# main.py -- put your code here!")


def test_ctrl_c_interrupts_main_py(lopy4, term):
    write_scripts(lopy4, main='import time\nprint("LOOP")\nwhile True: time.sleep(1)')
    term.sync()
    try:
        term.send(b"\x04")
        term.expect(b"LOOP\r\n")
        term.send(b"\x03")
        out = term.expect(b">>> ")
        assert b'Traceback (most recent call last):\r\n  File "main.py", line ' in out  # no frame of ours
        assert b"in <module>\r\nKeyboardInterrupt: \r\n" in out
        assert out.endswith(b'Type "help()" for more information.\r\n>>> ')
    finally:
        write_scripts(lopy4, main="# main.py -- put your code here!")


def test_ctrl_f_resets_into_safe_boot_once(lopy4, term):
    write_scripts(lopy4, boot='print("BOOT")', main='print("MAIN")')
    term.sync()
    try:
        term.send(b"\x06")
        out = term.expect(b">>> ")
        assert b"rst:" in out and b"BOOT\r\n" not in out and b"MAIN\r\n" not in out
        assert lopy4.hard_resets[-1] is True
        term.send(b"import pycom; pycom.bootmgr()[2]\r")
        assert b"'SafeBoot: True'" in term.expect(b">>> ")
        term.send(b"\x04")  # safe boot lasts one boot: a soft reset runs the scripts again
        assert b"BOOT\r\nMAIN\r\n" in term.expect(b">>> ")
        # kbd_intr(-1) disarms Ctrl-F while the code runs (Pycom clears the reset char with it)
        term.send(b"import micropython; micropython.kbd_intr(-1); print(b'x\\x06y')\r")
        assert b"b'x\\x06y'\r\n>>> " in term.expect(b">>> ")
    finally:
        write_scripts(lopy4, boot="# boot.py -- run on boot-up", main="# main.py -- put your code here!")


def test_ctrl_c_while_the_board_boots_never_unmounts_flash(lopy4, term):
    """A host interrupting the board as it boots (pytool, mpremote, a reset mid-sync) stops boot.py/main.py at
    most: /flash is mounted by the firmware itself, and device code never sees the host's filesystem."""
    write_scripts(lopy4, main='import time\nprint("LOOP")\nwhile True: time.sleep(1)')
    term.sync()
    try:
        lopy4.loop.call_soon_threadsafe(lopy4._hard_reset, False)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:  # Ctrl-C all through the boot, from its first moment
            term.send(b"\x03")
            time.sleep(0.003)
        term.sync()
        term.send(
            b"import os; print(os.listdir('/'), os.getcwd(), {'boot.py', 'main.py', 'lib'} <= set(os.listdir()))\r"
        )
        assert b"['flash'] /flash True\r\n>>> " in term.expect(b">>> ")
    finally:
        write_scripts(lopy4, main="# main.py -- put your code here!")


def test_the_hosts_repl_history_never_reaches_the_board(tmp_path, monkeypatch):
    """The unix port loads $HOME/.micropython.history into the heap and saves its REPL lines there; a board has
    no such file (a 112 KB one made simulated 512 KB boards die at boot)."""
    home = tmp_path / "home"
    home.mkdir()
    history = home / ".micropython.history"
    history.write_text("print('HOST' + 'HISTORY')\n")
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "board").mkdir()
    hb = start_board("lopy4", tmp_path / "board")
    try:
        t = Terminal(hb.port)
        t.sync()  # its own line is now the newest history entry
        t.send(b"\x1b[A\x1b[A\r")  # up twice: the host's line if it were loaded, else the oldest (sync) line
        recalled = t.expect(b">>> ")
        t.close()
    finally:
        hb.close()
    assert b"HOSTHISTORY" not in recalled
    assert b"sync%d\r\n" % Terminal._n in recalled  # up-arrow history works on the board itself
    assert history.read_text() == "print('HOST' + 'HISTORY')\n"
    assert list(home.iterdir()) == [history]


# ---------------------------------------------------------------------------------------------- per board


@pytest.mark.parametrize("key", sorted(k for k, b in catalogue().items() if b.is_pycom))
def test_banner_and_uname_per_board(key, tmp_path):
    board = get_board(key)
    hb = start_board(key, tmp_path)
    try:
        banner = f"Pycom MicroPython 1.20.2.r4 [v1.11-ffb0e1c] on 2021-01-12; {board.name} with ESP32\r\n"
        assert banner.encode() + b'Type "help()" for more information.\r\n>>> ' in hb.output
        t = SerialTransport(hb.port, baudrate=115200)
        try:
            t.enter_raw_repl()
            u = t.eval("tuple(__import__('os').uname())")
            text = t.eval("repr(__import__('os').uname())")
        finally:
            t.close()
    finally:
        hb.close()
    expected = [board.name, board.name, "1.20.2.r4", "v1.11-ffb0e1c on 2021-01-12", f"{board.name} with ESP32"]
    expected += [v for v in (board.lorawan, board.sigfox) if v]
    assert list(u) == expected
    assert text.startswith(f"(sysname='{board.name}', nodename='{board.name}', release='1.20.2.r4'")
    assert ("lorawan='1.0.2'" in text) == bool(board.lorawan)
    assert ("sigfox='1.0.1'" in text) == bool(board.sigfox)


def test_memory_error_on_512k_board_only(lopy, lopy4):
    code = "b = bytearray(400 * 1024); print(len(b))"
    assert mpremote(lopy4, "exec", code) == "409600\r\n"
    r = subprocess.run([*MPREMOTE, "connect", lopy.port, "exec", code], capture_output=True, text=True, timeout=60)
    assert "MemoryError" in r.stdout + r.stderr
    heap = mpremote(lopy, "exec", "import pycom; print(pycom.get_free_heap()[1])")
    assert heap == "NO_EXT_RAM\r\n"


def test_device_code_cannot_reach_host_paths(lopy4):
    probe = (
        "import os\n"
        "for p in ('/etc/passwd', '/tmp', '" + str(Path(__file__).resolve()) + "'):\n"
        "    try:\n        open(p).read(); print('OPEN', p)\n    except OSError as e:\n        print('no', e.args[0])\n"
        "    try:\n        os.listdir(p); print('LIST', p)\n    except OSError as e:\n        print('no', e.args[0])\n"
        "print(os.listdir('/'), hasattr(os, 'system'), hasattr(os, 'VfsPosix'))\n"
        "for m in ('ffi', 'vfs', 'socket', 'termios'):\n"
        "    try:\n        __import__(m); print('IMPORTED', m)\n    except ImportError:\n        print('no', m)\n"
    )
    out = mpremote(lopy4, "exec", probe)
    assert "OPEN" not in out and "LIST" not in out and "IMPORTED" not in out
    assert "['flash'] False False" in out


def test_mpremote_repl_through_a_terminal(lopy4):
    """`mpremote repl` as a user runs it in a terminal: Ctrl-C stops a loop, Ctrl-D soft-resets, Ctrl-] quits."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: mpremote with the pty as its terminal
        os.execv(sys.executable, [*MPREMOTE, "connect", lopy4.port, "repl"])
    term = Terminal.__new__(Terminal)
    term.fd, term.buf = fd, b""
    try:
        term.expect(b"Use Ctrl-] or Ctrl-x to exit this shell\r\n")
        term.send(b"\r")
        term.expect(b">>> ")
        term.send(b"while True: pass\r\r")
        term.expect(b"... \r\n")
        term.send(b"\x03")
        assert b"KeyboardInterrupt: \r\n>>> " in term.expect(b">>> ")
        term.send(b"\x04")
        out = term.expect(b'Type "help()" for more information.\r\n>>> ')
        assert b"PYB: soft reboot\r\n" in out and b"Pycom MicroPython 1.20.2.r4" in out
        term.send(b"\x1d")  # Ctrl-]
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        pid = 0
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


def test_output_is_dropped_while_the_port_is_closed(lopy4, term):
    lopy4.call(lopy4.runtime.port_open, False)
    try:
        start = len(lopy4.output)
        # the board still runs what it receives, it just has nobody to talk to
        term.send(b"print('hid' + 'den'); f = open('closed.txt', 'w'); f.close()\r")
        deadline = time.monotonic() + 20
        while not any(e.name == "closed.txt" for e in FlashFS(lopy4.image, lopy4.board).ls("/")):
            assert time.monotonic() < deadline, "the command sent while the port was closed did not run"
            time.sleep(0.05)
    finally:
        lopy4.call(lopy4.runtime.port_open, True)
    term.send(b"import os; os.remove('closed.txt'); print('sho' + 'wn')\r")
    term.expect(b"shown\r\n>>> ")
    assert b"hidden" not in lopy4.output[start:]
