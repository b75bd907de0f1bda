"""Firmware formats: ESP32 app images, ESP-IDF partition tables, Pycom otadata, firmware identity and the boot
decision of a Pycom module's 2nd-stage bootloader (`boot_select`), and Pycom firmware archives (reading them
safely, choosing their flash script, turning them into a list of writes).

References: shared/reference/pycom-platform.txt sections 1.1-1.5 and 3; ESP-IDF 3.3 esp_image_format.h,
esp_flash_partitions.h, esp_app_format.h. Image parsing is esptool's own (`esptool.bin_image`).
"""

from __future__ import annotations

import binascii
import hashlib
import io
import json
import lzma
import re
import struct
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytool.errors import PytoolError, UsageError

BOOTLOADER_OFFSET = 0x1000
PARTITION_TABLE_OFFSET = 0x8000
PARTITION_TABLE_MAX = 0xC00
APP_OFFSET = 0x10000
CONFIG_BLOCK = (0x3FF000, 0x1000)  # Pycom config block: same place on 4MB and 8MB modules, never written
IMAGE_MAGIC = 0xE9
MAX_SEGMENTS = 16
FLASH_SIZES = {0x400000: "4MB", 0x800000: "8MB"}


class FirmwareError(PytoolError):
    """A firmware file is unusable (corrupt, truncated, unsafe, wrong format)."""


# --------------------------------------------------------------------------------------------- identity


@dataclass
class FirmwareIdentity:
    """What a firmware image says it is, from its embedded version banner."""

    flavour: str  # "pycom" | "micropython"
    board_name: str  # os.uname().sysname: "LoPy4", ... ("ESP32" for stock MicroPython)
    version: str  # Pycom SW_VERSION "1.20.2.r4", or the MicroPython version "1.24.1"
    micropython: str  # MICROPY_GIT_TAG, e.g. "v1.11-ffb0e1c"
    build_date: str  # "2021-01-12"
    banner: str  # first banner line


_PYCOM_BANNER = re.compile(
    rb"Pycom MicroPython (\d[\w.\-]*) \[([^\]\x00\r\n]+)\] on (\d{4}-\d{2}-\d{2}); (\w+) with ESP32"
)
_STOCK_BANNER = re.compile(rb"MicroPython (v\d[\w.\-]*) on (\d{4}-\d{2}-\d{2}); ([^\x00\r\n;]+?) with ESP32")
#: Regular expressions of the banner lines pytool recognises (Pycom, then stock MicroPython).
BANNER_PATTERNS = (_PYCOM_BANNER, _STOCK_BANNER)


def pycom_banner(version: str, micropython: str, build_date: str, board_name: str) -> str:
    """The friendly-REPL banner line of Pycom firmware (reference section 3, pyexec.c)."""
    return f"Pycom MicroPython {version} [{micropython}] on {build_date}; {board_name} with ESP32"


def stock_banner(micropython: str, build_date: str, machine: str = "Generic ESP32 module") -> str:
    """The banner line of stock MicroPython for ESP32 ("MicroPython v1.24.1 on 2024-11-29; ... with ESP32")."""
    return f"MicroPython {micropython} on {build_date}; {machine} with ESP32"


def identify(data: bytes) -> FirmwareIdentity | None:
    """Identify firmware from the version banner embedded in an image (None: no banner found)."""
    m = _PYCOM_BANNER.search(data)
    if m:
        version, tag, date, board = (g.decode("ascii", "replace") for g in m.groups())
        return FirmwareIdentity("pycom", board, version, tag, date, m.group(0).decode("ascii", "replace"))
    m = _STOCK_BANNER.search(data)
    if m:
        tag, date, _machine = (g.decode("ascii", "replace") for g in m.groups())
        version = tag[1:].split("-")[0]
        return FirmwareIdentity("micropython", "ESP32", version, tag, date, m.group(0).decode("ascii", "replace"))
    return None


# --------------------------------------------------------------------------------------------- app images


@dataclass
class ImageCheck:
    """Result of validating an ESP32 image as the 2nd-stage bootloader does."""

    ok: bool
    reason: str = ""  # why it is invalid
    length: int = 0  # bytes covered by the image (header .. checksum, + 32 if a SHA-256 is appended)
    entry: int = 0
    segments: list[tuple[int, int]] = field(default_factory=list)  # (load address, length)
    first_word: int = 0xFFFFFFFF
    data: bytes = b""


