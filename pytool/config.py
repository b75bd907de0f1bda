"""Project configuration: `pytool.toml`, or an existing Pymakr `pymakr.conf` when there is no pytool.toml.

pytool.toml (every key optional):
    port = "sim:lopy4"            # the board, unless --port or PYTOOL_PORT names one
    board = "lopy4"               # catalogue key (pytool/boards.py)
    firmware = "1.20.2.r4"        # target firmware for `pytool check` when no board is connected
    sync_folder = "src"           # what `pytool sync` deploys (relative to the project folder)
    ignore = ["*.md", "data/"]    # gitignore-style patterns, on top of .gitignore and the defaults
    reset_after_sync = "soft"     # "soft", "hard" or false
    watch_restart = "main"        # `pytool watch`: re-run main.py ("main"), "soft" or "hard" reset
    [ble]
    name = "gatt-demo"            # the advertised name the over-the-air tests look for
    [wifi]                        # login of a board reached over telnet:// (PYTOOL_USER/PYTOOL_PASSWORD override)
    user = "micro"
    password = "python"
    [[boards]]                    # several boards (multi-board tests, `--all`): one table each, every key optional
    port = "sim:one"              # default: given at run time (`--board-port server=PORT`)
    role = "server"               # the board's part in multi-board tests (default: board0, board1, ...)
    project = "server"            # the folder deployed to this board (relative to this file; default: this project)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pytool.errors import UsageError

CONFIG_NAME = "pytool.toml"
PYMAKR_NAME = "pymakr.conf"
RESET_CHOICES = ("soft", "hard")
WATCH_RESTART_CHOICES = ("main", "soft", "hard")
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # a [[boards]] role (`--board-port ROLE=PORT`)

#: Files of the tool chain itself: never deployed.
TOOL_FILES = (CONFIG_NAME, PYMAKR_NAME, "project.pymakr")


@dataclass(frozen=True)
class BoardEntry:
    """One `[[boards]]` table: a board of a multi-board project (every key optional, see docs/config.md)."""

    port: str | None = None  # None: given at run time (`--board-port ROLE=PORT`)
    role: str | None = None  # its part in multi-board tests (`boards["server"]`); None: board0, board1, ... by position
    project: Path | None = None  # the folder deployed to this board (None: the project itself)

    def to_json(self) -> dict:
        return {"port": self.port, "role": self.role, "project": str(self.project) if self.project else None}


@dataclass
class ProjectConfig:
    """The settings of one project folder (see the module docstring for the file format)."""

    root: Path
    port: str | None = None
    board: str | None = None
    firmware: str | None = None
    sync_folder: str = ""
    ignore: list[str] = field(default_factory=list)
    reset_after_sync: str | None = None  # "soft" | "hard" | None
    watch_restart: str = "main"  # how `pytool watch` restarts the program: "main", "soft" or "hard"
    ble_name: str | None = None
    wifi_user: str | None = None  # telnet/FTP login ([wifi], pymakr.conf username/password)
    wifi_password: str | None = field(default=None, repr=False)  # never printed: not in to_json() either
    fast_baud: int | None = None  # [serial] fast_baud: bulk-transfer rate; 0 = never switch; None = by bridge
    boards: list[BoardEntry] = field(default_factory=list)  # [[boards]]: several boards, by role
    source: str = "defaults"  # "pytool.toml", "pymakr.conf" or "defaults"
    safe_boot_before_sync: bool = False  # pymakr.conf safe_boot_on_upload: Pycom safe boot before each sync
    notes: list[str] = field(default_factory=list)  # pymakr.conf keys pytool reads differently or not at all

    @property
    def sync_root(self) -> Path:
        """The folder whose contents go to /flash."""
        return (self.root / self.sync_folder).resolve() if self.sync_folder else self.root

    def to_json(self) -> dict:
        return {
            "root": str(self.root),
            "source": self.source,
            "port": self.port,
            "board": self.board,
            "firmware": self.firmware,
            "sync_folder": self.sync_folder,
            "ignore": self.ignore,
            "reset_after_sync": self.reset_after_sync,
            "watch_restart": self.watch_restart,
            "ble_name": self.ble_name,
            "wifi_user": self.wifi_user,
            "boards": [board.to_json() for board in self.boards],
        }


def _reset_value(raw: object, where: str) -> str | None:
    if raw is False or raw is None:
        return None
    if raw is True:
        return "soft"
    if isinstance(raw, str) and raw in RESET_CHOICES:
        return raw
    raise UsageError(f'{where}: reset_after_sync must be "soft", "hard" or false, not {raw!r}')


def _watch_restart(raw: str, where: str) -> str:
    if raw not in WATCH_RESTART_CHOICES:
        raise UsageError(f'{where}: watch_restart must be "main", "soft" or "hard", not {raw!r}')
    return raw


def _string_list(raw: object, key: str, where: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):  # Pymakr accepts "a,b"
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return list(raw)
    raise UsageError(f"{where}: {key} must be a list of strings")


@dataclass(frozen=True)
class Setting:
    """One pytool.toml key: its TOML type, default and meaning (docs/config.md is checked against this table)."""

    key: str  # "port", or "ble.name" for a key of the [ble] table
    kind: type | tuple[type, ...]
    expected: str  # the type as the error message names it
    default: str
    meaning: str


SETTINGS = (
    Setting(
        "port",
        str,
        "a string",
        "the single attached board",
        "the board to use: device path, pyserial URL or sim:NAME (`--port` and PYTOOL_PORT take precedence)",
    ),
    Setting(
        "board", str, "a string", "from the connected board", "catalogue key of the board (lopy4, wipy3, esp32, ...)"
    ),
    Setting(
        "firmware",
        str,
        "a string",
        "Pycom 1.20.2.r4 for `check`",
        "firmware the project is written for: a version "
        "(`1.20.2.r4`) or an archive path; `deploy` flashes it when the board runs something else",
    ),
    Setting("sync_folder", str, "a string", "the project folder", "the folder whose contents go to /flash"),
    Setting(
        "ignore",
        (list, str),
        "a list of strings",
        "[]",
        "gitignore-style patterns never deployed, on top of .gitignore and the defaults",
    ),
    Setting("reset_after_sync", (str, bool), '"soft", "hard" or false', "false", "reset the board after a sync"),
    Setting(
        "watch_restart",
        str,
        '"main", "soft" or "hard"',
        '"main"',
        "how `pytool watch` restarts the program after an upload: run main.py again, soft or hard reset",
    ),
    Setting("ble", dict, "a table", "", "Bluetooth settings of the over-the-air tests"),
    Setting("ble.name", str, "a string", "none", "the name the board advertises; the over-the-air tests look for it"),
    Setting("wifi", dict, "a table", "", 'login of a Pycom board reached over WiFi (`port = "telnet://..."`)'),
    Setting("wifi.user", str, "a string", '"micro"', "telnet/FTP user (PYTOOL_USER takes precedence)"),
    Setting(
        "wifi.password",
        str,
        "a string",
        '"python"',
        "telnet/FTP password (PYTOOL_PASSWORD takes precedence); never printed",
    ),
    Setting("serial", dict, "a table", "", "serial line settings"),
    Setting(
        "serial.fast_baud",
        (int, bool),
        "a baud rate or false",
        "by the USB bridge (921600; 230400 on PIC boards)",
        "rate bulk transfers switch the REPL UART to (false or 0: stay at 115200; PYTOOL_FAST_BAUD takes precedence)",
    ),
    Setting("boards", list, "a list of tables ([[boards]])", "[]", "several boards, one [[boards]] table each"),
    Setting("boards.port", str, "a string", "`--board-port ROLE=PORT`", "the board's port (any `port` value)"),
    Setting("boards.role", str, "a string", "board0, board1, ...", "the board's part in multi-board tests"),
    Setting(
        "boards.project", str, "a string", "this project", "the folder deployed to this board (relative to this file)"
    ),
)
_SETTINGS = {s.key: s for s in SETTINGS}


def _validate(raw: dict, path: Path, prefix: str = "") -> None:
    """Refuse unknown keys and wrong types with one line naming the key, the expected type and the file."""
    for key, value in raw.items():
        full = prefix + key
        setting = _SETTINGS.get(full)
        if setting is None:
            known = ", ".join(s.key for s in SETTINGS if s.key.startswith(prefix) and "." not in s.key[len(prefix) :])
            raise UsageError(
                f"{path}: unknown setting '{full}'",
                f"known settings{' in [' + prefix[:-1] + ']' if prefix else ''}: {known}",
            )
        if not isinstance(value, setting.kind):
            raise UsageError(
                f"{path}: {full} must be {setting.expected}, not {type(value).__name__} {value!r}",
                "see docs/config.md for every pytool.toml key",
            )
        if isinstance(value, dict):
            _validate(value, path, full + ".")
        elif full == "boards":
            for entry in value:
                if not isinstance(entry, dict):
                    raise UsageError(
                        f"{path}: boards must be a list of tables ([[boards]]), not {type(entry).__name__} {entry!r}",
                        "see docs/config.md for every pytool.toml key",
                    )
                _validate(entry, path, "boards.")


def _board_entries(raw: list[dict], path: Path) -> list[BoardEntry]:
    """The [[boards]] tables: a role is a name (letters, digits, '_', '-'), and no role or port appears twice."""
    entries: list[BoardEntry] = []
    for number, entry in enumerate(raw, 1):
        role = entry.get("role")
        if role is not None and not ROLE_NAME.fullmatch(role):
            raise UsageError(
                f"{path}: [[boards]] entry {number}: role {role!r} is not a name of letters, digits, '_' or '-'",
                'give the board a role = "NAME" (tests reach it as boards["NAME"])',
            )
        if role is not None and any(known.role == role for known in entries):
            raise UsageError(f"{path}: two [[boards]] entries have the role '{role}'", "give each board its own role")
        port = entry.get("port") or None
        if port is not None and any(known.port == port for known in entries):
            raise UsageError(f"{path}: port {port} is in [[boards]] twice", "list each board once")
        folder = (path.parent / entry["project"]).resolve() if entry.get("project") else None
        entries.append(BoardEntry(port, role, folder))
    return entries


def load_pytool_toml(path: Path) -> ProjectConfig:
    """Read and validate a pytool.toml (types, known keys, a board from the catalogue)."""
    import tomllib  # here, not at the top: only a project with a pytool.toml needs it (start-up)

    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", "fix the file or write a new one with `pytool init`") from exc
    _validate(raw, path)
    if "board" in raw:
        from pytool.boards import catalogue

        if raw["board"].lower() not in catalogue():
            raise UsageError(
                f"{path}: board '{raw['board']}' is not a board pytool knows",
                f"choose one of: {', '.join(catalogue())}",
            )
    ble = raw.get("ble") or {}
    return ProjectConfig(
        root=path.parent.resolve(),
        port=raw.get("port"),
        board=raw.get("board"),
        firmware=raw.get("firmware"),
        sync_folder=str(raw.get("sync_folder") or "").strip("/"),
        ignore=_string_list(raw.get("ignore"), "ignore", str(path)),
        reset_after_sync=_reset_value(raw.get("reset_after_sync"), str(path)),
        watch_restart=_watch_restart(raw.get("watch_restart", "main"), str(path)),
        ble_name=ble.get("name"),
        wifi_user=(raw.get("wifi") or {}).get("user") or None,
        wifi_password=(raw.get("wifi") or {}).get("password") or None,
        fast_baud=_fast_baud((raw.get("serial") or {}).get("fast_baud")),
        boards=_board_entries(raw.get("boards") or [], path),
        source=CONFIG_NAME,
    )


def _fast_baud(value: int | bool | None) -> int | None:
    """[serial] fast_baud: false -> 0 (never switch), true or absent -> None (the bridge's rate), else the rate."""
    if value is None or value is True:
        return None
    return 0 if value is False else int(value)


_JSON_COMMENT = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.S)


