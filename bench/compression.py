"""Benchmark: what a preset dictionary would buy pytool's compressed uploads (issue 23), measured on the same
reference project bench/sync.py uploads (real Python source from installed packages, plus device_lib).

pytool compresses each upload chunk with zlib (level 9, 4 KB window: `pytool.sync.ZLIB_WBITS`, what any board's
inflater can hold) and sends it base64-encoded. Printed, as a fraction of the source size:
- today: each chunk on its own;
- a preset dictionary shipped with pytool: frequent lines of a different Python corpus (the host's standard
  library), in the window before each chunk (`zlib.compressobj(zdict=...)`);
- a per-project dictionary: frequent lines of the project's own files (leave-one-out: a file never helps itself).

Neither board's inflater takes a preset dictionary: uzlib (Pycom 1.20 = MicroPython 1.11, lib/uzlib/tinfzlib.c)
and stock MicroPython's `deflate` (lib/uzlib/header.c) both refuse a zlib header with FDICT ("check there is no
preset dictionary"), and neither `uzlib.decompress`/`DecompIO` nor `deflate.DeflateIO` has a dictionary argument.
What both can inflate is a raw deflate stream whose first, non-final, stored block holds the dictionary (built on
the board from a copy kept in its /flash): the compressed data's back-references then land in real output. The
figures below are what that would save; the wire carries only the compressed part.

    python bench/compression.py
"""

from __future__ import annotations

import collections
import sys
import sysconfig
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

WBITS = 12  # pytool.sync.ZLIB_WBITS
CHUNK = 4096  # a typical upload chunk (pytool.capabilities.chunk_size: free heap / 16) on a LoPy4


def dictionary(texts: list[bytes], size: int) -> bytes:
    """Frequent lines of `texts` (count x length), the most valuable last (nearest the data: cheapest distances)."""
    counts: collections.Counter[bytes] = collections.Counter()
    for text in texts:
        for line in set(text.splitlines(keepends=True)):
            if len(line.strip()) >= 6:
                counts[line] += 1
    ranked = sorted((c * len(line), line) for line, c in counts.items() if c > 1)
    out = b""
    for _, line in reversed(ranked):
        if len(out) + len(line) > size:
            break
        out = line + out
    return out


def compressed(data: bytes, zdict: bytes | None) -> int:
    """Bytes on the wire before base64 for `data` uploaded in CHUNK pieces (raw deflate, WBITS window)."""
    total = 0
    for offset in range(0, len(data), CHUNK):
        packer = zlib.compressobj(
            9, zlib.DEFLATED, -WBITS, 9, zlib.Z_DEFAULT_STRATEGY, **({"zdict": zdict} if zdict else {})
        )
        total += len(packer.compress(data[offset : offset + CHUNK]) + packer.flush())
    return total


def main() -> int:
    import argparse

    import sync as bench_sync

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same (it takes seconds)")
    parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "p"
        bench_sync.make_project(project, quick=False)
        files = {p: p.read_bytes() for p in sorted(project.rglob("*.py"))}
    source = sum(len(d) for d in files.values())
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    corpus = [p.read_bytes() for p in sorted(stdlib.glob("*.py"))[:400]]
    preset = dictionary(corpus, 1 << WBITS)
    today = sum(compressed(d, None) for d in files.values())
    with_preset = sum(compressed(d, preset) for d in files.values())
    per_project = 0
    for path, data in files.items():
        others = [d for p, d in files.items() if p != path]
        per_project += compressed(data, dictionary(others, 1 << WBITS))
    print(f"project: {len(files)} Python files, {source} bytes; chunks of {CHUNK} B, {1 << WBITS} B window, level 9")
    for label, size in (
        ("today (no dictionary)", today),
        (f"preset dictionary ({len(preset)} B of stdlib lines)", with_preset),
        ("per-project dictionary (4 KB, leave-one-out)", per_project),
    ):
        print(f"{label:50} {size / source:.3f}x compressed, {size * 4 / 3 / source:.3f}x on the wire (base64)")
    print(
        f"preset dictionary saves {1 - with_preset / today:.1%}, per-project {1 - per_project / today:.1%} of the bytes"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