def _image_length(read: Callable[[int, int], bytes], offset: int, limit: int) -> tuple[int, int, str]:
    """Walk the segment headers of an image at `offset`: (length without digest, segment count, error)."""
    header = read(offset, 24)
    count = header[1]
    if count == 0 or count > MAX_SEGMENTS:
        return 0, count, f"invalid segment count {count}"
    pos = 24
    for index in range(count):
        if pos + 8 > limit:
            return 0, count, f"segment {index} header beyond the partition"
        _addr, size = struct.unpack("<II", read(offset + pos, 8))
        pos += 8 + size
        if pos > limit:
            return 0, count, f"segment {index} (length {size}) beyond the partition"
    pos = (pos + 16) & ~15  # checksum byte at the end of a 16-byte aligned block
    return pos, count, ""


def check_image(read: Callable[[int, int], bytes], offset: int, limit: int) -> ImageCheck:
    """Validate the ESP32 image at `offset` (at most `limit` bytes): magic, segment count, checksum, SHA-256."""
    from esptool.bin_image import ESP32FirmwareImage

    head = read(offset, 24)
    first_word = struct.unpack("<I", head[:4])[0]
    if head[0] != IMAGE_MAGIC:
        return ImageCheck(False, f"invalid magic byte 0x{head[0]:02x}", first_word=first_word)
    length, _count, error = _image_length(read, offset, limit)
    if error:
        return ImageCheck(False, error, first_word=first_word)
    hash_appended = head[23] == 1
    total = length + (32 if hash_appended else 0)
    if total > limit:
        return ImageCheck(False, "image SHA-256 beyond the partition", first_word=first_word)
    data = read(offset, total)
    try:
        image = ESP32FirmwareImage(io.BytesIO(data))
    except Exception as exc:  # esptool raises FatalError / RuntimeError / struct.error on malformed headers
        return ImageCheck(False, f"malformed image: {exc}", first_word=first_word)
    segments = [(s.addr, len(s.data)) for s in image.segments]
    if image.calculate_checksum() != image.checksum:
        return ImageCheck(
            False,
            f"checksum mismatch (calculated 0x{image.calculate_checksum():02x}, read 0x{image.checksum:02x})",
            first_word=first_word,
        )
    if hash_appended and image.stored_digest != image.calc_digest:
        return ImageCheck(False, "SHA-256 mismatch", first_word=first_word)
    return ImageCheck(True, "", total, image.entrypoint, segments, first_word, data)


def check_image_bytes(data: bytes) -> ImageCheck:
    """`check_image` on bytes in memory."""

    def read(off: int, n: int) -> bytes:
        return data[off : off + n].ljust(n, b"\xff")

    return check_image(read, 0, len(data))


# --------------------------------------------------------------------------------------------- partitions

_ENTRY = struct.Struct("<2sBBII16sI")
_ENTRY_MAGIC = b"\xaa\x50"
_MD5_MAGIC = b"\xeb\xeb"
APP, DATA = 0x00, 0x01


@dataclass(frozen=True)
class Partition:
    """One entry of an ESP-IDF partition table."""

    label: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.size


def build_partition_table(partitions: list[Partition], md5: bool = True) -> bytes:
    """ESP-IDF binary partition table (gen_esp32part.py format): 32-byte entries, MD5 entry, 0xFF padding."""
    body = b"".join(
        _ENTRY.pack(_ENTRY_MAGIC, p.type, p.subtype, p.offset, p.size, p.label.encode()[:16], p.flags)
        for p in partitions
    )
    if md5:
        body += _MD5_MAGIC + b"\xff" * 14 + hashlib.md5(body).digest()
    return body.ljust(PARTITION_TABLE_MAX, b"\xff")