def load_pymakr_conf(path: Path) -> ProjectConfig:
    """Import a Pymakr `pymakr.conf` (JSON, Pymakr 1 and 2; // comments allowed as Pymakr 2 does)."""
    text = path.read_text(errors="replace")
    try:
        raw = json.loads(_JSON_COMMENT.sub(lambda m: m.group(1) or "", text))
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"cannot read {path}: {exc}", "fix the JSON or write a pytool.toml with `pytool init`"
        ) from exc
    if not isinstance(raw, dict):
        raise UsageError(f"{path} is not a JSON object")
    address = raw.get("address") or None
    if address and not (address.startswith(("/", "COM", "sim:", "labgrid:")) or "://" in address):
        address = f"telnet://{address}"  # an IP address: Pymakr classic used telnet (pytool/transports)
    # Pymakr's sync_file_types ("py,txt,...") as gitignore rules: ignore everything, re-include folders and types.
    type_rules: list[str] = []
    if not raw.get("sync_all_file_types", False) and raw.get("sync_file_types"):
        types = _string_list(raw["sync_file_types"], "sync_file_types", str(path))
        type_rules = ["*", "!*/", *(f"!*.{ext.lstrip('.')}" for ext in types)]
    return ProjectConfig(
        root=path.parent.resolve(),
        port=address,
        sync_folder=str(raw.get("sync_folder") or raw.get("dist_dir") or "").strip("/").removeprefix("."),
        ignore=type_rules + _py_ignore(_string_list(raw.get("py_ignore"), "py_ignore", str(path))),
        reset_after_sync="soft" if raw.get("reboot_after_upload", False) else None,
        wifi_user=raw.get("username") if isinstance(raw.get("username"), str) else None,
        wifi_password=raw.get("password") if isinstance(raw.get("password"), str) else None,
        source=PYMAKR_NAME,
        safe_boot_before_sync=raw.get("safe_boot_on_upload") is True,
        notes=pymakr_notes(raw, address),
    )


