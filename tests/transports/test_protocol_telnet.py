"""`--port telnet://HOST:PORT`: pytool's pyserial URL handler against a simulated Pycom board's telnet server."""

from __future__ import annotations

import ftplib
import hashlib
import json
import os
import random
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial
from support.cli import run_text as pytool
from support.wifi import RawTelnet, ftp_port, wifi_sim

from pytool import transports
from pytool.errors import UsageError
from pytool.transports.protocol_telnet import TelnetError, parse_url

pytestmark = pytest.mark.timeout(300)
SECRET = "not-the-password-42"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with wifi_sim(tmp_path_factory, "telnetcli") as rec:
        time.sleep(0.3)
        yield rec


@pytest.fixture
def url(sim, monkeypatch):
    monkeypatch.delenv("PYTOOL_USER", raising=False)
    monkeypatch.delenv("PYTOOL_PASSWORD", raising=False)
    transports.set_credentials(None, None)
    transports.register()
    # the simulator's registry (its FTP port is looked up there for sync)
    monkeypatch.setenv("PYTOOL_STATE_DIR", str(Path(sim.control).parents[2]))
    yield sim.wifi["telnet"]
    time.sleep(0.35)  # the board notices the session has gone (one client at a time)


def test_parse_url_defaults_options_and_refuses_passwords():
    assert parse_url("telnet://192.168.4.1") == ("192.168.4.1", 23, None)
    assert parse_url("telnet://127.0.0.1:2323?user=admin&ftp=2121") == ("127.0.0.1", 2323, "admin")
    with pytest.raises(UsageError, match="password"):
        parse_url("telnet://127.0.0.1:23?password=x")
    with pytest.raises(UsageError, match="password"):
        parse_url("telnet://micro:python@127.0.0.1")
    with pytest.raises(UsageError, match="unknown option"):
        parse_url("telnet://127.0.0.1?baud=9")


def test_board_commands_over_telnet(url, capsys, tmp_path):
    code, out, err = pytool(capsys, "-p", url, "exec", "print(6 * 7)")
    assert (code, out.strip()) == (0, "42"), err
    src = tmp_path / "wifi_put.txt"
    src.write_bytes(b"over the air\xff\x00\r\n")  # 0xFF is telnet's IAC: it must survive both ways
    assert pytool(capsys, "-p", url, "put", str(src), "/flash/wifi_put.txt")[0] == 0
    code, out, _ = pytool(capsys, "-p", url, "ls", "/flash")
    assert code == 0 and "wifi_put.txt" in out
    back = tmp_path / "back.txt"
    assert pytool(capsys, "-p", url, "get", "/flash/wifi_put.txt", str(back))[0] == 0
    assert back.read_bytes() == src.read_bytes()
    assert pytool(capsys, "-p", url, "rm", "/flash/wifi_put.txt")[0] == 0