def parse_partition_table(data: bytes, flash_size: int | None = None) -> list[Partition]:
    """Decode and verify an ESP-IDF partition table (as the bootloader does); FirmwareError if invalid."""
    parts: list[Partition] = []
    for pos in range(0, min(len(data), PARTITION_TABLE_MAX), 32):
        entry = data[pos : pos + 32]
        if entry[:2] == _MD5_MAGIC:
            if hashlib.md5(data[:pos]).digest() != entry[16:32]:
                raise FirmwareError("partition table MD5 mismatch")
            break
        if entry == b"\xff" * 32 or len(entry) < 32:
            break
        magic, ptype, subtype, offset, size, label, flags = _ENTRY.unpack(entry)
        if magic != _ENTRY_MAGIC:
            raise FirmwareError(f"partition table entry {pos // 32} has invalid magic 0x{magic.hex()}")
        part = Partition(label.split(b"\0", 1)[0].decode("ascii", "replace"), ptype, subtype, offset, size, flags)
        if flash_size is not None and part.end > flash_size:
            raise FirmwareError(f"partition '{part.label}' ends at 0x{part.end:x}, beyond the 0x{flash_size:x} flash")
        parts.append(part)
    if not parts:
        raise FirmwareError("no partition table (erased or invalid)")
    return parts


def find_partition(parts: list[Partition], ptype: int, subtype: int) -> Partition | None:
    """The first partition of a type/subtype, or None."""
    return next((p for p in parts if p.type == ptype and p.subtype == subtype), None)


# --------------------------------------------------------------------------------------------- otadata

_BOOT_INFO = struct.Struct("<IIIII16s")
ACTIVE_FACTORY, ACTIVE_OTA0 = 0, 1
STATUS_CHECK, STATUS_READY, STATUS_PATCH = 0, 1, 2


@dataclass
class BootInfo:
    """Pycom's boot_info_t in the otadata partition (reference 1.4): 36 bytes + CRC."""

    active_img: int = ACTIVE_FACTORY
    status: int = STATUS_READY
    prev_img: int = ACTIVE_FACTORY
    size: int = 0
    safeboot: int = 0
    signature: bytes = b"\0" * 16

    def pack(self) -> bytes:
        """The 40 bytes Pycom's updater writes (set_ota): struct + crc32_le(0xFFFFFFFF, struct)."""
        body = _BOOT_INFO.pack(self.active_img, self.status, self.prev_img, self.size, self.safeboot, self.signature)
        return body + struct.pack("<I", _boot_info_crc(body))


def _boot_info_crc(body: bytes) -> int:
    return binascii.crc32(b"\xff" * 4 + body) & 0xFFFFFFFF


def parse_boot_info(data: bytes) -> BootInfo | None:
    """Decode otadata; None when the CRC does not match (erased or corrupt)."""
    body, crc = data[:36], data[36:40]
    if len(crc) < 4 or struct.unpack("<I", crc)[0] != _boot_info_crc(body):
        return None
    return BootInfo(*_BOOT_INFO.unpack(body))


# --------------------------------------------------------------------------------------------- boot


@dataclass
class BootResult:
    """What the ROM and the 2nd-stage bootloader decided at a hard boot."""

    ok: bool
    lines: list[str]  # text the ROM and 2nd-stage bootloader print (without the ROM's "rst:" header)
    app_offset: int | None
    identity: FirmwareIdentity | None
    reason: str  # why booting failed ("invalid header: 0xffffffff", "SHA-256 mismatch", ...)


_FLASH_MODES = {0: "QIO", 1: "QOUT", 2: "DIO", 3: "DOUT"}


def _rom_lines(bootloader: ImageCheck, flash_mode: int) -> list[str]:
    lines = [
        "configsip: 0, SPIWP:0xee",
        "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00",
        f"mode:{_FLASH_MODES.get(flash_mode, 'DIO')}, clock div:1",
    ]
    lines += [f"load:0x{addr:08x},len:{size}" for addr, size in bootloader.segments]
    lines.append(f"entry 0x{bootloader.entry:08x}")
    return lines


