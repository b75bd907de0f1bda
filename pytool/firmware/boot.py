"""The boot decision of a Pycom module (ROM check of the bootloader, partition table, otadata, app image
validation, identity): `boot_select`, used by the host to judge whether a merged image would boot.

The simulator has its own, independent implementation (`pytool.sim.boot`): it must not test this code with itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pytool.firmware.identity import FirmwareIdentity, identify
from pytool.firmware.image import (
    BOOTLOADER_OFFSET,
    PARTITION_TABLE_MAX,
    PARTITION_TABLE_OFFSET,
    FirmwareError,
    ImageCheck,
    check_image,
)
from pytool.firmware.partitions import (
    ACTIVE_OTA0,
    APP,
    DATA,
    BootInfo,
    Partition,
    find_partition,
    parse_boot_info,
    parse_partition_table,
)


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
