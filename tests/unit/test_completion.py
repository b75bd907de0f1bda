"""Shell completion (typer's --install-completion / --show-completion) and the `+` split of chained commands."""

from __future__ import annotations

import os
import subprocess
import sys

from pytool.chain import split


def pytool(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytool", *argv], capture_output=True, text=True, env=dict(os.environ, **env), timeout=60
    )


def test_completion_script_completes_commands_and_options(tmp_path):
    shown = pytool("--show-completion", "bash")
    assert shown.returncode == 0 and "_PYTOOL_COMPLETE=complete_bash" in shown.stdout, shown.stderr
    words = pytool(_PYTOOL_COMPLETE="complete_bash", COMP_WORDS="pytool sha", COMP_CWORD="1")
    assert words.stdout.split() == ["sha256sum"]
    words = pytool(_PYTOOL_COMPLETE="complete_bash", COMP_WORDS="pytool cp --rec", COMP_CWORD="2")
    assert words.stdout.split() == ["--recursive"]


def test_install_completion_writes_the_script_for_the_shell(tmp_path):
    done = pytool("--install-completion", "bash", HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "_PYTOOL_COMPLETE" in (tmp_path / ".bash_completions" / "pytool.sh").read_text()
    assert ".bash_completions/pytool.sh" in (tmp_path / ".bashrc").read_text()


def test_chains_split_at_plus_tokens_before_a_double_dash():
    assert split(["ls", "+", "exec", "print(1+1)", "+", "reset"]) == [["ls"], ["exec", "print(1+1)"], ["reset"]]
    assert split(["test", ".", "--", "-k", "+"]) == [["test", ".", "--", "-k", "+"]]
    assert split(["ls"]) == [["ls"]]