def boot_select(read: Callable[[int, int], bytes], flash_size: int) -> BootResult:
    """Decide what a Pycom module boots from its flash (`read(offset, n)`): ROM check of the bootloader at
    0x1000, partition table at 0x8000, Pycom otadata (invalid -> factory), app image validation, identity."""
    bootloader = check_image(read, BOOTLOADER_OFFSET, PARTITION_TABLE_OFFSET - BOOTLOADER_OFFSET)
    if not bootloader.ok:
        if bootloader.reason.startswith("invalid magic"):
            reason = f"invalid header: 0x{bootloader.first_word:08x}"
        else:
            reason = f"bootloader image at 0x1000: {bootloader.reason}"
        return BootResult(False, [reason], None, None, reason)
    lines = _rom_lines(bootloader, read(BOOTLOADER_OFFSET + 2, 1)[0])
    clock = 40  # 2nd-stage log timestamps (ms), as ESP-IDF's "E (ms) tag: ..." lines

    def fail(tag: str, reason: str) -> BootResult:
        lines.append(f"E ({clock}) {tag}: {reason}")
        return BootResult(False, lines, None, None, reason)

    try:
        parts = parse_partition_table(read(PARTITION_TABLE_OFFSET, PARTITION_TABLE_MAX), flash_size)
    except FirmwareError as exc:
        lines.append(f"E ({clock}) flash_parts: {exc}")
        return fail("boot", "Failed to verify partition table")
    apps = {p.subtype: p for p in parts if p.type == APP}
    factory, ota0 = apps.get(0x00), apps.get(0x10)
    otadata = find_partition(parts, DATA, 0x00)
    order: list[Partition] = []
    if otadata is not None:
        info = parse_boot_info(read(otadata.offset, 40))
        if info is None:  # erased/corrupt: the bootloader re-initialises it to factory/READY
            info = BootInfo()
        if info.active_img == ACTIVE_OTA0 and ota0 is not None:
            order.append(ota0)
    order += [p for p in (factory, ota0) if p is not None and p not in order]
    if not order:
        return fail("boot", "No bootable app partitions in the partition table")
    clock += 10
    failures: list[str] = []
    for part in order:
        check = check_image(read, part.offset, part.size)
        if check.ok:
            identity = identify(check.data)
            if identity is None:
                return fail("boot", f"app at 0x{part.offset:x} has no firmware banner (unknown firmware)")
            return BootResult(True, lines, part.offset, identity, "")
        failures.append(f"{part.label}: {check.reason}")
        what = "invalid magic byte" if check.reason.startswith("invalid magic") else check.reason
        lines.append(f"E ({clock}) esp_image: image at 0x{part.offset:x} has {what}")
        lines.append(f"E ({clock}) boot: {part.label} app partition is not bootable")
        clock += 10
    reason = f"no valid app image ({failures[0]})"
    lines.append(f"E ({clock}) boot: No bootable app partitions in the partition table")
    return BootResult(False, lines, None, None, reason)


# --------------------------------------------------------------------------------------------- archives

MAX_MEMBER_SIZE = 0x1000000  # 16 MiB: larger than any ESP32 flash, so no member can be legitimate beyond it
MAX_ARCHIVE_SIZE = 0x4000000  # 64 MiB of members in total
MAX_MEMBERS = 64
SCRIPT_NAMES = ("script_4MB", "script_8MB", "script2", "script")


@dataclass
class Firmware:
    """A firmware file loaded in memory: a Pycom archive (or folder) or a single ESP32 image."""

    source: str
    kind: str  # "pycom" (archive or folder of a Pycom release) | "image" (single .bin)
    files: dict[str, bytes]  # member name -> contents, in archive order
    identity: FirmwareIdentity | None
    app_name: str | None = None  # "<board>.bin" of a Pycom archive
    image_offset: int | None = None  # for kind == "image": where it goes
    image_kind: str | None = None  # "merged" | "app" | "raw"

    @property
    def board_name(self) -> str | None:
        return self.identity.board_name if self.identity else None


