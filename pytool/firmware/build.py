"""Builder of simulator firmware: real Pycom archives (reference 1.1-1.3) and stock MicroPython images.

The images are valid ESP32 images (built with esptool's own `ESP32FirmwareImage`): correct magic, segments,
checksum and appended SHA-256, an ESP-IDF `esp_app_desc_t` and the firmware's version banner embedded, so that
the simulator's 2nd-stage bootloader validates and identifies them exactly as it would a downloaded archive.
Their code is filler (the simulator runs a real MicroPython interpreter instead), deterministic per build.
"""

from __future__ import annotations

import io
import json
import random
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pytool.boards import BoardModel, Layout, catalogue, get_board, layouts
from pytool.errors import UsageError
from pytool.firmware.identity import pycom_banner, stock_banner
from pytool.firmware.image import APP_OFFSET, BOOTLOADER_OFFSET, PARTITION_TABLE_OFFSET
from pytool.firmware.partitions import APP, DATA, Partition, build_partition_table

#: Known Pycom releases: SW_VERSION -> (MICROPY_GIT_TAG, build date). r4 and r6 are from real banners (reference
#: section 3); the 1.20.1 tag hash and date are placeholders (MicroPython 1.11 base, no published banner found).
PYCOM_RELEASES = {
    "1.20.1": ("v1.11-3138a13", "2019-10-08"),
    "1.20.2.r4": ("v1.11-ffb0e1c", "2021-01-12"),
    "1.20.2.r6": ("v1.11-c5a0a97", "2021-10-28"),
}
#: Stock MicroPython releases: version -> build date.
MICROPYTHON_RELEASES = {"1.24.1": "2024-11-29", "1.25.0": "2025-04-15"}
PYCOM_IDF = "v3.3.1-61-g367c3c09c"
STOCK_IDF = "v5.2.2"

# Load addresses of the segments (ESP32 memory map): ESP-IDF 3.3 bootloader and app linker scripts.
_DRAM_BOOT, _IRAM_BOOT, _IRAM_BOOT_ENTRY = 0x3FFF0000, 0x40078000, 0x40078A58
_DROM, _DRAM, _IRAM, _IROM = 0x3F400020, 0x3FFB0000, 0x40080000, 0x400D0020
APP_DESC_MAGIC = 0xABCD5432


@dataclass(frozen=True)
class BuiltFile:
    """One member of a built archive."""

    name: str
    data: bytes


def _filler(rng: random.Random, size: int) -> bytes:
    """Code-like filler: a mix of random and repetitive blocks (compresses ~2:1, like real firmware)."""
    out = bytearray()
    while len(out) < size:
        if rng.random() < 0.5:
            out += rng.randbytes(256)
        else:
            out += bytes([rng.randrange(256)]) * 16 * rng.randrange(1, 17)
    return bytes(out[:size])


def _image(segments: list[tuple[int, bytes]], entry: int, flash_size: int) -> bytes:
    """A valid ESP32 image (DIO, 80 MHz, SHA-256 appended) from (load address, data) segments."""
    from esptool.bin_image import ELFSection, ESP32FirmwareImage

    image = ESP32FirmwareImage()
    image.flash_mode = 2  # DIO, as Pycom's updater and makepkg use
    image.flash_size_freq = ({0x400000: 2, 0x800000: 3}.get(flash_size, 2) << 4) | 0x0F  # 80 MHz
    image.entrypoint = entry
    image.segments = [ELFSection(f".seg{i}".encode(), addr, data, 0) for i, (addr, data) in enumerate(segments)]
    data = image.save(None)
    assert data is not None
    return data


def _app_desc(version: str, project: str, date: str, idf: str) -> bytes:
    """ESP-IDF esp_app_desc_t (256 bytes) as the first bytes of the app's DROM segment."""
    return struct.pack(
        "<III8x32s32s16s16s32s32s80x",
        APP_DESC_MAGIC,
        0,
        0,
        version.encode()[:31],
        project.encode()[:31],
        b"00:00:00",
        date.encode()[:15],
        idf.encode()[:31],
        b"\0" * 32,
    )[:256]


