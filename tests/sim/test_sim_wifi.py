"""The simulated Pycom board's network.Server: telnet and FTP bytes, limits, lifecycle, and the shared /flash."""

from __future__ import annotations

import ftplib
import io
import socket
import time

import pytest
from mpremote.transport_serial import SerialTransport
from support.wifi import IAC, RawTelnet, ftp_port, telnet_port, wait_listening, wifi_sim

pytestmark = pytest.mark.timeout(300)

BANNER = b"MicroPython v1.11-ffb0e1c on 2021-01-12; LoPy4 with ESP32\r\n"
USER_NEGOTIATION = bytes([IAC, 252, 1, IAC, 252, 3, IAC, 251, 34])
PASSWORD_NEGOTIATION = bytes([IAC, 251, 1, IAC, 252, 3, IAC, 251, 34])
SESSION_NEGOTIATION = bytes([IAC, 251, 1, IAC, 251, 3, IAC, 252, 34])


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with wifi_sim(tmp_path_factory, "wifisim") as rec:
        time.sleep(0.3)  # the readiness probe's session has gone
        yield rec


@pytest.fixture
def serial_repl(sim):
    """The board's serial port in the raw REPL (the same REPL telnet reaches)."""
    t = SerialTransport(sim.pty, baudrate=115200)
    t.enter_raw_repl(soft_reset=False)
    yield t
    t.exit_raw_repl()
    t.close()


def ftp(sim) -> ftplib.FTP:
    f = ftplib.FTP()
    f.connect("127.0.0.1", ftp_port(sim), timeout=15)
    f.login("micro", "python")
    return f


def test_telnet_login_sends_pycoms_exact_bytes(sim):
    with RawTelnet(telnet_port(sim)) as t:
        assert t.read_until(b"Login as: ") == BANNER + USER_NEGOTIATION + b"Login as: "
        t.send(b"micro\r\n")
        assert t.read_until(b"Password: ") == PASSWORD_NEGOTIATION + b"Password: "
        t.send(b"python\r\n")
        assert t.read_until(b"information.\r\n") == (
            SESSION_NEGOTIATION + b'\r\nLogin succeeded!\r\nType "help()" for more information.\r\n'
        )
        t.send(bytes([IAC, 246]))  # Are You There: echoed
        assert t.read_until(bytes([IAC, 246])).endswith(bytes([IAC, 246]))
        t.send(b"print(6 * 7)\r")
        assert b"\r\n42\r\n" in t.read_until(b"42\r\n>>> ")


def test_pymakr_classic_login_sequence(sim):
    """lib/board/authorize.js: 'Login as:' (7 s), user + CRLF, 'Password:' (7 s), 50 ms, password + CRLF, then
    the success text (7 s)."""
    with RawTelnet(telnet_port(sim)) as t:
        t.read_until(b"Login as:", timeout=7)
        t.send(b"micro\r\n")
        t.read_until(b"Password:", timeout=7)
        time.sleep(0.05)
        t.send(b"python\r\n")
        t.read_until(b'Login succeeded!\r\nType "help()" for more information.\r\n', timeout=7)


def test_three_wrong_logins_reset_the_connection(sim):
    with RawTelnet(telnet_port(sim)) as t:
        for _ in range(3):
            t.read_until(b"Login as: ")
            t.send(b"micro\r\n")
            t.read_until(b"Password: ")
            t.send(b"wrong\r\n")
            t.read_until(b"\r\nInvalid credentials, try again.\r\n")
        assert t.closed_by_peer()
    with RawTelnet(telnet_port(sim)) as t:  # the server takes the next client
        t.login()


def test_a_second_telnet_client_is_refused_while_one_is_connected(sim):
    with RawTelnet(telnet_port(sim)) as first:
        first.login()
        with RawTelnet(telnet_port(sim)) as second:
            assert second.closed_by_peer()
        first.send(b"print('still here')\r")
        first.read_until(b"still here\r\n>>> ")


def test_telnet_is_the_boards_repl_with_raw_mode(sim, serial_repl):
    serial_repl.exec("shared_value = 1234")
    with RawTelnet(telnet_port(sim)) as t:
        t.login()
        t.send(b"\r\x03\x03\x01")  # Ctrl-C, Ctrl-A: raw REPL on the same interpreter
        t.read_until(b"raw REPL; CTRL-B to exit\r\n>")
        t.send(b"print(shared_value + 1)\x04")
        assert t.read_until(b"\x04>") == b"OK1235\r\n\x04\x04>"
        t.send(b"\x02")
        t.read_until(b">>> ")
    serial_repl.enter_raw_repl(soft_reset=False)


def test_ftp_greeting_login_rules_and_command_set(sim):
    f = ftplib.FTP()
    assert f.connect("127.0.0.1", ftp_port(sim), timeout=15) == "220 Micropython FTP Server"
    assert f.sendcmd("PWD").startswith("332")  # nothing but USER, PASS and QUIT before the login
    assert f.sendcmd("EPSV").startswith("332")
    with pytest.raises(ftplib.error_perm, match=r"^530"):
        f.login("micro", "nope")
    f.login("micro", "python")
    assert f.sendcmd("SYST") == "215 UNIX Type: L8"
    assert f.sendcmd("FEAT") == "211 no-features"
    with pytest.raises(ftplib.error_perm, match=r"^502"):
        f.sendcmd("EPSV")
    assert f.sendcmd("PASV").startswith("227 (127,0,0,1,")
    lines: list[str] = []
    f.retrlines("LIST", lines.append)
    assert [line.split()[-1] for line in lines] == ["flash"]  # no SD card
    assert lines[0].startswith("drw-rw-r--   1 root  root ")
    assert f.quit().startswith("221")