def _member_name(name: str) -> str:
    """A safe, flat member name; FirmwareError for names that could escape (absolute, '..', drive letters)."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        raise FirmwareError(f"unsafe member name '{name}' in archive (absolute path)")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise FirmwareError(f"unsafe member name '{name}' in archive ('..' component)")
    if not parts:
        raise FirmwareError(f"unsafe member name '{name}' in archive")
    return parts[-1]


def read_archive(path: Path) -> dict[str, bytes]:
    """Read a .tar/.tar.gz firmware archive into memory, never touching the disk paths it names.

    Rejects absolute or '..' member names, links and devices, oversized members, too many members; a corrupt or
    truncated archive raises FirmwareError with one clear line."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(path, "r:*") as tar:
            while (member := tar.next()) is not None:
                name = _member_name(member.name)
                if member.isdir():
                    continue
                if not member.isreg():
                    kind = "link" if member.issym() or member.islnk() else "special file"
                    raise FirmwareError(f"archive member '{member.name}' is a {kind}; firmware archives hold files")
                if member.size > MAX_MEMBER_SIZE:
                    raise FirmwareError(
                        f"archive member '{member.name}' is {member.size} bytes, larger than any ESP32 flash"
                    )
                total += member.size
                if total > MAX_ARCHIVE_SIZE or len(files) >= MAX_MEMBERS:
                    raise FirmwareError("archive is too large to be firmware")
                if name in files:
                    raise FirmwareError(f"archive holds '{name}' twice")
                handle = tar.extractfile(member)
                data = handle.read(member.size + 1) if handle else b""
                if len(data) != member.size:
                    raise FirmwareError(f"archive member '{member.name}' is truncated")
                files[name] = data
            _drain(tar)
    except FirmwareError as exc:
        exc.message = f"{path.name}: {exc.message}"
        exc.hint = exc.hint or "download the archive again from Pycom, or rebuild it"
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
            raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
        raise FirmwareError(
            f"{path.name} is corrupt or truncated ({' '.join(str(exc).split())})",  # tarfile's text has newlines
            "download the archive again from Pycom, or rebuild it",
        ) from exc
    if not files:
        raise FirmwareError(f"{path.name} is empty or not a firmware archive")
    return files


def _drain(tar: tarfile.TarFile) -> None:
    """Read a compressed archive to its end so that the gzip/bz2/xz checksum is verified."""
    import bz2
    import gzip

    stream = tar.fileobj
    if not isinstance(stream, gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile):
        return
    left = 0x100000  # padding after the end-of-archive blocks is small; refuse to inflate more than this
    while chunk := stream.read(0x10000):
        left -= len(chunk)
        if left < 0:
            raise FirmwareError("archive has megabytes of data after its end")


def _read_folder(path: Path) -> dict[str, bytes]:
    files = {}
    for entry in sorted(path.iterdir()):
        if entry.name in SCRIPT_NAMES or entry.suffix == ".bin":
            if entry.is_symlink() or not entry.is_file():
                raise FirmwareError(f"{entry} is not a regular file")
            if entry.stat().st_size > MAX_MEMBER_SIZE:
                raise FirmwareError(f"{entry} is larger than any ESP32 flash")
            files[entry.name] = entry.read_bytes()
    return files


def _app_member(files: dict[str, bytes]) -> str | None:
    apps = [n for n in files if n.endswith(".bin") and n != "bootloader.bin" and not n.startswith("partitions")]
    return apps[0] if len(apps) == 1 else None


def image_kind(data: bytes) -> tuple[str, int]:
    """Kind of a single .bin and its default offset: merged image at 0x1000 (bootloader + table + app),
    merged from 0x0, app at 0x10000, or "raw" (unknown: needs --offset)."""
    table = PARTITION_TABLE_OFFSET - BOOTLOADER_OFFSET
    if data[:1] == bytes([IMAGE_MAGIC]) and data[table : table + 2] == _ENTRY_MAGIC:
        return "merged", BOOTLOADER_OFFSET
    if data[BOOTLOADER_OFFSET : BOOTLOADER_OFFSET + 1] == bytes([IMAGE_MAGIC]) and (
        data[PARTITION_TABLE_OFFSET : PARTITION_TABLE_OFFSET + 2] == _ENTRY_MAGIC
    ):
        return "merged", 0
    if data[:1] == bytes([IMAGE_MAGIC]):
        return "app", APP_OFFSET
    return "raw", APP_OFFSET