def test_sync_over_telnet_moves_bodies_over_ftp_and_falls_back_to_the_repl(url, sim, capsys, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    body = random.Random(3).randbytes(16384)  # incompressible: what goes over the REPL is at least its size
    (project / "data.bin").write_bytes(body)
    (project / "main.py").write_text("print('hello')\n")
    code, out, err = pytool(capsys, "-p", url, "--json", "sync", str(project), "--no-check")
    assert code == 0, err
    result = json.loads(out)
    assert {"data.bin", "main.py"} <= set(result["uploaded"])  # (with pytool's device_lib)
    assert result["wire_tx"] < len(body)  # the bodies did not go through the REPL
    with ftplib.FTP() as other:  # another FTP client holds the board's only FTP session: REPL instead
        other.connect("127.0.0.1", ftp_port(sim), timeout=15)
        other.login("micro", "python")
        body = body[::-1]
        (project / "data.bin").write_bytes(body)
        code, out, err = pytool(capsys, "-p", url, "--json", "sync", str(project), "--no-check")
        assert code == 0, err
        result = json.loads(out)
        assert result["uploaded"] == ["data.bin"] and result["wire_tx"] > len(body)
        lines: list[str] = []
        other.retrlines("LIST /flash/data.bin", lines.append)
        assert lines[0].split()[4] == str(len(body))
    code, out, _ = pytool(
        capsys,
        "-p",
        url,
        "exec",
        "import uhashlib; print(uhashlib.sha256(open('data.bin','rb').read()).digest().hex())",
    )
    assert (code, out.strip()) == (0, hashlib.sha256(body).hexdigest())


def test_wrong_password_is_one_line_and_never_shown(url, capsys, monkeypatch):
    monkeypatch.setenv("PYTOOL_PASSWORD", SECRET)
    code, out, err = pytool(capsys, "--debug", "-p", url, "ls")
    assert code == 1
    assert "refused the login of user 'micro'" in err
    assert SECRET not in out + err
    monkeypatch.delenv("PYTOOL_PASSWORD")
    time.sleep(0.35)
    with RawTelnet(int(url.rsplit(":", 1)[1])) as t:  # one refusal only: the board still takes logins
        t.login()


def test_user_and_password_options_log_in_and_are_never_shown(url, capsys):
    code, out, err = pytool(capsys, "--debug", "--password", SECRET, "-p", url, "ls")
    assert code == 1 and "refused the login of user 'micro'" in err and SECRET not in out + err
    assert "PYTOOL_PASSWORD" not in __import__("os").environ  # the option lasts one run
    time.sleep(0.35)
    code, out, err = pytool(capsys, "--user", "micro", "--password", "python", "-p", url, "exec", "print(6 * 7)")
    assert code == 0 and out.strip() == "42", err


def test_refused_and_busy_ports_are_one_line(url, capsys):
    code, _, err = pytool(capsys, "-p", "telnet://127.0.0.1:1", "ls")
    assert code == 1 and err.count("\n") == 1 and "refused the telnet connection" in err
    with RawTelnet(int(url.rsplit(":", 1)[1])) as holder:
        holder.login()
        code, _, err = pytool(capsys, "-p", url, "ls")
        assert code == 1 and err.count("\n") == 1 and "one telnet client at a time" in err


def test_flashing_over_telnet_says_it_needs_serial(url, capsys, tmp_path):
    code, _, err = pytool(capsys, "-p", url, "flash", str(tmp_path / "fw.tar.gz"))
    assert code == 1 and "needs the board's serial port" in err


def test_idle_timeout_closes_the_session_with_a_clear_error(url, sim):
    port = serial.serial_for_url(url, timeout=1)
    try:
        port.write(b"\r\x03import network; network.Server(timeout=5)\r")
        with pytest.raises(serial.SerialException, match="server timeout"):
            for _ in range(60):  # no input for 5 s: the board drops the session
                port.read(100)
    finally:
        port.close()
    time.sleep(0.35)
    with serial.serial_for_url(url, timeout=1) as port:
        port.write(b"\r\x03network.Server(timeout=300)\r")
        time.sleep(0.5)


def test_login_error_is_a_pytool_error_not_an_oserror(url, monkeypatch):
    """mpremote turns any OSError from open() into "failed to access": the login error must pass through."""
    monkeypatch.setenv("PYTOOL_PASSWORD", SECRET)
    with pytest.raises(TelnetError) as info:
        serial.serial_for_url(url)
    assert not isinstance(info.value, OSError) and SECRET not in str(info.value)


def test_wifi_link_cut_at_random_bytes_during_sync_leaves_files_old_or_new(url, sim, capsys, tmp_path):
    """The reliability suite's sync-cut, over telnet + FTP: the simulator drops the WiFi link after N bytes."""
    from pytool.board import BoardSession
    from pytool.sim.control import SimControl

    rng = random.Random(22)
    names = ["cut_a.py", "lib/cut_b.py", "data/cut_c.bin"]
    project = tmp_path / "cutproj"

    def write_version() -> dict[str, bytes]:
        files = {n: rng.randbytes(2000 + 3000 * i) for i, n in enumerate(names)}
        for n, data in files.items():
            (project / n).parent.mkdir(parents=True, exist_ok=True)
            (project / n).write_bytes(data)
        return files

    project.mkdir()
    old = write_version()
    # the board holds the files of the module's other projects: this one replaces them
    assert pytool(capsys, "-p", url, "sync", str(project), "--no-check", "--replace")[0] == 0
    control = SimControl(sim.control)
    cuts = 0
    for _ in range(4):
        time.sleep(0.35)
        new = write_version()
        control.request({"op": "wifi-drop", "after": rng.randrange(50, 20000)})
        code, _, err = pytool(capsys, "-p", url, "sync", str(project), "--no-check")
        control.request({"op": "wifi-drop", "after": None})
        if code != 0:
            cuts += 1
            lines = [line for line in err.splitlines() if line.strip()]
            assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), err
        time.sleep(0.5)
        with BoardSession.connect(sim.pty) as board:  # the serial side: every file is the old or the new one
            for n in names:
                assert board.read_file(f"/flash/{n}") in (old[n], new[n]), n
        time.sleep(0.35)
        assert pytool(capsys, "-p", url, "sync", str(project), "--no-check")[0] == 0  # and the next sync heals
        old = new
    assert cuts >= 1  # the link was cut mid-sync at least once


def _pytool_process(*argv: str) -> tuple[subprocess.Popen, int]:
    """`python -m pytool ARGV` under a terminal (a pty): (process, the terminal's master side)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pytool", *argv], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    return proc, master


def _read_until(fd: int, marker: bytes, seen: bytearray, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{marker!r} not seen; got {bytes(seen[-300:])!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break


def test_repl_over_telnet_under_a_terminal(url):
    proc, fd = _pytool_process("-p", url, "repl")
    seen = bytearray()
    try:
        _read_until(fd, b"Connected to", seen)
        os.write(fd, b"\r")
        _read_until(fd, b">>> ", seen)
        os.write(fd, b"print(6 * 7)\r")
        _read_until(fd, b"42\r\n", seen)
        os.write(fd, b"\x1d")  # Ctrl-] leaves
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(fd)


def test_pytool_test_gatt_server_example_over_telnet(url, tmp_path):
    """`pytool -p telnet://... test examples/gatt_server`: deploy over WiFi, reset, then the over-the-air tests
    on the simulated board's radio (found from its telnet URL)."""
    project = tmp_path / "gatt_server"
    shutil.copytree(Path(__file__).parents[2] / "examples" / "gatt_server", project)
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-m", "pytool", "-p", url, "test", str(project)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout + proc.stderr
