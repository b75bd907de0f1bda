"""Flash plans: what `pytool flash` writes and erases for a Pycom archive (its flash script, reference 1.5)
or a single image, decided before anything is written; the Pycom config block is never in a plan."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pytool.errors import UsageError
from pytool.firmware.archive import Firmware
from pytool.firmware.image import (
    BOOTLOADER_OFFSET,
    CONFIG_BLOCK,
    FLASH_SIZES,
    PARTITION_TABLE_MAX,
    PARTITION_TABLE_OFFSET,
    FirmwareError,
)
from pytool.firmware.partitions import (
    ACTIVE_FACTORY,
    ACTIVE_OTA0,
    DATA,
    STATUS_CHECK,
    STATUS_READY,
    BootInfo,
    Partition,
    parse_partition_table,
)


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