def load_firmware(path: str | Path) -> Firmware:
    """Load a Pycom archive (.tar.gz/.tar), a folder of its files, or a single ESP32 image (.bin)."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p} does not exist", "give a Pycom archive (.tar.gz), an ESP32 image (.bin) or a folder")
    if p.is_dir():
        files = _read_folder(p)
    elif p.suffix.lower() == ".bin":
        if p.stat().st_size > MAX_MEMBER_SIZE:
            raise FirmwareError(f"{p.name} is larger than any ESP32 flash")
        data = p.read_bytes()
        if not data:
            raise FirmwareError(f"{p.name} is empty")
        kind, offset = image_kind(data)
        return Firmware(str(p), "image", {p.name: data}, identify(data), None, offset, kind)
    else:
        files = read_archive(p)
    app = _app_member(files)
    if app is None or not any(n in files for n in SCRIPT_NAMES):
        raise FirmwareError(
            f"{p.name} is not a Pycom firmware archive (no flash script or no single <board>.bin)",
            "give a Pycom archive such as LoPy4-1.20.2.r6.tar.gz, or an ESP32 .bin image",
        )
    check = check_image_bytes(files[app])
    if not check.ok:
        raise FirmwareError(f"{p.name}: {app} is not a valid ESP32 app image ({check.reason})")
    return Firmware(str(p), "pycom", files, identify(files[app]), app)


# --------------------------------------------------------------------------------------------- flash plans


@dataclass
class FlashWrite:
    """One region to write: `data` is what goes to flash (padded to the partition for "w")."""

    label: str  # partition name or hex offset from the script, or the file for single images
    offset: int
    data: bytes
    file: str | None  # archive member written (None: generated, e.g. otadata)
    file_size: int  # size of the member before padding

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass
class FlashPlan:
    """What `pytool flash` will do, decided before anything is written."""

    layout: str | None  # "4MB" | "8MB" (Pycom archives)
    script: str | None  # member used: script_8MB, script_4MB, script2 or script
    writes: list[FlashWrite]
    erases: list[tuple[int, int]]  # (offset, size) to erase before writing
    notes: list[str] = field(default_factory=list)


def builtin_partitions(layout_key: str) -> dict[str, tuple[int, int]]:
    """The partition names Pycom's updater understands, for a layout (reference 1.2(b), 1.3)."""
    from pytool.boards import layouts

    lay = layouts()[layout_key]
    return {
        "secureboot": (0x0, 0x8000),
        "bootloader": (BOOTLOADER_OFFSET, PARTITION_TABLE_OFFSET - BOOTLOADER_OFFSET),
        "partitions": (PARTITION_TABLE_OFFSET, 0x1000),
        "nvs": (lay.nvs.offset, lay.nvs.size),
        "factory": (lay.factory.offset, lay.factory.size),
        "otadata": (lay.otadata.offset, lay.otadata.size),
        "ota_0": (lay.ota_0.offset, lay.ota_0.size),
        "fs": (lay.fs.offset, lay.fs.size) if layout_key == "4MB" else (0x380000, 0x7F000),
        "fs1": (lay.fs.offset, lay.fs.size) if layout_key == "8MB" else (0x400000, 0x400000),
        "config": (lay.config.offset, lay.config.size),
        "all": (0, lay.flash_size),
    }


_ALIASES = {"cb": "config", "ota": "otadata"}