def _py_ignore(entries: list[str]) -> list[str]:
    """Pymakr's py_ignore names (files or folders) as gitignore rules that also win over sync_file_types' `!*.py`:
    a folder rule alone loses to a file rule in git's (and pathspec's) precedence, so its contents are named too."""
    rules = []
    for entry in entries:
        name = entry.strip().strip("/")
        if name:
            rules += [name, f"{name}/**" if "/" in name else f"**/{name}/**"]
    return rules


#: pymakr.conf keys pytool does not act on, and why (one line each when the file is read).
PYMAKR_UNSUPPORTED = {
    "open_on_start": "not supported: pytool opens no terminal by itself (`pytool repl` does)",
    "fast_upload": "not needed: pytool always sends compressed, hash-verified chunks",
    "sync_all_file_types": None,  # read with sync_file_types
}


def pymakr_notes(raw: dict, address: str | None) -> list[str]:
    """One line per pymakr.conf key that pytool reads differently from Pymakr or not at all."""
    notes = []
    if raw.get("safe_boot_on_upload") is True:
        notes.append("safe_boot_on_upload: honoured: each sync starts with a Pycom safe boot (Ctrl-F)")
    if raw.get("ctrl_c_on_connect") is False:
        notes.append("ctrl_c_on_connect = false: not supported: pytool always stops the running program to connect")
    for key in ("username", "password"):
        if raw.get(key) and not (address or "").startswith("telnet://"):
            notes.append(f"{key}: not used: the address is not a WiFi (telnet) board")
    for key, why in PYMAKR_UNSUPPORTED.items():
        if why and raw.get(key):
            notes.append(f"{key}: {why}")
    return notes