def test_ftp_files_round_trip_and_rename(sim):
    f = ftp(sim)
    f.cwd("/flash")
    assert f.sendcmd("PWD") == "257 /flash"
    data = bytes(range(256)) * 40  # several chunks, every byte value
    f.storbinary("STOR ftp_test.bin", io.BytesIO(data))
    assert f.size("ftp_test.bin") == len(data)
    out = io.BytesIO()
    f.retrbinary("RETR ftp_test.bin", out.write)
    assert out.getvalue() == data
    f.mkd("ftpdir")
    f.rename("ftp_test.bin", "ftpdir/moved.bin")
    listing: list[str] = []
    f.retrlines("LIST ftpdir", listing.append)
    assert [line.split()[-1] for line in listing] == ["moved.bin"]
    assert listing[0].split()[4] == str(len(data))
    with pytest.raises(ftplib.error_perm, match=r"^550"):
        f.size("ftp_test.bin")
    f.delete("ftpdir/moved.bin")
    f.rmd("ftpdir")
    with pytest.raises(ftplib.error_perm, match=r"^550"):
        f.cwd("/etc")  # nothing but the board's volumes
    f.quit()


def test_ftp_and_serial_see_the_same_flash(sim, serial_repl):
    f = ftp(sim)
    f.storbinary("STOR /flash/from_ftp.txt", io.BytesIO(b"written over FTP"))
    assert serial_repl.exec("print(open('/flash/from_ftp.txt').read())") == b"written over FTP\r\n"
    serial_repl.exec("f = open('/flash/from_serial.txt', 'w'); f.write('written over serial'); f.close()")
    out = io.BytesIO()
    f.retrbinary("RETR /flash/from_serial.txt", out.write)
    assert out.getvalue() == b"written over serial"
    f.delete("/flash/from_ftp.txt")
    f.delete("/flash/from_serial.txt")
    f.quit()


def test_server_deinit_init_login_and_idle_timeout(sim, serial_repl):
    port = telnet_port(sim)
    # as modnetwork.c: constructing a Server (re)starts the servers
    assert serial_repl.exec("import network; server = network.Server(); print(server.isrunning())") == b"True\r\n"
    serial_repl.exec("server.deinit()")
    time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), 5)
    assert serial_repl.exec("print(server.isrunning())") == b"False\r\n"
    with pytest.raises(Exception, match="ValueError"):
        serial_repl.exec("network.Server(login=('u' * 33, 'p'))")
    serial_repl.exec("network.Server(login=('admin', 'secret'), timeout=5)")
    wait_listening(port, 10)
    time.sleep(0.3)
    with RawTelnet(port) as t:
        t.login(b"admin", b"secret")
        assert t.closed_by_peer(timeout=30)  # idle for longer than the 5 s server timeout
    with ftplib.FTP() as f:
        f.connect("127.0.0.1", ftp_port(sim), timeout=15)
        with pytest.raises(ftplib.error_perm, match=r"^530"):
            f.login("micro", "python")
    serial_repl.exec("network.Server(login=('micro', 'python'), timeout=300)")


def test_telnet_does_not_go_through_the_usb_cable(sim):
    """Pulling the USB cable (a "cut" fault) or line noise on the serial wire leaves the WiFi session alone."""
    from pytool.sim.control import SimControl

    control = SimControl(sim.control)
    with RawTelnet(telnet_port(sim)) as t:
        t.login()
        control.request({"op": "fault", "name": "flip", "params": {"rate": 0.5}, "repeat": True})
        control.request({"op": "fault", "name": "cut", "params": {"after_s": 0, "down_s": 3}})
        time.sleep(0.5)
        assert control.request({"op": "fault"})["injected"].get("cut") == 1  # the cable is out now
        t.send(b"print(6 * 7)\r")
        assert t.read_until(b"42\r\n>>> ").endswith(b"\r\n42\r\n>>> ")
        control.request({"op": "fault", "clear": True})
    time.sleep(3.5)  # the cable is back


def test_ctrl_f_over_telnet_soft_resets_and_safe_boots_at_the_next_hard_reset(sim):
    """telnet.c: Ctrl-F sets the safe-boot flag and injects Ctrl-D; the flag counts at the next hard reset, which
    also ends the telnet session (the board's WiFi goes down with it)."""
    port = telnet_port(sim)
    with RawTelnet(port) as t:
        t.login()
        t.send(b"\r")
        t.read_until(b">>> ")
        t.send(b"\x06")
        t.read_until(b"PYB: soft reboot")
        t.read_until(b">>> ", timeout=30)
        t.send(b"import machine; machine.reset()\r")
        assert t.closed_by_peer(timeout=30)
    wait_listening(port)
    time.sleep(0.6)
    with RawTelnet(port) as t:
        t.login()
        t.send(b"import pycom; print(pycom.bootmgr()[2])\r")
        assert b"SafeBoot: True" in t.read_until(b"SafeBoot: True", timeout=15)


def test_a_generic_esp32_has_no_wifi_servers(tmp_path):
    from pytool.sim.testing import running_sim

    with running_sim("esp32", name="wifiesp32", state_dir=tmp_path / "s", data_dir=tmp_path / "d") as rec:
        assert rec.wifi is None