def _parse_script(name: str, raw: bytes) -> tuple[list[list[str]], dict[str, tuple[int, int]]]:
    """(commands, partition overrides) of a Pycom flash script; FirmwareError on an unknown format."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FirmwareError(f"flash script '{name}' is not valid JSON ({exc})") from exc
    overrides: dict[str, tuple[int, int]] = {}
    if isinstance(doc, list):  # legacy: [[cmd, "0xOFFSET", arg], ...]
        commands = doc
    elif isinstance(doc, dict) and str(doc.get("version")) in ("2.0", "2.1") and isinstance(doc.get("script"), list):
        commands = doc["script"]
        try:
            for part, (off, size) in (doc.get("partitions") or {}).items():
                overrides[part] = (int(off, 16), int(size, 16))
        except (TypeError, ValueError) as exc:
            raise FirmwareError(f"flash script '{name}' has a malformed partitions table") from exc
    else:
        version = doc.get("version") if isinstance(doc, dict) else None
        raise FirmwareError(
            f"flash script '{name}' has an unknown format" + (f" (version {version})" if version else ""),
            "this pytool understands Pycom script formats 2.0/2.1 and the legacy list format",
        )
    for cmd in commands:
        if not (
            isinstance(cmd, list)
            and len(cmd) == 3
            and cmd[0] in ("w", "o", "e")
            and all(isinstance(c, str) for c in cmd)
        ):
            raise FirmwareError(f"flash script '{name}' has an unknown command {cmd!r}")
    return commands, overrides


def choose_script(files: dict[str, bytes], layout_key: str) -> str:
    """script_8MB / script_4MB for the detected flash size, then script2, then the legacy script."""
    for name in (f"script_{layout_key}", "script2", "script"):
        if name in files:
            return name
    raise FirmwareError("the archive has no flash script for this module", "check the archive is a Pycom firmware")


def plan_archive(fw: Firmware, flash_size: int, erase_fs: bool = False) -> FlashPlan:
    """Turn a Pycom archive into writes for a module with `flash_size` bytes of flash (reference 1.5):
    pad "w" writes to their partition, resolve the LoPy4/GPy script2 "fipy.bin" bug, add otadata, keep the
    config block out of every write and erase."""
    layout_key = FLASH_SIZES.get(flash_size)
    if layout_key is None:
        raise FirmwareError(f"unsupported flash size {flash_size // 0x100000} MB", "Pycom modules have 4 or 8 MB")
    tables = sorted(n[len("partitions_") : -len(".bin")] for n in fw.files if re.fullmatch(r"partitions_\dMB\.bin", n))
    if tables and layout_key not in tables:
        raise FirmwareError(
            f"this firmware is for {'/'.join(tables)} modules and does not fit this {layout_key} module",
            "download the firmware for your board (LoPy4, GPy and FiPy are 8MB-only)",
        )
    script = choose_script(fw.files, layout_key)
    commands, overrides = _parse_script(script, fw.files[script])
    table = builtin_partitions(layout_key) | overrides
    plan = FlashPlan(layout_key, script, [], [])
    for cmd, where, arg in commands:
        part = _ALIASES.get(where, where)
        if part in table:
            offset, size = table[part]
        else:
            try:
                offset, size = int(where, 16), None
            except ValueError:
                raise FirmwareError(f"flash script '{script}' names unknown partition '{where}'") from None
        if cmd == "e":
            if part in ("fs", "fs1", "nvs"):
                continue  # the updater defers these (--erase-fs)
            plan.erases.append((offset, int(arg, 16) if size is None else size))
            continue
        name = arg
        if name not in fw.files:
            if part in ("factory", "ota_0") and fw.app_name:
                plan.notes.append(f"{script} names '{name}', not in the archive: using {fw.app_name}")
                name = fw.app_name  # packaging bug of LoPy4/GPy script2 (reference 1.2(c))
            else:
                raise FirmwareError(f"flash script '{script}' writes '{name}', which is not in the archive")
        data = fw.files[name]
        if name.startswith("partitions"):
            try:
                parse_partition_table(data, flash_size)
            except FirmwareError as exc:
                raise FirmwareError(
                    f"{name} does not fit this {layout_key} module ({exc})",
                    "this firmware is for modules with more flash",
                ) from exc
        if size is not None and cmd == "w":
            if len(data) > size:
                raise FirmwareError(
                    f"{name} ({len(data)} bytes) is too large for the '{part}' partition ({size} bytes)",
                    "the archive does not match this module's partition layout",
                )
            data = data.ljust(size, b"\xff")
        plan.writes.append(FlashWrite(where, offset, data, name, len(fw.files[name])))
    wrote = {w.label for w in plan.writes}
    if "otadata" not in wrote and wrote & {"factory", "ota_0"}:
        info = BootInfo(ACTIVE_FACTORY, STATUS_READY) if "factory" in wrote else BootInfo(ACTIVE_OTA0, STATUS_CHECK)
        offset, size = table["otadata"]
        plan.writes.append(FlashWrite("otadata", offset, info.pack().ljust(size, b"\xff"), None, 40))
    if erase_fs:
        plan.erases.append(table["fs1"] if layout_key == "8MB" else table["fs"])
    check_plan(plan, flash_size)
    return plan


def plan_image(
    fw: Firmware, flash_size: int, offset: int | None = None, erase_fs: bool = False, protect_config: bool = True
) -> FlashPlan:
    """Writes for a single ESP32 image (`offset` defaults by its kind). `protect_config=False` only for
    non-Pycom modules, where 0x3FF000 is ordinary flash (stock MicroPython's vfs covers it)."""
    name, data = next(iter(fw.files.items()))
    at = fw.image_offset if offset is None else offset
    assert at is not None
    plan = FlashPlan(FLASH_SIZES.get(flash_size), None, [FlashWrite(name, at, data, name, len(data))], [])
    if fw.image_kind == "raw" and offset is None:
        raise UsageError(f"{name} is not an ESP32 image", "give its flash offset with --offset")
    if erase_fs and fw.identity is not None and fw.identity.flavour == "micropython":
        parts = _merged_partitions(data, at)
        vfs = next((p for p in parts if (p.type == DATA and p.subtype in (0x81, 0x82)) or p.label == "vfs"), None)
        if vfs is not None:
            plan.erases.append((vfs.offset, vfs.size))
    elif erase_fs:
        layout = FLASH_SIZES.get(flash_size, "4MB")
        plan.erases.append(builtin_partitions(layout)["fs1" if layout == "8MB" else "fs"])
    check_plan(plan, flash_size, protect_config)
    return plan


def _merged_partitions(data: bytes, at: int) -> list[Partition]:
    start = PARTITION_TABLE_OFFSET - at
    try:
        return parse_partition_table(data[start : start + PARTITION_TABLE_MAX]) if start >= 0 else []
    except FirmwareError:
        return []


def check_plan(plan: FlashPlan, flash_size: int, protect_config: bool = True) -> None:
    """Refuse plans that run past the flash or touch the Pycom config block (when `protect_config`)."""
    cb_start, cb_size = CONFIG_BLOCK
    regions = [(w.offset, len(w.data), w.file or w.label) for w in plan.writes]
    regions += [(off, size, f"erase at 0x{off:x}") for off, size in plan.erases]
    for offset, size, what in regions:
        if offset + size > flash_size:
            raise FirmwareError(
                f"{what} ends at 0x{offset + size:x}, beyond the {flash_size // 0x100000} MB flash",
                "the firmware does not match this module",
            )
        overlaps = offset < cb_start + cb_size and offset + size > cb_start
        if protect_config and overlaps and flash_size >= cb_start + cb_size:
            raise FirmwareError(
                f"{what} (0x{offset:x}..0x{offset + size:x}) would overwrite the Pycom config block at 0x3FF000",
                "pytool never writes the config block (LoRa/Sigfox identity); use a firmware without that write",
            )


def image_validity(fw: Firmware) -> tuple[bool, str]:
    """Would a single image work? A merged image must boot (bootloader, partition table, app: `boot_select`
    on a virtual flash holding it); an app image must pass the bootloader's checks. Raw data: no opinion."""
    data = next(iter(fw.files.values()))
    if fw.image_kind == "merged":
        flash = b"\xff" * (fw.image_offset or 0) + data

        def read(offset: int, n: int) -> bytes:
            return flash[offset : offset + n].ljust(n, b"\xff")

        result = boot_select(read, max(0x400000, len(flash)))
        return result.ok, result.reason
    if fw.image_kind == "app":
        check = check_image_bytes(data)
        return check.ok, check.reason
    return True, ""


def describe(fw: Firmware) -> dict:
    """`pytool firmware info`: identity, members with sizes and hashes, and where each goes per flash size."""
    ident = fw.identity
    result: dict = {
        "source": fw.source,
        "kind": fw.kind,
        "flavour": ident.flavour if ident else None,
        "board": ident.board_name if ident else None,
        "version": ident.version if ident else None,
        "micropython": ident.micropython if ident else None,
        "build_date": ident.build_date if ident else None,
        "banner": ident.banner if ident else None,
        "files": [
            {"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest(), "md5": hashlib.md5(d).hexdigest()}
            for n, d in fw.files.items()
        ],
        "layouts": {},
    }
    if fw.kind == "image":
        valid, problem = image_validity(fw)
        result.update(image_kind=fw.image_kind, offset=fw.image_offset, valid=valid, problem=problem or None)
        return result
    for size, key in FLASH_SIZES.items():
        if f"partitions_{key}.bin" not in fw.files and not (key == "4MB" and "partitions.bin" in fw.files):
            continue
        try:
            plan = plan_archive(fw, size)
        except FirmwareError as exc:
            result["layouts"][key] = {"error": str(exc)}
            continue
        result["layouts"][key] = {
            "script": plan.script,
            "notes": plan.notes,
            "writes": [
                {"label": w.label, "offset": w.offset, "file": w.file, "size": w.file_size, "padded": len(w.data)}
                for w in plan.writes
            ],
            "erases": [{"offset": o, "size": s} for o, s in plan.erases],
        }
    return result
