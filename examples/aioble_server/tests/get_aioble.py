"""Put micropython-lib's aioble into this project's lib/ (git-ignored), compiled with mpy-cross as
`mip install aioble` delivers it, so that `pytool deploy` / `pytool test --sim` send it with main.py.

    python tests/get_aioble.py MICROPYTHON_LIB [PROJECT]

MICROPYTHON_LIB is a micropython-lib checkout or a bare git mirror of one (its HEAD). On a real board with
internet access `mpremote mip install aioble` does the same; aioble is not part of this repository.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

AIOBLE = "micropython/bluetooth/aioble/aioble"


def sources(lib: Path, into: Path) -> Path:
    """aioble's .py files from a checkout, or extracted from a bare git repository's HEAD."""
    if (lib / AIOBLE).is_dir():
        return lib / AIOBLE
    tar = subprocess.run(
        ["git", "--git-dir", str(lib), "archive", "--format=tar", "HEAD", AIOBLE], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into / AIOBLE


def compiler() -> str:
    """mpy-cross for MicroPython 1.24 (pytool brings one per .mpy ABI), else an `mpy-cross` on PATH."""
    try:
        from pytool.paths import mpy_cross_for_micropython

        found = mpy_cross_for_micropython("1.24.1")
    except ImportError:
        found = None
    return str(found) if found is not None else "mpy-cross"


def install(lib: Path, project: Path) -> list[Path]:
    """Compile aioble into PROJECT/lib/aioble/*.mpy; returns the files written."""
    out = project / "lib" / "aioble"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in sorted(sources(lib, Path(tmp)).glob("*.py")):
            target = out / f"{source.stem}.mpy"
            subprocess.run([compiler(), "-o", str(target), str(source)], check=True)
            written.append(target)
    return written


def main(argv: list[str]) -> int:
    if not argv or not Path(argv[0]).exists():
        print("usage: python tests/get_aioble.py MICROPYTHON_LIB [PROJECT]  (a micropython-lib checkout)")
        return 2
    project = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    files = install(Path(argv[0]), project)
    print(f"aioble: {len(files)} files in {files[0].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
