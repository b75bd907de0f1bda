# Device side of the simulated FTP server (pytool/sim/wifi/ftp.py): the server runs in the simulator process and
# reaches /flash only through these operations, run on the IRQ thread as "wifi" bridge events. Everything goes
# through the board's own VFS (the host filesystem is unmounted), so an FTP client can never reach host files.
# Paths arrive absolute and normalised ("/flash/lib/x.py"). Errors are returned, never raised: an exception on the
# IRQ thread would stop every later callback of the board.
import os

_DIR = 0x4000


def _stat(path):
    st = os.stat(path)
    return [bool(st[0] & _DIR), 0 if st[0] & _DIR else st[6], st[8]]


def _ls(path):
    out = []
    base = path.rstrip("/")
    for entry in os.ilistdir(path):
        name = entry[0]
        try:
            out.append([name] + _stat(base + "/" + name))
        except OSError:
            out.append([name, entry[1] == _DIR, 0, 0])
    return out


def _read(path, offset, n):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


def _write(path, offset, data):
    with open(path, "wb" if offset == 0 else "ab") as f:
        f.write(data)
    return len(data)


_OPS = {
    "volumes": lambda: os.listdir("/"),
    "stat": _stat,
    "ls": _ls,
    "read": _read,
    "write": _write,
    "remove": os.remove,
    "rmdir": os.rmdir,
    "mkdir": os.mkdir,
    "rename": os.rename,
}


def event(name, args):
    """Run one file operation for the FTP server: ["ok", result] or ["error", message]."""
    fn = _OPS.get(name)
    if fn is None:
        return ["error", "unknown operation"]
    try:
        return ["ok", fn(*args)]
    except Exception as e:
        return ["error", repr(e)]
