"""`pytool sync`: put a project folder (plus pytool's device_lib/ into lib/) on the board, sending only what changed.

Plan: the local tree (gitignore-style rules) versus the board, in ONE exec round trip: the board streams its
manifest (what pytool deployed before, `<root>/.pytool/manifest`, sorted by path) a line at a time, hashes every
file it lists and compares them chunk by chunk with a key per chunk of the host's sorted list; only chunks that
differ come back. Nothing changed = nothing more is sent. The board's memory holds one chunk, never the manifest,
so any number of files plans within a 67 KB heap.

Apply, interruption-safe at any byte:
- each file is written to `<root>/.pytool/tmp/N` (its bytes on the board's stdin, zlib-compressed when the board
  can inflate, a few byte values escaped: pytool/board_feed.py; pieces sized to the board's free heap), its
  on-board SHA-256 is checked, it is appended to the manifest's journal and only then is the file renamed into
  place: every file is always old or new; the last exec merges the journal into the manifest (temp + rename; an
  interrupted merge is redone by the next sync);
- deletions only touch files the manifest lists (or, with `--mirror`, everything not in the project), and happen
  before the manifest forgets them, so an interrupted deletion is finished by the next sync;
- leftovers of an interrupted sync (temp files) are removed by the next sync's first round trip.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytool import baud, board_code, board_feed
from pytool.board import BoardCodeError, BoardSession, literal, register_helpers
from pytool.capabilities import Capabilities
from pytool.config import ProjectConfig
from pytool.errors import PytoolError, UsageError
from pytool.paths import device_lib_dir
from pytool.sync_files import DEFAULT_IGNORE as DEFAULT_IGNORE
from pytool.sync_files import LIB_DIR as LIB_DIR
from pytool.sync_files import LocalFile as LocalFile
from pytool.sync_files import collect as collect
from pytool.sync_files import ignore_rules as ignore_rules
from pytool.sync_files import precompile as precompile
from pytool.sync_files import sha256_hex as sha256_hex
from pytool.sync_files import walk_files as walk_files

if TYPE_CHECKING:
    from pytool.check import CheckReport

STATE_DIR = ".pytool"  # on the board, under the root: manifest and temp files
KEY_LEN = 20  # hex digits of each chunk's key compared in a plan
SHORT = 12  # hex digits of each file's SHA-256 in the plan (the full hash verifies each upload)
ZLIB_WBITS = 12  # 4 KB window: small enough for any board's inflater


# ------------------------------------------------------------------------------------------------- the plan

SYNC_HELPERS = board_code.load("sync_helpers.py")  # device side of sync (see pytool/board_code/)
register_helpers("sync", SYNC_HELPERS)


@dataclass
class Plan:
    """What a sync will do."""

    upload: list[LocalFile]
    delete: list[str]
    unchanged: list[LocalFile]
    manifest_stale: bool  # the manifest must be rewritten even if no file moves
    board_sizes: dict[str, int] = field(default_factory=dict)  # size on the board of each file pytool put there
    board_project: str | None = None  # the project the board's files came from (None: unknown, older pytool)

    @property
    def empty(self) -> bool:
        return not (self.upload or self.delete or self.manifest_stale)

    def space_needed(self) -> int:
        """Bytes of free space the upload needs: the growth of the files it replaces or adds, and at least the
        largest new file (staged beside its old version until it is verified)."""
        growth = sum(f.size - self.board_sizes.get(f.rel, 0) for f in self.upload)
        return max([growth, *(f.size for f in self.upload)], default=0)

    def to_json(self) -> dict:
        return {
            "upload": [{"path": f.rel, "size": f.size} for f in self.upload],
            "delete": self.delete,
            "unchanged": len(self.unchanged),
            "space_needed": self.space_needed(),
        }


#: The host's sorted file list is cut into chunks (MIN_CHUNK to MAX_CHUNK files; MAX_CHUNKS of them while that
#: allows); the board compares one key per chunk and sends back only the chunks that differ. Its memory holds one
#: chunk: it sends a chunk as soon as it holds more than MAX_CHUNK files (then it differs), as _pt_state does.
MIN_CHUNK = 32
MAX_CHUNK = 64
MAX_CHUNKS = 64


def chunked(files: list[LocalFile]) -> list[list[LocalFile]]:
    """`files` sorted by board path and cut into the chunks a plan compares (always at least one, maybe empty)."""
    ordered = sorted(files, key=lambda f: f.rel)
    size = min(MAX_CHUNK, max(MIN_CHUNK, -(-len(ordered) // MAX_CHUNKS)))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)] or [[]]


def chunk_key(chunk: list[LocalFile]) -> str:
    """What the board compares for one chunk: a hash of every (path, short file hash) in it, as _pt_chunk does."""
    text = "".join(f"{f.rel}:{f.sha256[:SHORT]}\n" for f in chunk)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LEN]


def chunk_table(chunks: list[list[LocalFile]]) -> str:
    """The plan's question: per chunk, its key and the first path it covers (the first chunk covers from "")."""
    return "".join(f"{chunk_key(c)}{c[0].rel if i and c else ''}\n" for i, c in enumerate(chunks))


