"""Another local user reaching the simulator: the RFC2217 port gives what a serial cable gives (a sandboxed
REPL), the simulator's state (sockets, images, config) is not even readable."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support.sandboxed_board import Board, Host

NOBODY = 65534

SCRIPT = r"""
import sys
from mpremote.transport_serial import SerialTransport
t = SerialTransport(sys.argv[1], baudrate=115200)
for code in sys.argv[3:]:
    t.enter_raw_repl(soft_reset=True)  # a fresh interpreter for every attempt
    out, err = t.exec_raw(code.replace("PWNED", sys.argv[2]), timeout=15)
    print(repr(out.decode(errors="replace").strip()), repr(err.decode(errors="replace").strip()[-300:]))
t.exit_raw_repl()
t.close()
"""

ATTEMPTS = [
    "import os\nprint(os.uname().sysname)",
    "import os\nos._os.system('id > PWNED')",
    "import builtins, sys\ndel builtins.__import__\nsys.modules.pop('os')\nsys.modules.pop('uos')\nimport os\n"
    "print('rc', os.system('id > PWNED'))",
    "import builtins\ndel builtins.__import__\nimport vfs\nvfs.mount(vfs.VfsPosix('/'), '/host')\n"
    "print(open('/host/etc/shadow').read())",
]


def _as_nobody() -> list[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a second user (another uid)")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]


def test_second_user_on_rfc2217_gets_only_a_sandboxed_repl(board: Board, host: Host):
    prefix = _as_nobody()
    url = board.rec.rfc2217
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run(
        [*prefix, sys.executable, "-c", SCRIPT, url, str(host.pwned), *ATTEMPTS],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "'LoPy4' ''", r.stdout  # a REPL of the board: what a serial cable gives
    assert "AttributeError" in lines[1]
    assert "OSError" in lines[3]
    assert not host.pwned.exists(), r.stdout
    assert board.answers()


def test_second_user_cannot_reach_the_simulator_state(board: Board):
    prefix = _as_nobody()
    rec = board.rec
    for path in (rec.control, rec.flash):
        r = subprocess.run([*prefix, "/bin/sh", "-c", f"test -r '{path}' || test -w '{path}'"], timeout=30)
        assert r.returncode != 0, f"{path} is reachable by another user"


def test_state_folder_and_sockets_are_the_owners_only(board: Board):
    control = Path(board.rec.control)
    assert stat.S_IMODE(control.stat().st_mode) == 0o600
    assert stat.S_IMODE(control.parent.stat().st_mode) == 0o700


def test_a_new_flash_image_is_the_owners_only(tmp_path):
    from pytool.sim.flash_image import FlashImage

    image = FlashImage(tmp_path / "new.bin", 0x400000)
    try:
        assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o600
    finally:
        image.close()
