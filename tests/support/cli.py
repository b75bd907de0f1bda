"""Running the CLI in-process from a test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytool import cli
from pytool.console import options


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """`pytool --json ARGV...` in this process: (exit code, the JSON on stdout or None, stderr)."""
    capsys.readouterr()
    code = cli.run(["--json", *argv])
    captured = capsys.readouterr()
    try:
        doc = json.loads(captured.out)
    except ValueError:
        doc = None
    return code, doc, captured.err


def run_text(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`pytool ARGV...` in this process: (exit code, stdout, stderr); the global output options are reset after."""
    code = cli.run(list(argv))
    captured = capsys.readouterr()
    options.json, options.debug = False, False
    return code, captured.out, captured.err