def plan(board: BoardSession, files: list[LocalFile], mirror: bool = False) -> Plan:
    """Compare the local files with the board in one exec round trip (which also carries the capability probe).

    The board streams its manifest in path order, hashes each file it lists and merge-joins them with the host's
    chunks: a chunk whose key matches is not sent back, one that differs comes back with the short hash and size
    of each board file in it. The host plans from that (an unsent chunk is exactly what the host has)."""
    bad = next((f.rel for f in files if "\n" in f.rel or "\r" in f.rel), None)
    if bad is not None:
        raise UsageError(f"{bad!r} has a line break in its name, which a board cannot keep", "rename the file")
    chunks = chunked(files)
    code = board.helpers("sync", SYNC_HELPERS) + f"_pt_state({literal(chunk_table(chunks))}, {mirror})\n"
    answers = board.query_all(code, timeout=120 + len(files) / 20)
    reported, everything, project = _checked_state(answers, len(chunks))
    on_board: dict[str, tuple[str, int]] = {}
    for index, chunk in enumerate(chunks):
        if index in reported:
            on_board.update(reported[index])
        else:
            on_board.update({f.rel: (f.sha256[:SHORT], f.size) for f in chunk})
    local = {f.rel for f in files}
    upload = [f for f in files if on_board.get(f.rel, ("", 0))[0] != f.sha256[:SHORT]]
    gone = set(everything if mirror else on_board) - local
    changed = {f.rel for f in upload}
    sizes = {rel: size for rel, (_, size) in on_board.items()}
    unchanged = [f for f in files if f.rel not in changed]
    return Plan(upload, sorted(gone), unchanged, bool(upload or gone), sizes, project)


def _checked_state(answers: list, chunks: int) -> tuple[dict[int, dict[str, tuple[str, int]]], list[str], str | None]:
    """The board's answer to _pt_state (each chunk that differs 'A', chunks of its file listing 'W', then the end
    'E' with the project's name), checked: it is untrusted input (any firmware can say anything)."""
    reported: dict[int, dict[str, tuple[str, int]]] = {}
    listing: list[str] = []
    try:
        kind, project = answers[-1]
        if kind != "E":
            raise ValueError(kind)
        for answer in answers[:-1]:
            if answer[0] == "A" and len(answer) == 3 and 0 <= int(answer[1]) < chunks:
                entries = reported.setdefault(int(answer[1]), {})
                entries.update({str(k): (str(h), int(size)) for k, h, size in answer[2]})
            elif answer[0] == "W" and len(answer) == 2:
                listing.extend(str(k) for k in answer[1])
            else:
                raise ValueError(answer[0])
    except (TypeError, ValueError, AttributeError, IndexError, KeyError):
        raise PytoolError(
            "the board's sync state makes no sense", "run `pytool sync` again; if it persists, `pytool reset`"
        ) from None
    for name in [*(k for entries in reported.values() for k in entries), *listing]:
        _check_board_name(name)
    return reported, listing, project if isinstance(project, str) else None


def _check_board_name(name: str) -> None:
    """A path the board lists (untrusted) must be one sync could have put there: relative, no `.`/`..` parts."""
    parts = name.split("/")
    if len(name) > 1024 or any(p in ("", ".", "..") or "\\" in p or "\x00" in p or "\n" in p for p in parts):
        raise PytoolError(
            f"the board's sync state lists {name[:80]!r}, which is no file pytool puts on a board; nothing was changed",
            "start over on the board: `pytool rm -r /flash/.pytool` (`/.pytool` on stock MicroPython), then sync",
        )


