# Pycom's os / uos module (SIG esp32/mods/moduos.c): only the board's own functions. The host interpreter's
# os module stays hidden (no system(), getenv(), VfsPosix): device code cannot reach host paths.

import _builtin

# only what this module needs: host functions (system, getenv, VfsPosix, ...) stay out of reach
_os = _builtin.restricted(
    "os",
    ("listdir", "ilistdir", "mkdir", "remove", "rmdir", "rename", "stat", "statvfs", "chdir", "getcwd", "urandom")
    + ("VfsFat", "mount", "umount"),
)

sep = "/"
_cfg = None  # set by _boot.py


def uname():
    c = _cfg
    fields = ["sysname", "nodename", "release", "version", "machine"]
    values = [c["sysname"], c["sysname"], c["release"], c["version"], c["machine"]]
    for extra in ("lorawan", "sigfox"):
        if c.get(extra):
            fields.append(extra)
            values.append(c[extra])
    u = _builtin.AttrTuple(values)
    u._fields = tuple(fields)
    return u


listdir = _os.listdir
ilistdir = _os.ilistdir
mkdir = _os.mkdir
remove = _os.remove
unlink = _os.remove
rmdir = _os.rmdir
rename = _os.rename


def stat(path):
    # the interpreter's LittleFS reports garbage as a folder's size; Pycom's reports 0
    s = _os.stat(path)
    if s[0] & 0x4000:
        return s[:6] + (0,) + s[7:]
    return s


statvfs = _os.statvfs
chdir = _os.chdir
getcwd = _os.getcwd
urandom = _os.urandom


def getfree(path):
    """Free space of the filesystem holding `path`, in KiB (Pycom)."""
    s = _os.statvfs(path)
    return s[0] * s[3] // 1024


def sync():
    pass


def fsformat(path):
    if path.rstrip("/") != "/flash":
        raise OSError(19)  # ENODEV
    import _flash

    _flash.format_flash(_cfg)


def mkfat(block_device):
    return _os.VfsFat(block_device)


def mount(obj, mount_point, *, readonly=False):
    if type(obj).__name__ == "VfsPosix":
        raise OSError(1)
    _os.mount(obj, mount_point, readonly=readonly)


def umount(mount_point):
    _os.umount(mount_point)


def dupterm(stream_object=None):
    return None