def load(project: Path | None = None) -> ProjectConfig:
    """The config of `project` (default: cwd): pytool.toml, else pymakr.conf, else defaults."""
    root = (project or Path.cwd()).resolve()
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder", "give the project folder, e.g. `pytool sync .`")
    if (root / CONFIG_NAME).is_file():
        config = load_pytool_toml(root / CONFIG_NAME)
    elif (root / PYMAKR_NAME).is_file():
        config = load_pymakr_conf(root / PYMAKR_NAME)
    else:
        config = ProjectConfig(root=root)
    from pytool.transports import set_credentials

    set_credentials(config.wifi_user, config.wifi_password)  # used when the port is telnet://
    return config


def _toml_value(value: object) -> str:
    return json.dumps(value)  # JSON strings, lists of strings and booleans are valid TOML


def render(config: ProjectConfig) -> str:
    """A pytool.toml text for `config` (unset keys are written as comments, so the file documents itself)."""
    lines = ["# pytool project settings (see `pytool sync --help`); every key is optional"]

    def put(key: str, value: object, example: str) -> None:
        lines.append(f"{key} = {_toml_value(value)}" if value not in (None, "", []) else f"# {key} = {example}")

    put("port", config.port, '"sim:lopy4"   # or /dev/ttyUSB0, rfc2217://host:port, telnet://192.168.4.1')
    put("board", config.board, '"lopy4"')
    put("firmware", config.firmware, '"1.20.2.r4"   # for `pytool check` without a board')
    put("sync_folder", config.sync_folder, '"src"')
    put("ignore", config.ignore, '["*.md", "data/"]   # gitignore syntax, on top of .gitignore')
    lines.append(
        f"reset_after_sync = {_toml_value(config.reset_after_sync)}"
        if config.reset_after_sync
        else 'reset_after_sync = false   # or "soft" / "hard"'
    )
    lines.append("")
    lines.append("[ble]")
    put("name", config.ble_name, '"gatt-demo"')
    lines.append("")
    lines.append("[wifi]   # login for a telnet:// port (PYTOOL_USER / PYTOOL_PASSWORD override it)")
    put("user", config.wifi_user, '"micro"')
    put("password", config.wifi_password, '"python"')
    return "\n".join(lines) + "\n"


def init(project: Path, force: bool = False, **settings: object) -> tuple[Path, ProjectConfig]:
    """Write `project/pytool.toml` (importing pymakr.conf if present); refuse to overwrite unless `force`."""
    root = project.resolve()
    target = root / CONFIG_NAME
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", "edit it, or pass --force to overwrite it")
    base = load_pymakr_conf(root / PYMAKR_NAME) if (root / PYMAKR_NAME).is_file() else ProjectConfig(root=root)
    for key, value in settings.items():
        if value is not None:
            setattr(base, key, value)
    if base.reset_after_sync is not None:
        base.reset_after_sync = _reset_value(base.reset_after_sync, "--reset-after-sync")
    target.write_text(render(base))
    return target, load_pytool_toml(target)