def build_app(banner: str, version: str, project: str, date: str, idf: str, size: int, seed: str) -> bytes:
    """An app image of about `size` bytes with `banner` embedded in its read-only data."""
    rng = random.Random(seed)
    rodata = _app_desc(version, project, date, idf) + banner.encode() + b"\r\n\0"
    rodata += b'Type "help()" for more information.\r\n\0'
    rodata = rodata.ljust(len(rodata) + 3 & ~3, b"\0")
    rest = max(size - 0x10000, 0x8000)
    drom = rodata + _filler(rng, rest // 4 & ~3)
    irom = _filler(rng, rest - len(drom) & ~3)
    return _image(
        [(_DROM, drom), (_DRAM, _filler(rng, 0x4000)), (_IRAM, _filler(rng, 0x8000)), (_IROM, irom)],
        _IRAM + 0x1000,
        0x400000,
    )


def build_bootloader(flash_size: int, title: str, seed: str) -> bytes:
    """A 2nd-stage bootloader image (fits 0x1000..0x8000)."""
    rng = random.Random(seed)
    marker = f"{title} 2nd stage bootloader\0".encode()
    dram = (marker + _filler(rng, 0x800)).ljust(0x800 + len(marker) + 3 & ~3, b"\0")
    return _image([(_DRAM_BOOT, dram), (_IRAM_BOOT, _filler(rng, 0x5000))], _IRAM_BOOT_ENTRY, flash_size)


def pycom_partitions(layout: Layout) -> list[Partition]:
    """Pycom's partitions_4MB.csv / partitions_8MB.csv (reference 1.3)."""
    parts = [
        Partition("nvs", DATA, 0x02, layout.nvs.offset, layout.nvs.size),
        Partition("factory", APP, 0x00, layout.factory.offset, layout.factory.size),
        Partition("otadata", DATA, 0x00, layout.otadata.offset, layout.otadata.size),
        Partition("ota_0", APP, 0x10, layout.ota_0.offset, layout.ota_0.size),
    ]
    if layout.flash_size == 0x400000:
        parts += [
            Partition("dummy", DATA, 0x07, 0x36E000, 0x10000),
            Partition("fs", DATA, 0x05, layout.fs.offset, layout.fs.size),
        ]
    parts.append(Partition("config", DATA, 0x06, layout.config.offset, layout.config.size))
    return parts


def archive_name(board: BoardModel, version: str) -> str:
    """ "<BoardName>-<SW_VERSION>.tar.gz" (makepkg.sh)."""
    return f"{board.name}-{version}.tar.gz"


def _hex(n: int) -> str:
    return f"0x{n:X}"


def _script_v21(layout: Layout, app: str) -> str:
    script = {
        "version": "2.1",
        "partitions": {
            "factory": [_hex(layout.factory.offset), _hex(layout.factory.size)],
            "ota_0": [_hex(layout.ota_0.offset), _hex(layout.ota_0.size)],
            "otadata": [_hex(layout.otadata.offset), _hex(layout.otadata.size)],
        },
        "script": [
            ["w", "bootloader", "bootloader.bin"],
            ["w", "partitions", f"partitions_{layout.key}.bin"],
            ["w", "factory", app],
        ],
    }
    return json.dumps(script) + "\n"


def _legacy_script(layout_key: str, app: str) -> str:
    ops = [["e", f"0x{off:X}", "0x40000"] for off in range(0x1000, 0x201000, 0x40000)]
    ops += [["w", "0x1000", "bootloader.bin"], ["w", "0x8000", f"partitions_{layout_key}.bin"], ["w", "0x10000", app]]
    return json.dumps(ops) + "\n"


def _release(version: str, micropython: str | None, date: str | None) -> tuple[str, str]:
    known = PYCOM_RELEASES.get(version)
    if known is None and (micropython is None or date is None):
        raise UsageError(
            f"unknown Pycom version '{version}'",
            f"use one of {', '.join(PYCOM_RELEASES)} or give --micropython TAG and --date YYYY-MM-DD",
        )
    return micropython or known[0], date or known[1]  # type: ignore[index]


def build_pycom_archive(
    board_key: str,
    version: str,
    micropython: str | None = None,
    date: str | None = None,
    app_size: int = 0x160000,
) -> list[BuiltFile]:
    """The members of "<Board>-<version>.tar.gz", in makepkg.sh's tar order (reference 1.1-1.2)."""
    board = get_board(board_key)
    if not board.is_pycom:
        raise UsageError(f"'{board_key}' is not a Pycom board", "use --flavour micropython for generic ESP32")
    tag, build_date = _release(version, micropython, date)
    keys = list(board.archives)
    smallest = min(layouts()[k].factory.size for k in keys)
    if app_size > smallest:
        raise UsageError(f"--app-size 0x{app_size:x} does not fit the 0x{smallest:x} factory partition")
    seed = f"{board.name}-{version}"
    banner = pycom_banner(version, tag, build_date, board.name)
    app = build_app(banner, version, board.name, build_date, PYCOM_IDF, app_size, seed)
    files = [BuiltFile("bootloader.bin", build_bootloader(layouts()[keys[0]].flash_size, "Pycom", seed))]
    files += [BuiltFile(f"partitions_{k}.bin", build_partition_table(pycom_partitions(layouts()[k]))) for k in keys]
    files.append(BuiltFile(board.app, app))
    files += [BuiltFile(f"script_{k}", _script_v21(layouts()[k], board.app).encode()) for k in keys]
    main_key = keys[0]
    files.append(BuiltFile("script", _legacy_script(main_key, board.app).encode()))
    # The packaging bug of LOPY4/script2 and GPY/script2: the factory entry names fipy.bin (reference 1.2(c)).
    script2_app = "fipy.bin" if board.app in ("lopy4.bin", "gpy.bin") else board.app
    files.append(BuiltFile("script2", _script_v21(layouts()[main_key], script2_app).encode()))
    return files


def build_micropython_image(version: str = "1.24.1", date: str | None = None, app_size: int = 0x170000) -> bytes:
    """A stock MicroPython single-file image for offset 0x1000: bootloader, partition table and app merged."""
    build_date = date or MICROPYTHON_RELEASES.get(version)
    if build_date is None:
        raise UsageError(
            f"unknown MicroPython version '{version}'",
            f"use one of {', '.join(MICROPYTHON_RELEASES)} or give --date YYYY-MM-DD",
        )
    tag = f"v{version}"
    seed = f"micropython-{version}"
    layout = catalogue()["esp32"].layout
    table = build_partition_table(
        [
            Partition("nvs", DATA, 0x02, 0x9000, 0x6000),
            Partition("phy_init", DATA, 0x01, 0xF000, 0x1000),
            Partition("factory", APP, 0x00, APP_OFFSET, 0x1F0000),
            Partition("vfs", DATA, 0x81, 0x200000, 0x200000),
        ]
    )
    app = build_app(stock_banner(tag, build_date), tag, "micropython", build_date, STOCK_IDF, app_size, seed)
    boot = build_bootloader(layout.flash_size, f"ESP-IDF {STOCK_IDF}", seed)
    merged = bytearray(b"\xff" * (APP_OFFSET - BOOTLOADER_OFFSET))
    merged[: len(boot)] = boot
    merged[PARTITION_TABLE_OFFSET - BOOTLOADER_OFFSET : PARTITION_TABLE_OFFSET - BOOTLOADER_OFFSET + len(table)] = table
    return bytes(merged) + app


def write_archive(files: list[BuiltFile], path: Path) -> None:
    """Write members to a .tar.gz (or .tar) with fixed metadata, in the given order."""
    mode = "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tar:
        for f in files:
            info = tarfile.TarInfo(f.name)
            info.size = len(f.data)
            info.mode = 0o644
            info.mtime = 1600000000
            tar.addfile(info, io.BytesIO(f.data))
