"""Links in a project: followed inside it, refused with one line when they loop, dangle or lead out of the project
(unless --follow-links); a folder reached twice through links is deployed once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytool import config, sync
from pytool.cli import run
from pytool.errors import UsageError


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "lib").mkdir(parents=True)
    (project / "main.py").write_text("import helper\n")
    (project / "lib" / "helper.py").write_text("X = 1\n")
    return project


def _rels(project: Path, **kwargs) -> list[str]:
    return [f.rel for f in sync.collect(config.load(project), include_device_lib=False, **kwargs)]


def test_links_inside_the_project_are_followed_and_a_folder_loop_is_walked_once(tmp_path):
    project = _project(tmp_path)
    os.symlink("lib/helper.py", project / "alias.py")
    os.symlink("../lib", project / "lib" / "again")  # lib/again -> lib: a loop through folders
    assert _rels(project) == ["alias.py", "lib/helper.py", "main.py"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: os.symlink("nowhere.py", p / "dangling.py"), "dangling.py is a link to nowhere.py, which does not"),
        (lambda p: (os.symlink("b.py", p / "a.py"), os.symlink("a.py", p / "b.py")), "a.py is a symbolic link loop"),
        (lambda p: os.symlink("/etc/hostname", p / "host.txt"), "host.txt links to /etc/hostname, outside the project"),
    ],
    ids=["dangling", "loop", "outside"],
)
def test_a_bad_link_is_one_line_from_check_and_collect(tmp_path, capsys, make, message):
    project = _project(tmp_path)
    make(project)
    with pytest.raises(UsageError, match=message.split(",")[0]):
        _rels(project)
    assert run(["check", str(project)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], lines


def test_follow_links_uploads_what_an_outside_link_points_to(tmp_path):
    outside = tmp_path / "shared.py"
    outside.write_text("SHARED = 1\n")
    project = _project(tmp_path)
    os.symlink(outside, project / "shared.py")
    files = {f.rel: f for f in sync.collect(config.load(project), include_device_lib=False, follow_links=True)}
    assert files["shared.py"].read() == b"SHARED = 1\n"


def test_an_ignored_bad_link_is_never_looked_at(tmp_path):
    project = _project(tmp_path)
    os.symlink("nowhere", project / "scratch.tmp")
    (project / "pytool.toml").write_text('ignore = ["*.tmp"]\n')
    assert _rels(project) == ["lib/helper.py", "main.py"]
