"""What `pytool sync` deploys: the project's files (gitignore-style rules, links checked) plus pytool's device_lib/
into lib/, each with its SHA-256 (pytool/sync.py puts them on the board)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pathspec

from pytool.config import TOOL_FILES, ProjectConfig
from pytool.errors import UsageError
from pytool.paths import device_lib_dir

#: Never deployed (gitignore syntax): VCS, virtualenvs, caches, editors, tests, the tool's own files.
DEFAULT_IGNORE = [
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    "venv/",
    "env/",
    ".env/",
    ".tox/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".pytool/",  # `pytool test` results (JUnit report, per-test logs)
    ".vscode/",
    ".idea/",
    ".DS_Store",
    "*.swp",
    "*~",
    "tests/",
    "test/",
    ".gitignore",
    *TOOL_FILES,
]
LIB_DIR = "lib"  # device_lib/ goes here


@dataclass(frozen=True)
class LocalFile:
    """One file to deploy: its board path (relative to the board's root) and content."""

    rel: str  # "main.py", "lib/gatt.py"
    source: Path
    sha256: str
    size: int
    data: bytes | None = None  # content when it is not the source file's (precompiled .mpy)

    def read(self) -> bytes:
        return self.data if self.data is not None else self.source.read_bytes()


def _is_venv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def _spec(lines: list[str]) -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines(lines)


def ignore_rules(config: ProjectConfig) -> tuple[pathspec.PathSpec, pathspec.PathSpec | None]:
    """(rules relative to the sync folder, rules of the project's .gitignore relative to the project folder)."""
    lines = list(DEFAULT_IGNORE)
    root_ignore = config.root / ".gitignore"
    project_spec = None
    if config.sync_root != config.root and root_ignore.is_file():
        project_spec = _spec(root_ignore.read_text(errors="replace").splitlines())
    sync_ignore = config.sync_root / ".gitignore"
    if sync_ignore.is_file():
        lines += sync_ignore.read_text(errors="replace").splitlines()
    lines += config.ignore
    return _spec(lines), project_spec


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` in hex, as the board writes it in its manifest."""
    return hashlib.sha256(data).hexdigest()


def _followed(path: Path, rel: str, boundary: Path, follow_links: bool) -> Path:
    """Where the link `path` leads; one-line errors for a loop, a dangling link, or (unless `follow_links`) a link
    leading out of `boundary`."""
    hint = "remove the link, or add it to `ignore` in pytool.toml"
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise UsageError(f"{rel} is a link to {os.readlink(path)}, which does not exist", hint) from None
    except (RuntimeError, OSError) as exc:  # RuntimeError before Python 3.13, OSError(ELOOP) after
        raise UsageError(f"{rel} is a symbolic link loop ({exc})", hint) from None
    if not follow_links and not real.is_relative_to(boundary):
        raise UsageError(
            f"{rel} links to {real}, outside the project: pytool does not follow it",
            "pass --follow-links to upload what it points to, or add it to `ignore` in pytool.toml",
        )
    return real


def walk_files(
    top: Path, keep: Callable[[str, bool], bool], follow_links: bool = False, boundary: Path | None = None
) -> list[tuple[str, Path]]:
    """(relative path, path) of the files below `top` that `keep(rel, is_dir)` accepts, sorted by name.

    Links are followed when they stay inside `boundary` (default `top`), or anywhere with `follow_links`;
    a folder reached twice through links is walked once."""
    boundary = (boundary or top).resolve()
    seen = {top.resolve()}
    found: list[tuple[str, Path]] = []

    def visit(folder: Path, prefix: str) -> None:
        for name in sorted(os.listdir(folder)):
            path, rel = folder / name, prefix + name
            is_dir = path.is_dir()
            if not keep(rel, is_dir) or (is_dir and _is_venv(path)):
                continue
            real = _followed(path, rel, boundary, follow_links) if path.is_symlink() else None
            if not is_dir:
                found.append((rel, path))
            elif real is None or real not in seen:
                seen.add(real or path.resolve())
                visit(path, rel + "/")

    visit(top, "")
    return found


def collect(config: ProjectConfig, include_device_lib: bool = True, follow_links: bool = False) -> list[LocalFile]:
    """Every file `sync` deploys: the sync folder minus ignored files, plus device_lib/ into lib/.

    Links inside the project are followed; links out of it only with `follow_links`."""
    root = config.sync_root
    if not root.is_dir():
        raise UsageError(f"the sync folder {root} does not exist", "fix sync_folder in the project config")
    spec, project_spec = ignore_rules(config)
    offset = root.relative_to(config.root).as_posix() + "/" if root != config.root else ""

    defaults = _spec(DEFAULT_IGNORE)

    def keep(rel: str, is_dir: bool) -> bool:
        if is_dir:  # prune only by the defaults: user rules may re-include files below (`*`, `!*/`, `!*.py`)
            return not defaults.match_file(rel + "/")
        if spec.match_file(rel):
            return False
        return not (project_spec and project_spec.match_file(offset + rel))

    files: dict[str, LocalFile] = {}
    if include_device_lib and device_lib_dir().is_dir():
        lib_spec = _spec([*DEFAULT_IGNORE, "*.md", "*.txt"])
        for rel, path in walk_files(device_lib_dir(), lambda r, d: not lib_spec.match_file(r + "/" if d else r)):
            data = path.read_bytes()
            files[f"{LIB_DIR}/{rel}"] = LocalFile(f"{LIB_DIR}/{rel}", path, sha256_hex(data), len(data))
    for rel, path in walk_files(root, keep, follow_links, config.root):  # the project wins over device_lib (same path)
        data = path.read_bytes()
        files[rel] = LocalFile(rel, path, sha256_hex(data), len(data))
    return [files[k] for k in sorted(files)]


def precompile(files: list[LocalFile], compiled: dict[str, bytes]) -> list[LocalFile]:
    """Replace .py files by their .mpy (from `check`), except boot.py and main.py which the firmware runs as .py."""
    out = []
    for f in files:
        mpy = compiled.get(f.rel)
        if f.rel.endswith(".py") and f.rel not in ("boot.py", "main.py") and mpy is not None:
            out.append(LocalFile(f.rel[:-3] + ".mpy", f.source, sha256_hex(mpy), len(mpy), mpy))
        else:
            out.append(f)
    return out