# ------------------------------------------------------------------------------------------------- apply


@dataclass
class SyncResult:
    """What a sync did and what it cost."""

    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    payload_bytes: int = 0  # bytes of file content uploaded
    encoded_bytes: int = 0  # bytes sent for them (compressed and escaped; over FTP: as they are)
    compressed: bool = False

    def to_json(self) -> dict:
        return dict(self.__dict__)


def window_bits(size: int) -> int:
    """The deflate window for a piece of `size` bytes: the largest power of two that is not bigger than the piece
    (512 B-4 KB). The inflater allocates the window in one block; on a simulated LoPy's fragmented heap the largest
    free block measured 3.5-6.4 KB (tests/sync/test_sync_many_files.py), and a window rounded up to 4 KB for a 2.3 KB
    piece failed there. A window of half the piece costs nothing measurable (Python source in 2.3 KB pieces: 0.431
    of the size with a 2 KB or a 4 KB window)."""
    return min(ZLIB_WBITS, max(9, size.bit_length() - 1))


def _encode(data: bytes, compress: bool) -> tuple[bytes, bool]:
    """A piece as it travels (pytool.board_feed): zlib-compressed when the board can inflate and it is shorter."""
    if compress and data:
        # a window no bigger than the piece: stock MicroPython's inflater (and the simulator's) allocates the whole
        # window the stream's header asks for, in one block of a heap that may be small and fragmented
        packer = zlib.compressobj(9, zlib.DEFLATED, window_bits(len(data)))
        packed = packer.compress(data) + packer.flush()
        if len(packed) < len(data):
            return board_feed.escape(packed), True
    return board_feed.escape(data), False


#: Seconds an upload exec may go without a byte from the board (it asks for each piece; its longest silence is
#: the commit of a batch: hashing and renaming up to FILES_PER_EXEC files): a board that lost bytes of a piece waits
#: for them, and is interrupted after this long.
FEED_IDLE_S = 20
#: Files whose commit (`_pt_fin`) one exec carries at most: keeps the code of one exec within any board's heap.
FILES_PER_EXEC = 128


