"""Issue 19's daily-use errors, each one line saying what happened and what to do, with its exit code and no
traceback: board paths that do not exist, mkdir over a file, a file that is no firmware, several check errors, a
main.py that crashes during deploy, deploy's `[ble]` text, and `pytool test -- ARGS` without a folder. Against a
flashed simulated LoPy4 (one per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytool.cli import run

pytestmark = pytest.mark.timeout(180)


def _run(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """Exit code, the non-empty stderr lines and stdout of `pytool ARGV`; never a traceback."""
    capfd.readouterr()
    code = run(list(argv))
    out, err = capfd.readouterr()
    assert "Traceback" not in err + out and "unexpected" not in err
    return code, [line for line in err.splitlines() if line.strip()], out


def _error(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code, lines, _ = _run(capfd, *argv)
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    return code, errors[0]


def _project(tmp_path: Path, main: str, toml: str = 'board = "lopy4"\n') -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytool.toml").write_text(toml)
    (project / "main.py").write_text(main)
    return project


def test_ls_of_a_path_on_no_volume_and_of_a_missing_file(port, capfd):
    code, line = _error(capfd, "-p", port, "ls", "/nonexist")
    assert code == 1
    assert line.startswith("Error: /nonexist: no such file or folder on the board (it is on no mounted volume) - ")
    assert "/flash" in line and "ENODEV" not in line
    code, line = _error(capfd, "-p", port, "ls", "/flash/nonexist")
    assert code == 1 and line.startswith("Error: /flash/nonexist: no such file or folder on the board - ")


def test_mkdir_over_a_file(port, capfd):
    assert run(["-p", port, "exec", "f = open('/flash/afile', 'w'); f.close()"]) == 0
    code, line = _error(capfd, "-p", port, "mkdir", "/flash/afile")
    assert code == 1
    assert line == (
        "Error: /flash/afile already exists on the board as a file - remove it first (`pytool rm /flash/afile`) "
        "or choose another name"
    )
    assert run(["-p", port, "rm", "/flash/afile"]) == 0


def test_flash_of_a_text_file_and_of_a_damaged_archive(port, capfd, tmp_path):
    (tmp_path / "hello.txt").write_text("hello\n")
    code, line = _error(capfd, "-p", port, "flash", str(tmp_path / "hello.txt"))
    assert code == 2
    assert line.startswith("Error: hello.txt is not a firmware archive or image")
    assert "gzip" not in line and "bz2" not in line and "method" not in line
    import gzip

    (tmp_path / "fw.tar.gz").write_bytes(gzip.compress(b"not a tar archive, but gzip" * 40))
    code, line = _error(capfd, "-p", port, "flash", str(tmp_path / "fw.tar.gz"))
    assert code == 1 and line.startswith("Error: fw.tar.gz is corrupt or truncated (")
    assert "bz2" not in line and "method" not in line


def test_several_check_errors_come_one_per_line(port, capfd, tmp_path):
    project = _project(tmp_path, "print(f'{1}')\n")
    (project / "a.py").write_text("def f(:\n")
    (project / "b.py").write_text("x = (\n")
    code, lines, _ = _run(capfd, "-p", port, "sync", str(project))
    assert code == 1
    findings = [line for line in lines if ": error: " in line]
    assert [f.split(":")[0] for f in findings] == ["a.py", "b.py", "main.py"]
    assert lines[-1].startswith("Error: `pytool check` found 3 error(s) for Pycom 1.20.2.r4 (above), nothing was")
    assert all(len(line) < 200 for line in lines), lines


def test_main_py_crash_during_deploy_names_the_exception_and_line(port, capfd, tmp_path):
    project = _project(tmp_path, "x = 1\ny = x / 0\n")
    code, line = _error(capfd, "-p", port, "deploy", str(project), "--no-flash")
    assert code == 1
    assert line.startswith("Error: main.py failed after the reset: ZeroDivisionError: divide by zero (main.py:2) - ")


def test_deploy_without_a_ble_name_says_so_in_brackets(port, capfd, tmp_path):
    project = _project(tmp_path, "print('up')\n")
    code, lines, _ = _run(capfd, "-p", port, "deploy", str(project), "--no-flash")
    assert code == 0, lines
    assert any("no [ble] name in pytool.toml" in line for line in lines), lines


def test_pytest_arguments_without_a_folder(port, capfd, tmp_path, monkeypatch):
    project = _project(tmp_path, "")
    (project / "tests" / "hil").mkdir(parents=True)
    (project / "tests" / "hil" / "test_two.py").write_text(
        "def test_read():\n    pass\n\ndef test_write():\n    pass\n"
    )
    monkeypatch.chdir(project)
    code, lines, out = _run(capfd, "-p", port, "test", "--no-deploy", "--", "-k", "read")
    assert code == 0, lines
    assert "1 passed, 1 deselected" in out
