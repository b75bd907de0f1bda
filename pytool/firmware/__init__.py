"""Firmware formats and flash plans (no chip I/O here; `pytool.flash` talks to the chip).

- `identity`   the version banner and what it says (board, version, flavour)
- `image`      ESP32 app images (magic, segments, checksum, SHA-256), flash layout constants, `FirmwareError`
- `partitions` ESP-IDF partition tables and Pycom otadata
- `boot`       what a Pycom module's bootloader would boot (`boot_select`)
- `archive`    Pycom archives, folders and single images, read safely (`load_firmware`)
- `plan`       what `pytool flash` writes and erases (`plan_archive`, `plan_image`)
- `describe`   `pytool firmware info`
- `build`      simulator firmware built as real Pycom archives and stock MicroPython images

References: shared/reference/pycom-platform.txt sections 1.1-1.5 and 3; ESP-IDF 3.3 esp_image_format.h,
esp_flash_partitions.h, esp_app_format.h. The names callers need are re-exported here.
"""

from pytool.firmware.archive import (
    MAX_ARCHIVE_SIZE,
    MAX_MEMBER_SIZE,
    MAX_MEMBERS,
    SCRIPT_NAMES,
    Firmware,
    image_kind,
    load_firmware,
    read_archive,
)
from pytool.firmware.boot import BootResult, boot_select
from pytool.firmware.describe import describe, image_validity
from pytool.firmware.identity import (
    BANNER_PATTERNS,
    FirmwareIdentity,
    identify,
    pycom_banner,
    stock_banner,
)
from pytool.firmware.image import (
    APP_OFFSET,
    BOOTLOADER_OFFSET,
    CONFIG_BLOCK,
    FLASH_SIZES,
    IMAGE_MAGIC,
    MAX_SEGMENTS,
    PARTITION_TABLE_MAX,
    PARTITION_TABLE_OFFSET,
    FirmwareError,
    ImageCheck,
    check_image,
    check_image_bytes,
)
from pytool.firmware.partitions import (
    ACTIVE_FACTORY,
    ACTIVE_OTA0,
    APP,
    DATA,
    STATUS_CHECK,
    STATUS_PATCH,
    STATUS_READY,
    BootInfo,
    Partition,
    build_partition_table,
    find_partition,
    parse_boot_info,
    parse_partition_table,
)
from pytool.firmware.plan import (
    FlashPlan,
    FlashWrite,
    builtin_partitions,
    check_plan,
    choose_script,
    plan_archive,
    plan_image,
)

__all__ = [
    "ACTIVE_FACTORY",
    "ACTIVE_OTA0",
    "APP",
    "APP_OFFSET",
    "BANNER_PATTERNS",
    "BOOTLOADER_OFFSET",
    "CONFIG_BLOCK",
    "DATA",
    "FLASH_SIZES",
    "IMAGE_MAGIC",
    "MAX_ARCHIVE_SIZE",
    "MAX_MEMBERS",
    "MAX_MEMBER_SIZE",
    "MAX_SEGMENTS",
    "PARTITION_TABLE_MAX",
    "PARTITION_TABLE_OFFSET",
    "SCRIPT_NAMES",
    "STATUS_CHECK",
    "STATUS_PATCH",
    "STATUS_READY",
    "BootInfo",
    "BootResult",
    "Firmware",
    "FirmwareError",
    "FirmwareIdentity",
    "FlashPlan",
    "FlashWrite",
    "ImageCheck",
    "Partition",
    "boot_select",
    "build_partition_table",
    "builtin_partitions",
    "check_image",
    "check_image_bytes",
    "check_plan",
    "choose_script",
    "describe",
    "find_partition",
    "identify",
    "image_kind",
    "image_validity",
    "load_firmware",
    "parse_boot_info",
    "parse_partition_table",
    "plan_archive",
    "plan_image",
    "pycom_banner",
    "read_archive",
    "stock_banner",
]
