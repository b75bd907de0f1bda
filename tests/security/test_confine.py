"""The interpreter's OS confinement on its own (pytool/sim/runtime/confine.py as the supervisor runs it): each
layer checked with the interpreter's own host modules, i.e. as if the firmware's layer had a hole."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pytool.sim.runtime import confine

CONFINE = Path(confine.__file__)


def run_confined(code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(code)
    argv = [sys.executable, "-I", str(CONFINE), "--ro", str(script), *args, "--", "micropython", str(script)]
    env = {"HOME": "/nonexistent", "MICROPYPATH": ""}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd="/")


needs_layers = pytest.mark.skipif(bool(confine.probe()), reason="this kernel lacks a sandbox layer")


def test_probe_names_each_missing_layer_in_one_line():
    for line in confine.probe():
        assert "\n" not in line and line


def test_seccomp_program_is_well_formed():
    prog = confine.seccomp_program()
    assert all(len(ins) == 8 for ins in prog)
    assert len(prog) < 4096  # BPF_MAXINSNS


@needs_layers
def test_no_host_command_runs(tmp_path):
    pwned = tmp_path / "pwned"
    os.chmod(tmp_path, 0o777)
    r = run_confined(f"import os\nprint(os.system('touch {pwned}'))", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() != "0"
    assert not pwned.exists()


@needs_layers
def test_no_file_beyond_the_allowed_ones(tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("canary")
    code = (
        f"for path, mode in (('/etc/passwd', 'r'), ('{canary}', 'r'), ('{canary}', 'w'),"
        f" ('/tmp/new-{os.getpid()}', 'w')):\n"
        "    try:\n        open(path, mode)\n        print('opened', path)\n"
        "    except OSError as e:\n        print('refused', e.errno)\n"
    )
    r = run_confined(code, tmp_path)
    assert r.stdout.split("\n")[:4] == ["refused 13"] * 4, r.stdout + r.stderr
    assert canary.read_text() == "canary"


@needs_layers
def test_no_socket_no_network(tmp_path):
    code = (
        "import socket\nfor fam in (socket.AF_INET, socket.AF_UNIX):\n    try:\n"
        "        socket.socket(fam, socket.SOCK_STREAM)\n        print('socket')\n"
        "    except OSError as e:\n        print('refused', e.errno)\n"
    )
    r = run_confined(code, tmp_path)
    assert r.stdout.split() == ["refused", "97", "refused", "97"], r.stdout + r.stderr


@needs_layers
def test_native_code_is_killed_before_it_runs(tmp_path):
    code = "import micropython\n@micropython.native\ndef f():\n    return 1\nprint('ran', f())\n"
    r = run_confined(code, tmp_path)
    assert r.returncode == -signal.SIGSYS
    assert "ran" not in r.stdout


@needs_layers
def test_threads_still_work(tmp_path):
    code = "import _thread, time\nok = []\n_thread.start_new_thread(ok.append, (1,))\ntime.sleep(0.2)\nprint(ok)\n"
    r = run_confined(code, tmp_path)
    assert r.stdout.strip() == "[1]", r.stdout + r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
@needs_layers
def test_runs_as_nobody_when_root():
    # a root-owned 0644 file Landlock lets through (--rw): only the uid drop keeps it unwritten
    d = Path(tempfile.mkdtemp(prefix="pytool-confine-", dir="/tmp"))
    try:
        os.chmod(d, 0o755)
        target = d / "root-owned.txt"
        target.write_text("root")
        os.chmod(target, 0o644)
        code = f"try:\n    open('{target}', 'a').write('x')\n    print('wrote')\n"
        code += "except OSError as e:\n    print('refused', e.errno)\n"
        uid = str(confine.SANDBOX_UID)
        as_root = run_confined(code, d, "--rw", str(target))
        as_nobody = run_confined(code, d, "--rw", str(target), "--uid", uid, "--gid", uid)
        assert as_root.stdout.strip() == "wrote", as_root.stdout + as_root.stderr
        assert as_nobody.stdout.strip() == "refused 13", as_nobody.stdout + as_nobody.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
@needs_layers
def test_a_thread_bomb_stops_at_the_sandbox_users_limit():
    d = Path(tempfile.mkdtemp(prefix="pytool-confine-", dir="/tmp"))
    try:
        os.chmod(d, 0o755)
        code = (
            f"import _thread, time\nn = 0\ntry:\n    for i in range({confine.SANDBOX_NPROC + 500}):\n"
            "        _thread.start_new_thread(time.sleep, (1,))\n        n += 1\n"
            "except OSError as e:\n    print('refused', e.errno)\nprint(n)\ntime.sleep(1.2)\n"
        )
        uid = str(confine.SANDBOX_UID)
        r = run_confined(code, d, "--uid", uid, "--gid", uid)
        lines = r.stdout.split()
        assert lines[:2] == ["refused", "11"], r.stdout + r.stderr
        assert int(lines[2]) < confine.SANDBOX_NPROC
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
@needs_layers
def test_confinement_holds_when_the_simulator_runs_as_an_ordinary_user():
    d = Path(tempfile.mkdtemp(prefix="pytool-confine-", dir="/tmp"))
    try:
        os.chmod(d, 0o777)
        script = d / "script.py"
        pwned = d / "pwned"
        script.write_text(
            f"import os\nprint(os.system('touch {pwned}'))\ntry:\n    open('/etc/hostname')\n    print('read')\n"
            "except OSError as e:\n    print('refused', e.errno)\nimport socket\ntry:\n    socket.socket()\n"
            "except OSError as e:\n    print('refused', e.errno)\n"
        )
        os.chmod(script, 0o644)
        uid = str(confine.SANDBOX_UID)
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", sys.executable, "-I"]
        argv += [str(CONFINE), "--ro", str(script), "--", "micropython", str(script)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"HOME": "/nonexistent"}, cwd="/")
        lines = r.stdout.split("\n")
        assert lines[1:3] == ["refused 13", "refused 97"], r.stdout + r.stderr
        assert not pwned.exists()
    finally:
        shutil.rmtree(d, ignore_errors=True)
