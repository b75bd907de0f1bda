"""Chip-level operations beside flash and erase (pytool/flash.py): `pytool bootloader` puts the ESP32 into its ROM
download mode with the board's reset strategy and leaves it there; `pytool restore` writes back the config
block and NVS that `pytool erase --all` backed up (<data>/backups/<mac>-<time>.tar), through esptool."""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytool.errors import PytoolError, UsageError
from pytool.flash import DEFAULT_BAUD, FlashError, ProgressSink, _detect, backup_dir, esptool_logging, open_session
from pytool.ports import Target
from pytool.reset import ResetStrategy, strategy_for

Say = Callable[[str], None]
MEMBERS = ("config.bin", "nvs.bin")  # what write_backup puts in a backup, and where each goes (the layout's)


def enter_download_mode(port: Target, reset: str | None = None, say: Say = lambda _: None, debug: bool = False) -> str:
    """Reset the chip into its ROM bootloader (download mode) and leave it there; returns the chip's name."""
    strategy = strategy_for(reset or port.reset)
    strategy.enter_bootloader(port, say)
    with esptool_logging(ProgressSink(), debug):
        esp = _detect(port, strategy)  # esptool's sync proves the ROM answers
    try:
        return str(esp.CHIP_NAME)
    finally:
        esp._port.close()


@dataclass
class RestoreResult:
    """What `pytool restore` wrote."""

    ok: bool
    port: str
    mac: str
    backup: str
    regions: list[dict] = field(default_factory=list)  # name, offset, size, action (written / unchanged)

    def to_json(self) -> dict:
        return asdict(self)


def backups_for(mac: str) -> list[Path]:
    """The backups of the chip with this MAC address, oldest first."""
    return sorted(backup_dir().glob(f"{mac.replace(':', '').lower()}-*.tar"))


def read_backup(path: Path, sizes: dict[str, int]) -> dict[str, bytes]:
    """The regions of a backup, checked: exactly config.bin and nvs.bin, regular files of the layout's sizes."""
    try:
        with tarfile.open(path) as tar:
            members = {m.name: m for m in tar.getmembers()}
            if set(members) != set(MEMBERS):
                raise UsageError(
                    f"{path} is not a backup of `pytool erase --all` "
                    f"(it holds {', '.join(sorted(members)) or 'nothing'})",
                    f"give one of the .tar files in {backup_dir()}",
                )
            data = {}
            for name in MEMBERS:
                member = members[name]
                if not member.isfile() or member.size != sizes[name]:
                    raise UsageError(
                        f"{path}: {name} is not a {sizes[name]}-byte region of this chip's flash layout",
                        "the backup is of a board with another flash size, or damaged",
                    )
                data[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except (OSError, tarfile.TarError) as exc:
        raise UsageError(
            f"cannot read the backup {path}: {exc}", f"give one of the .tar files in {backup_dir()}"
        ) from exc
    return data


def restore(
    port: Target,
    backup: Path | None = None,
    baud: int = DEFAULT_BAUD,
    reset: str | ResetStrategy | None = None,
    force: bool = False,
    say: Say = lambda _: None,
    debug: bool = False,
) -> RestoreResult:
    """Write the config block and NVS of `backup` (default: the newest backup of this chip) back to the chip,
    skipping a region that already holds them, and check each by its flash MD5."""
    from esptool.cmds import write_flash
    from esptool.util import FatalError

    from pytool.boards import layouts

    if backup is not None and not backup.is_file():
        raise UsageError(f"{backup} does not exist", f"the backups of `pytool erase --all` are in {backup_dir()}")
    with esptool_logging(ProgressSink(), debug), open_session(port, baud, reset, say, True) as session:
        mine = backups_for(session.mac)
        if backup is None:
            if not mine:
                raise PytoolError(
                    f"there is no backup of the chip {session.mac} in {backup_dir()}",
                    "`pytool erase --all` makes one; give another file with `pytool restore FILE`",
                )
            backup = mine[-1]
        elif not backup.name.startswith(session.mac.replace(":", "").lower()) and not force:
            raise UsageError(
                f"{backup.name} is not a backup of this chip ({session.mac}): its config block would give it "
                "another board's identity",
                "pass --force to write it anyway",
            )
        lay = layouts()["8MB" if session.flash_size >= 0x800000 else "4MB"]
        regions = {"config.bin": lay.config, "nvs.bin": lay.nvs}
        data = read_backup(backup, {name: region.size for name, region in regions.items()})
        result = RestoreResult(False, port.spec, session.mac, str(backup))
        try:
            for name, region in regions.items():
                wanted = hashlib.md5(data[name]).hexdigest()
                action = "unchanged"
                if session.md5(region.offset, region.size) != wanted:
                    write_flash(session.esp, [(region.offset, data[name])], compress=True, force=True)
                    if session.md5(region.offset, region.size) != wanted:
                        raise FlashError(f"{name} did not read back as written", "run `pytool restore` again")
                    action = "written"
                say(f"{name} @0x{region.offset:06x}: {action}")
                result.regions.append({"name": name, "offset": region.offset, "size": region.size, "action": action})
        except FatalError as exc:
            raise FlashError(
                f"restore failed: {str(exc).strip().splitlines()[0]}", "run `pytool restore` again"
            ) from exc
        result.ok = True
    return result
