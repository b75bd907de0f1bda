"""`pytool firmware info`: what a firmware file is, whether a single image would boot, and where each archive
member goes per flash size."""

from __future__ import annotations

import hashlib

from pytool.firmware.archive import Firmware
from pytool.firmware.boot import boot_select
from pytool.firmware.image import FLASH_SIZES, FirmwareError, check_image_bytes
from pytool.firmware.plan import plan_archive


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