def exec_code_budget(caps: Capabilities) -> int:
    """Characters of code one upload exec carries: the raw REPL holds them in one block, so on a small heap (a LoPy:
    67 KB, fragmented by then) they are kept to 1/24 of the free heap; a big heap allows 4/3 of a payload chunk."""
    budget = caps.chunk_size() * 4 // 3 + 256
    return min(budget, max(1024, caps.mem_free // 24)) if caps.mem_free else budget


def apply(
    board: BoardSession,
    the_plan: Plan,
    files: list[LocalFile],
    progress: Callable[[int], None] | None = None,
    record: bool = True,
    project: str | None = None,
) -> SyncResult:
    """Upload, verify, rename into place, delete; manifest kept in step. `progress(n)` is told the payload bytes
    of each piece sent.

    Files go in batches whose code fits the board's heap (the pieces go on its stdin, one at a time);
    each batch is staged, verified, recorded and renamed into place before the next. `record=False`
    (`pytool put`) leaves the manifest alone: those files are not the project's. `project` names the project
    on the board (its folder name), recorded with the last batch."""
    caps = board.capabilities()
    _check_space(the_plan, caps)
    compress = caps.inflate is not None
    code_budget = exec_code_budget(caps)
    budget = min(caps.chunk_size(), (code_budget - 256) * 3 // 4)  # payload bytes per piece (its copies must fit)
    result = SyncResult(unchanged=len(the_plan.unchanged), compressed=compress)
    tmp_dir = f"{caps.root}/{STATE_DIR}/tmp"
    ops: list[str] = [board.helpers("sync", SYNC_HELPERS)]
    if the_plan.upload:
        ops.append(f"_pt_md({literal(tmp_dir + '/x')})")
    finished: list[str] = []
    pieces: list[tuple[bytes, int]] = []  # what this exec's _pt_rd calls read from the board's stdin
    size = 0
    from pytool.transports import ftp_link  # here, not at the top: ftplib and ssl cost every sync's start-up

    link = ftp_link.open_link(board.target.spec) if the_plan.upload else None  # WiFi: bodies over FTP
    rates = contextlib.ExitStack()  # over serial, a big upload runs at the bridge's top rate (pytool.baud)
    if link is None and the_plan.upload:
        rates.enter_context(baud.fast_link(board, sum(f.size for f in the_plan.upload)))

    def flush(deletions: list[str] = (), last: bool = False) -> None:
        nonlocal ops, finished, size, pieces
        dels = "[" + ",".join(literal(k) for k in deletions) + "]"
        name = literal(project) if last and project else "None"
        commit = f"_pt_fin([{','.join(finished)}],{dels},{record},{last},{name})"
        idle = FEED_IDLE_S if pieces else 120  # (a commit alone, after FTP: all its files are hashed in one go)
        board.exec_feeding("\n".join([*ops, commit, ""]), pieces, timeout=idle, sent=progress)
        ops, finished, size, pieces = [], [], 0, []

    try:
        if link is not None:  # WiFi: the bodies went to the temp files over FTP; commit them in batches
            board.exec("\n".join([*ops, ""]), timeout=60)  # helpers and the temp folder
            ops = []
            for tmp, rel, sha in ftp_link.upload(link, the_plan.upload, tmp_dir, result, progress):
                finished.append(f"({literal(tmp)},{literal(rel)},{literal(sha)})")
                if len(finished) >= FILES_PER_EXEC:
                    flush()
            result.compressed = False
        for index, local in enumerate(the_plan.upload if link is None else []):
            data = local.read()
            tmp = f"{tmp_dir}/{index}"
            for offset in range(0, max(len(data), 1), budget):
                piece = data[offset : offset + budget]
                body, packed = _encode(piece, compress)
                escaped = int(board_feed.ESCAPE in body)
                op = f"_pt_rd({literal(tmp)},{len(body)},{int(packed)},{int(offset > 0)},{escaped})"
                if size and size + len(op) > code_budget:
                    flush()
                ops.append(op)
                pieces.append((body, len(piece)))
                size += len(op)
                result.encoded_bytes += len(body)
            entry = f"({literal(tmp)},{literal(local.rel)},{literal(local.sha256)})"
            finished.append(entry)
            size += len(entry)
            result.uploaded.append(local.rel)
            result.payload_bytes += len(data)
            if len(finished) >= FILES_PER_EXEC:
                flush()
        deletions = the_plan.delete
        while True:  # the last exec deletes (in batches too) and names the project
            batch, deletions = deletions[:FILES_PER_EXEC], deletions[FILES_PER_EXEC:]
            flush(batch, last=not deletions)
            if not deletions:
                break
    except BoardCodeError as exc:
        _clean_staging(board)
        if "ENOSPC" in str(exc) or "OSError: 28" in str(exc) or "Errno 28" in str(exc):
            raise PytoolError(
                f"the board's filesystem filled up during the sync; every file is old or new and the staged copies "
                f"were removed ({result.payload_bytes} bytes were committed)",
                "free space on the board (`pytool df`, `pytool rm`) or sync fewer files",
            ) from exc
        raise
    finally:
        rates.close()  # back to the boot rate
    result.deleted = list(the_plan.delete)
    return result


def _check_space(the_plan: Plan, caps: Capabilities) -> None:
    """Refuse, before the first byte is sent, an upload that cannot fit the board's free space."""
    need = the_plan.space_needed()
    if caps.fs_free is None or need <= 0:
        return
    free = max(0, min(caps.fs_free, caps.fs_total or caps.fs_free))
    if need > free:
        raise PytoolError(
            f"not enough space on the board: the sync needs {_kb(need)} more, {_kb(free)} is free "
            f"(of {_kb(caps.fs_total or 0)}); nothing was changed",
            "remove files from the board (`pytool rm`, or `pytool sync --mirror`) or sync a smaller project",
        )


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 10 * 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _clean_staging(board: BoardSession) -> None:
    """Remove staged temp files after a failed upload (best effort: the link may be gone; the next sync also
    removes them)."""
    with contextlib.suppress(PytoolError, OSError):
        board.exec("_pt_clean()\n", timeout=30)


def sync(
    board: BoardSession,
    files: list[LocalFile],
    mirror: bool = False,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[Plan, SyncResult, float]:
    """Plan and (unless `dry_run`) apply; returns the plan, the result and the seconds it took."""
    started = time.monotonic()
    the_plan = plan(board, files, mirror)
    result = SyncResult(unchanged=len(the_plan.unchanged))
    if not dry_run and not the_plan.empty:
        result = apply(board, the_plan, files, progress)
    return the_plan, result, time.monotonic() - started


@dataclass
class SyncOutcome:
    """Everything `pytool sync` did: plan, result, check report, board, reset and cost."""

    plan: Plan
    result: SyncResult
    report: CheckReport | None
    caps: Capabilities
    reset: str | None
    seconds: float
    dry_run: bool = False

    def to_json(self, board: BoardSession) -> dict:
        stats = board.stats
        return {
            "ok": True,
            "dry_run": self.dry_run,
            "board": self.caps.label,
            "port": board.target.spec,
            "plan": self.plan.to_json(),
            **self.result.to_json(),
            "wire_tx": stats.tx,
            "wire_rx": stats.rx,
            "round_trips": stats.round_trips,
            "rate_switch": board.rate_switch,  # pytool.baud: "on", "failed", or None (stayed at the boot rate)
            "seconds": round(self.seconds, 3),
            "reset": self.reset,
            "findings": [f.to_json() for f in self.report.findings] if self.report else [],
        }


def sync_project(
    board: BoardSession,
    config: ProjectConfig,
    *,
    mirror: bool = False,
    dry_run: bool = False,
    run_check: bool = True,
    mpy: bool = False,
    reset: bool = True,
    follow_links: bool = False,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SyncOutcome:
    """`pytool sync`: check (refusing on errors before anything changes), plan, apply, reset if configured.

    Without --mpy the capability probe rides on the plan's round trip, so a no-change sync is one exec.
    `progress(bytes_done, total)` follows the upload."""
    started = time.monotonic()
    board.cache_helpers = True
    if config.fast_baud is not None:
        board.fast_baud = config.fast_baud  # [serial] fast_baud (pytool.baud)
    files = collect(config, follow_links=follow_links)
    lib = device_lib_dir().resolve()
    project_py = [(f.source, f.rel) for f in files if lib not in f.source.resolve().parents]
    the_plan = None if mpy else plan(board, files, mirror)
    caps = board.capabilities()
    report = None
    if run_check or mpy:
        from pytool import check

        target = check.target_from(caps.flavour, caps.release)
        report = check.check_files([(f.source, f.rel) for f in files] if mpy else project_py, target)
        if report.errors and run_check:
            raise PytoolError(
                f"`pytool check` found {len(report.errors)} error(s) for {target.label} (above), nothing was changed",
                "fix them, or sync anyway with --no-check",
                [str(f) for f in report.errors],
            )
    if mpy:
        files = precompile(files, report.compiled if report else {})
        the_plan = plan(board, files, mirror)
    assert the_plan is not None
    _check_same_project(the_plan, config.root.name, replace or mirror or dry_run)
    result = SyncResult(unchanged=len(the_plan.unchanged))
    done = None
    if not dry_run and not the_plan.empty:
        total = sum(f.size for f in the_plan.upload)
        sent = 0

        def advance(n: int) -> None:
            nonlocal sent
            sent += n
            if progress:
                progress(sent, total)

        result = apply(board, the_plan, files, advance, project=config.root.name)
    if not dry_run and reset and config.reset_after_sync == "soft":
        board.soft_reset()
        done = "soft"
    elif not dry_run and reset and config.reset_after_sync == "hard":
        board.hard_reset()
        done = "hard"
    return SyncOutcome(the_plan, result, report, caps, done, time.monotonic() - started, dry_run)


def _check_same_project(the_plan: Plan, project: str, allowed: bool) -> None:
    """Refuse to remove another project's files unless `allowed` (--replace, --mirror, or a dry run)."""
    if allowed or not the_plan.delete or the_plan.board_project in (None, project):
        return
    shown = ", ".join(the_plan.delete[:5]) + (
        f" (+{len(the_plan.delete) - 5} more)" if len(the_plan.delete) > 5 else ""
    )
    raise UsageError(
        f"the board holds project '{the_plan.board_project}'; syncing '{project}' would remove its "
        f"{len(the_plan.delete)} file(s): {shown}; nothing was changed",
        "pass --replace to replace that project, or --dry-run to see the whole plan",
    )
