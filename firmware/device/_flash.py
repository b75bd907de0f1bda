# /flash of the simulated board: a block device over the filesystem region of the flash image (Pycom's
# hard-coded region, reference 1.3), LittleFS v2 (block 4096) or FatFS (512-byte sectors) as the config block
# says (byte 533: 0 = FatFS, 1 or 0xFF = LittleFS), formatted and populated on first boot like mptask.c does.
import _builtin
import _sandbox

os = _builtin.restricted("os", ("VfsFat", "VfsLfs2", "mkdir", "stat", "mount", "umount", "chdir", "getcwd"))

BLOCK_LFS = 4096
BLOCK_FAT = 512
CONFIG_FS_TYPE = 533

_image = None  # the flash image, opened before the host filesystem is unmounted


class FlashBlockDevice:
    """Block device over [offset, offset + size) of the image; refuses anything outside it."""

    def __init__(self, image, offset, size, block_size):
        self.image = image
        self.offset = offset
        self.block_size = block_size
        self.count = size // block_size

    def _seek(self, block, off, n):
        if block < 0 or off < 0 or (block * self.block_size + off + n) > self.count * self.block_size:
            raise OSError(5)  # EIO: outside the filesystem region
        self.image.seek(self.offset + block * self.block_size + off)

    def readblocks(self, block, buf, off=0):
        self._seek(block, off, len(buf))
        self.image.readinto(buf)

    def writeblocks(self, block, buf, off=None):
        if off is None:
            off = 0
        self._seek(block, off, len(buf))
        self.image.write(buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.count
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase block: NOR flash erases to 0xFF
            self._seek(arg, 0, self.block_size)
            self.image.write(b"\xff" * self.block_size)
            return 0
        return 0


def read(offset, n):
    _image.seek(offset)
    return _image.read(n)


def write(offset, data):
    _image.seek(offset)
    _image.write(data)


def fs_type(cfg):
    """'FAT' or 'LittleFS' as the config block selects it."""
    b = read(cfg["config"] + CONFIG_FS_TYPE, 1)[0]
    return "FAT" if b == 0 else "LittleFS"


def make_vfs(cfg, kind):
    off, size = cfg["fs"]
    if kind == "FAT":
        bdev = FlashBlockDevice(_image, off, size, BLOCK_FAT)
        cls = os.VfsFat
    else:
        bdev = FlashBlockDevice(_image, off, size, BLOCK_LFS)
        cls = os.VfsLfs2
    return bdev, cls


def _populate():
    # SIG esp32/mptask.c mptask_init_sflash_filesystem: created when missing, on every boot
    for d in ("/flash/sys", "/flash/lib", "/flash/cert"):
        try:
            os.mkdir(d)
        except OSError:
            pass
    for name, text in (
        ("/flash/boot.py", "# boot.py -- run on boot-up\r\n"),
        ("/flash/main.py", "# main.py -- put your code here!\r\n"),
    ):
        try:
            os.stat(name)
        except OSError:
            with open(name, "w") as f:
                f.write(text)


def mount(cfg):
    """Open the image, mount /flash (formatting it if it holds no filesystem), hide the host filesystem."""
    global _image
    # the image as the supervisor opened it (a confined interpreter cannot open files), written only inside
    # the regions the firmware itself writes: /flash, NVS, the config block, otadata
    f = open(cfg["flash_fd"] if "flash_fd" in cfg else cfg["flash"], "r+b")
    fs, nvs = cfg["fs"], cfg["nvs"]
    regions = [(fs[0], fs[0] + fs[1]), (nvs[0], nvs[0] + nvs[1])]
    regions += [(cfg["config"], cfg["config"] + 0x1000), (cfg["otadata"], cfg["otadata"] + 0x1000)]
    _image = _sandbox.bounded_file(f, regions)
    kind = fs_type(cfg)
    bdev, cls = make_vfs(cfg, kind)
    os.umount("/")
    try:
        os.mount(cls(bdev), "/flash")
    except OSError:  # no filesystem (first boot, erased region): format it, as mptask.c does
        cls.mkfs(bdev)
        os.mount(cls(bdev), "/flash")
    os.chdir("/flash")
    _populate()
    return kind


def format_flash(cfg):
    """os.fsformat('/flash'): a fresh, populated filesystem of the configured kind."""
    kind = fs_type(cfg)
    bdev, cls = make_vfs(cfg, kind)
    cwd = os.getcwd()
    try:
        os.umount("/flash")
    except OSError:
        pass
    cls.mkfs(bdev)
    os.mount(cls(bdev), "/flash")
    os.chdir(cwd if cwd.startswith("/flash") else "/flash")
    _populate()
