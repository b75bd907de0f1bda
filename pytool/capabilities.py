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


def capabilities_from(values: list, raw_paste: bool) -> Capabilities:
    """Turn the probe's list (pytool/board_code/probe.py) into Capabilities; ValueError if it is not such a list.

    In order: the board's root ("/flash" or ""), sys.platform, os.uname()'s [sysname, release, version, machine],
    sys.implementation.version[:3], the inflater module, the hash module, whether its hashes take several updates
    (1/0) and can run two at once (1/0), the free heap, and [filesystem size, free bytes]."""
    if not isinstance(values, list):
        raise ValueError("not a capability probe")
    root, platform, uname, impl, inflate, hash_module, incremental, concurrent, mem_free, fs = values
    sysname, release, version, machine = uname or ["", "", "", ""]
    mp_version = tuple(int(v) for v in (impl or [0, 0, 0])[:3] if isinstance(v, int))
    # Pycom: machine = BOARD + " with ESP32", sysname = BOARD; stock: sysname 'esp32', machine '... module with ESP32'
    pycom = bool(machine) and machine == f"{sysname} with ESP32" and release[:2] == "1." and sysname != "ESP32"
    fs_total, fs_free = fs or [None, None]
    return Capabilities(
        flavour="pycom" if pycom else "micropython",
        sysname=sysname,
        release=release if pycom or release else ".".join(map(str, mp_version)),
        version=version,
        machine=machine,
        micropython=mp_version,
        platform=platform or "",
        root=root or "",
        raw_paste=raw_paste,
        inflate=inflate,
        hash_module=hash_module or "hashlib",
        hash_incremental=bool(incremental),
        hash_concurrent=bool(concurrent),
        mem_free=int(mem_free or 0),
        fs_total=fs_total,
        fs_free=fs_free,
    )
