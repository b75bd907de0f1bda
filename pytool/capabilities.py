"""What a connected board can do, as its capability probe (pytool/board_code/probe.py) reports it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Capabilities:
    """What the connected board can do (probed once per session)."""

    flavour: str  # "pycom" | "micropython"
    sysname: str
    release: str  # Pycom SW_VERSION ("1.20.2.r4") or MicroPython version ("1.24.1")
    version: str  # os.uname().version
    machine: str
    micropython: tuple[int, ...]
    platform: str
    root: str  # "/flash" (Pycom) or "" (stock MicroPython: files at /)
    raw_paste: bool
    inflate: str | None  # "uzlib" | "deflate" | None
    hash_module: str
    hash_incremental: bool
    hash_concurrent: bool
    mem_free: int
    fs_total: int | None
    fs_free: int | None

    @property
    def label(self) -> str:
        if self.flavour == "pycom":
            return f"Pycom {self.release} ({self.sysname})"
        return f"MicroPython {self.release} ({self.machine or self.platform})"

    def chunk_size(self) -> int:
        """Raw payload bytes per exec: 1/16 of the free heap (the code text, its string, the decoded and inflated
        copies, and the filesystem's own 4 KB buffers must fit, fragmented), 512 B-16 KB."""
        return max(512, min(16384, self.mem_free // 16))

    def to_json(self) -> dict:
        return asdict(self)


def capabilities_from(raw: dict, raw_paste: bool) -> Capabilities:
    """Turn the probe's dict into Capabilities."""
    uname = raw.get("uname") or ["", "", "", "", ""]
    impl = raw.get("impl") or ["micropython", 0, 0, 0]
    mp_version = tuple(int(v) for v in impl[1:4] if isinstance(v, int))
    pycom = bool(uname[4]) and uname[4].endswith("with ESP32") and uname[2][:2] == "1." and uname[0] != "ESP32"
    release = uname[2] if pycom or uname[2] else ".".join(map(str, mp_version))
    fs = raw.get("fs") or [None, None]
    return Capabilities(
        flavour="pycom" if pycom else "micropython",
        sysname=uname[0],
        release=release,
        version=uname[3],
        machine=uname[4],
        micropython=mp_version,
        platform=raw.get("platform", ""),
        root=raw.get("root", ""),
        raw_paste=raw_paste,
        inflate=raw.get("inflate"),
        hash_module=raw.get("hash", "hashlib"),
        hash_incremental=bool(raw.get("hash_incremental")),
        hash_concurrent=bool(raw.get("hash_concurrent")),
        mem_free=int(raw.get("mem_free") or 0),
        fs_total=fs[0],
        fs_free=fs[1],
    )
