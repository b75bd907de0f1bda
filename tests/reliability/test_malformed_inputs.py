"""Malformed input corpus: broken archives and images, wrong firmware scripts, hostile member names, unknown
boards, missing or busy ports, a board that never answers, broken project files. Each one ends with ONE clear
line on stderr (a PytoolError, not an 'unexpected' bug line), a non-zero exit code, no traceback, and nothing
written to the board (its flash image is byte-for-byte the same)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.faults import WAIT_S, arm, examples, record, time_limit, wait_ready

from pytool import cli
from pytool.console import options

pytestmark = time_limit(120)

Case = Callable[[Path, dict], list[str]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


# ------------------------------------------------------------------------------------------ archive building


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def write_tar(path: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] = (), gz: bool = True) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    path.write_bytes(gzip.compress(buf.getvalue()) if gz else buf.getvalue())
    return path


def with_script(ctx: dict, script: object, **replace: bytes) -> dict[str, bytes]:
    files = {k: v for k, v in ctx["members"].items() if not k.startswith("script")}
    files["script"] = script if isinstance(script, bytes) else json.dumps(script).encode()
    files.update(replace)
    return files


APP_SCRIPT = [["w", "0x1000", "bootloader.bin"], ["w", "0x8000", "partitions_8MB.bin"], ["w", "0x10000", "lopy4.bin"]]


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, Any]:
    """Run the CLI in-process as a user would (global options reset after); (exit code, capsys's `.out`/`.err`)."""
    try:
        code = cli.run(argv)
    finally:
        options.port, options.json, options.debug = None, False, False
    return code, capsys.readouterr()


def flash_args(ctx: dict, path: Path) -> list[str]:
    return ["--port", ctx["port"], "flash", str(path), "--no-check"]


# ------------------------------------------------------------------------------------------ the corpus


@case("archive-truncated-half")
def _(tmp: Path, ctx: dict) -> list[str]:
    data = ctx["archive"].read_bytes()
    (tmp / "LoPy4-1.20.2.r4.tar.gz").write_bytes(data[: len(data) // 2])
    return flash_args(ctx, tmp / "LoPy4-1.20.2.r4.tar.gz")


@case("archive-truncated-header")
def _(tmp, ctx):
    (tmp / "fw.tar.gz").write_bytes(ctx["archive"].read_bytes()[:300])
    return flash_args(ctx, tmp / "fw.tar.gz")


@case("archive-empty-file")
def _(tmp, ctx):
    (tmp / "fw.tar.gz").write_bytes(b"")
    return flash_args(ctx, tmp / "fw.tar.gz")


@case("archive-random-bytes")
def _(tmp, ctx):
    (tmp / "fw.tar.gz").write_bytes(os.urandom(50_000))
    return flash_args(ctx, tmp / "fw.tar.gz")


@case("archive-gzip-of-garbage")
def _(tmp, ctx):
    (tmp / "fw.tar.gz").write_bytes(gzip.compress(os.urandom(20_000)))
    return flash_args(ctx, tmp / "fw.tar.gz")


@case("archive-gzip-truncated")
def _(tmp, ctx):
    data = gzip.compress(ctx["archive"].read_bytes())
    (tmp / "fw.tar.gz").write_bytes(data[: len(data) * 2 // 3])
    return flash_args(ctx, tmp / "fw.tar.gz")


@case("archive-no-script")
def _(tmp, ctx):
    files = {k: v for k, v in ctx["members"].items() if not k.startswith("script")}
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", files))


@case("script-not-json")
def _(tmp, ctx):
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, b'[["w", "0x1000", "bootloader.bin"')))


@case("script-json-object")
def _(tmp, ctx):
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, {"hello": "world"})))


@case("script-json-number")
def _(tmp, ctx):
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, 42)))


@case("script-unknown-op")
def _(tmp, ctx):
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, [["x", "0x1000", "bootloader.bin"]])))


@case("script-bad-offset")
def _(tmp, ctx):
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, [["w", "0xZZ", "lopy4.bin"]])))


@case("script-missing-file")
def _(tmp, ctx):
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, [*APP_SCRIPT, ["w", "0x300000", "nope.bin"]])))


@case("script-writes-config-block")
def _(tmp, ctx):
    script = [*APP_SCRIPT, ["w", "0x3FF000", "bootloader.bin"]]
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, script)))


@case("script-beyond-flash")
def _(tmp, ctx):
    script = [*APP_SCRIPT, ["w", "0x7FFF00", "bootloader.bin"]]  # runs past the end of the 8 MB chip
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, script)))


@case("script-wrong-arity")
def _(tmp, ctx):
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, [["w", "0x1000"]])))


@case("member-dotdot")
def _(tmp, ctx):
    files = with_script(ctx, [*APP_SCRIPT[:2], ["w", "0x10000", "../lopy4.bin"]])
    files["../lopy4.bin"] = files.pop("lopy4.bin")
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", files))


@case("member-absolute")
def _(tmp, ctx):
    files = with_script(ctx, [*APP_SCRIPT[:2], ["w", "0x10000", "/tmp/lopy4.bin"]])
    files["/tmp/lopy4.bin"] = files.pop("lopy4.bin")
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", files))


@case("member-symlink")
def _(tmp, ctx):
    files = with_script(ctx, APP_SCRIPT)
    files.pop("lopy4.bin")
    link = tarfile.TarInfo("lopy4.bin")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", files, [link]))


@case("member-hardlink")
def _(tmp, ctx):
    files = with_script(ctx, APP_SCRIPT)
    files.pop("lopy4.bin")
    link = tarfile.TarInfo("lopy4.bin")
    link.type, link.linkname = tarfile.LNKTYPE, "../../etc/passwd"
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", files, [link]))


def app_variant(ctx: dict, mutate: Callable[[bytearray], None]) -> bytes:
    app = bytearray(ctx["members"]["lopy4.bin"])
    mutate(app)
    return bytes(app)


@case("app-bad-magic")
def _(tmp, ctx):
    app = app_variant(ctx, lambda a: a.__setitem__(0, 0x00))
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, APP_SCRIPT, **{"lopy4.bin": app})))


@case("app-bad-checksum")
def _(tmp, ctx):
    app = app_variant(ctx, lambda a: a.__setitem__(len(a) // 2, a[len(a) // 2] ^ 0x55))
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, APP_SCRIPT, **{"lopy4.bin": app})))


@case("app-bad-sha256")
def _(tmp, ctx):
    app = app_variant(ctx, lambda a: a.__setitem__(len(a) - 1, a[-1] ^ 0xFF))
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, APP_SCRIPT, **{"lopy4.bin": app})))


@case("app-truncated")
def _(tmp, ctx):
    app = ctx["members"]["lopy4.bin"][:5000]
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, APP_SCRIPT, **{"lopy4.bin": app})))


@case("app-oversized")
def _(tmp, ctx):
    app = ctx["members"]["lopy4.bin"] + b"\xff" * 0x300000
    return flash_args(ctx, write_tar(tmp / "fw.tar.gz", with_script(ctx, APP_SCRIPT, **{"lopy4.bin": app})))


@case("image-bad-magic")
def _(tmp, ctx):
    (tmp / "app.bin").write_bytes(app_variant(ctx, lambda a: a.__setitem__(0, 0x12)))
    return flash_args(ctx, tmp / "app.bin")


@case("image-bad-sha256")
def _(tmp, ctx):
    (tmp / "app.bin").write_bytes(app_variant(ctx, lambda a: a.__setitem__(len(a) - 3, a[-3] ^ 0x01)))
    return flash_args(ctx, tmp / "app.bin")


@case("image-empty")
def _(tmp, ctx):
    (tmp / "app.bin").write_bytes(b"")
    return flash_args(ctx, tmp / "app.bin")


@case("image-larger-than-flash")
def _(tmp, ctx):
    (tmp / "app.bin").write_bytes(ctx["members"]["lopy4.bin"] + b"\xff" * (9 << 20))
    return flash_args(ctx, tmp / "app.bin")


@case("image-bad-offset-option")
def _(tmp, ctx):
    (tmp / "app.bin").write_bytes(ctx["members"]["lopy4.bin"])
    return [*flash_args(ctx, tmp / "app.bin"), "--offset", "zz"]


@case("firmware-missing-file")
def _(tmp, ctx):
    return flash_args(ctx, tmp / "LoPy4-9.9.9.tar.gz")


@case("firmware-info-corrupt-archive")
def _(tmp, ctx):
    (tmp / "fw.tar.gz").write_bytes(gzip.compress(os.urandom(1000)))
    return ["firmware", "info", str(tmp / "fw.tar.gz")]


@case("unknown-board-flash")
def _(tmp, ctx):
    return [*flash_args(ctx, ctx["archive"]), "--board", "lopy99"]


@case("unknown-board-sim-start")
def _(tmp, ctx):
    return ["sim", "start", "--board", "nosuchboard", "--detach"]


@case("port-does-not-exist-flash")
def _(tmp, ctx):
    return ["--port", "/dev/ttyUSB-pytool-missing", "flash", str(ctx["archive"]), "--no-check"]


@case("port-does-not-exist-sync")
def _(tmp, ctx):
    (tmp / "main.py").write_text("print(1)\n")
    return ["--port", "/dev/ttyUSB-pytool-missing", "sync", str(tmp)]


@case("port-unknown-simulator")
def _(tmp, ctx):
    return ["--port", "sim:nobody-here", "info"]


@case("port-busy")
def _(tmp, ctx):
    ctx["hold"] = serial.serial_for_url(ctx["rfc2217"], timeout=1)  # another program holds the USB-UART bridge
    return ["--port", ctx["rfc2217"], "info"]


@case("board-never-answers")
def _(tmp, ctx):
    return ["--port", ctx["silent"], "info"]


@case("board-never-answers-sync")
def _(tmp, ctx):
    (tmp / "main.py").write_text("print(1)\n")
    return ["--port", ctx["silent"], "sync", str(tmp)]


@case("project-bad-toml")
def _(tmp, ctx):
    (tmp / "main.py").write_text("print(1)\n")
    (tmp / "pytool.toml").write_text("[project\nname = ")
    return ["--port", ctx["port"], "sync", str(tmp)]


@case("project-not-a-folder")
def _(tmp, ctx):
    return ["--port", ctx["port"], "sync", str(tmp / "nowhere")]


@case("sim-fault-unknown")
def _(tmp, ctx):
    return ["sim", "fault", "meteor-strike", "--sim", ctx["sim"]]


@case("sim-fault-bad-parameter")
def _(tmp, ctx):
    return ["sim", "fault", "flip", "rate=7", "--sim", ctx["sim"]]


# ------------------------------------------------------------------------------------------ the test


@pytest.fixture(scope="module")
def silent_board() -> Iterator[str]:
    """A 'board' that accepts the connection and never says a word (socket:// on 127.0.0.1)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"socket://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture(scope="module")
def corpus_ctx(sim, firmware_archive, silent_board) -> dict:
    from pytool.sim import registry

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTOOL_STATE_DIR", str(sim.state))
        record = registry.find(sim.name)
    return {
        "archive": firmware_archive,
        "members": members(firmware_archive),
        "port": sim.port,
        "sim": sim.name,
        "rfc2217": record.rfc2217,
        "silent": silent_board,
    }


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_gives_one_clear_line_and_writes_nothing(name, port, sim, corpus_ctx, tmp_path, capsys):
    ctx = dict(corpus_ctx)
    argv = CASES[name](tmp_path, ctx)
    image_before = hashlib.sha256(sim.flash.read_bytes()).hexdigest()
    try:
        code, captured = run_cli(capsys, argv)
    finally:
        if "hold" in ctx:
            ctx["hold"].close()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    written = hashlib.sha256(sim.flash.read_bytes()).hexdigest() != image_before
    clear_line = bool(lines) and lines[-1].startswith("Error:") and not lines[-1].startswith("Error: unexpected ")
    record(
        "malformed-input",
        injected=1,
        recovered=int(code != 0 and clear_line),
        files_checked=1,  # the board's flash image
        corrupt=int(written),
        tracebacks=int("Traceback" in captured.err + captured.out),
    )
    assert code != 0, f"{name}: exit code 0"
    assert "Traceback" not in captured.err + captured.out
    assert lines, f"{name}: no error line"
    error = lines[-1]
    assert error.startswith("Error:"), f"{name}: the last line is not the error: {captured.err!r}"
    assert not error.startswith("Error: unexpected "), f"{name}: a bug, not a clear message: {error}"
    assert hashlib.sha256(sim.flash.read_bytes()).hexdigest() == image_before, f"{name} wrote to the board"


def _gzip_body_start(data: bytes) -> int:
    """Where the deflate stream of a gzip file starts (past the header and its optional name and comment)."""
    assert data[:3] == b"\x1f\x8b\x08", "the test archive is gzip-compressed, as Pycom's are"
    flags, start = data[3], 10
    assert not flags & 0x06, "the test archive has no FEXTRA/FHCRC fields"
    for field in (0x08, 0x10):  # FNAME, FCOMMENT: NUL-terminated
        if flags & field:
            start = data.index(0, start) + 1
    return start


@settings(
    max_examples=examples(20),  # ~20 ms each: the board is never reached
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(damage=st.sampled_from(["truncate", "flip"]), point=st.floats(0.0, 0.9999), bit=st.integers(0, 7))
def test_an_archive_damaged_anywhere_is_refused_before_anything_is_written(
    port, sim, firmware_archive, tmp_path_factory, capsys, damage, point, bit
):
    """A download cut short or a flipped bit anywhere past the gzip header (the mtime there is not checked by
    anyone): gzip's CRC and length, read to the end before flashing, catch it."""
    data = bytearray(firmware_archive.read_bytes())
    start = _gzip_body_start(data)
    at = start + int(point * (len(data) - start))
    if damage == "truncate":
        del data[at:]
    else:
        data[at] ^= 1 << bit
    archive = tmp_path_factory.mktemp("damaged") / "LoPy4-1.20.2.r4.tar.gz"
    archive.write_bytes(bytes(data))
    image_before = hashlib.sha256(sim.flash.read_bytes()).hexdigest()
    code, captured = run_cli(capsys, ["flash", str(archive), "--no-check"])
    lines = [line for line in captured.err.splitlines() if line.strip()]
    written = hashlib.sha256(sim.flash.read_bytes()).hexdigest() != image_before
    record(
        "archive-damage",
        injected=1,
        recovered=int(code != 0 and len(lines) == 1 and lines[0].startswith(f"Error: {archive.name}")),
        files_checked=1,
        corrupt=int(written),
        tracebacks=int("Traceback" in captured.err + captured.out),
    )
    assert code != 0, f"{damage} at byte {at} of {len(data)} was flashed"
    assert "Traceback" not in captured.err + captured.out
    assert len(lines) == 1 and lines[0].startswith(f"Error: {archive.name}"), lines
    assert not written


def test_sim_fault_command_arms_lists_and_clears(port, sim, capsys):
    """`pytool sim fault` (through the CLI): arm a repeating fault, see it with --json, clear it."""
    try:
        assert (
            cli.run(["--port", port, "sim", "fault", "flip", "rate=0.5", "seed=3", "direction=board", "--repeat"]) == 0
        )
        capsys.readouterr()
        assert cli.run(["--json", "sim", "fault", "--sim", sim.name]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert listed["faults"] == [
            {
                "name": "flip",
                "params": {"rate": 0.5, "seed": 3, "direction": "board"},
                "repeat": True,
                "fired": 0,
                "seen": 0,
            }
        ]
        assert cli.run(["--json", "sim", "fault", "flip", "--clear", "--sim", sim.name]) == 0
        assert json.loads(capsys.readouterr().out)["faults"] == []
    finally:
        options.port, options.json, options.debug = None, False, False


def test_a_fault_the_simulator_refuses_comes_back_as_pytools_own_error(port, sim, capsys):
    """A refusal made inside the simulator reaches the user as one line with what to do, and its exit code."""
    code, captured = run_cli(capsys, ["sim", "fault", "ble-drop", "--sim", sim.name])
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert lines == ["Error: no BLE client is connected to this board - connect one first, then drop its link"]


def test_while_the_cable_is_cut_sim_name_leads_nowhere_and_then_to_the_new_port(port, sim, capsys):
    """The kernel hands a freed /dev/pts/N to the next program that asks: while a simulated cable is pulled,
    `--port sim:NAME` is one clear error and the port's path (a link, like /dev/serial/by-id) does not exist, so
    a client reopening it cannot land on someone else's pty; once the cable is back, the same path works."""
    from pytool.ports import resolve_port

    link = resolve_port(port).url
    pty = os.path.realpath(link)
    arm(sim.control, "cut", after_s=0, down_s=3)
    deadline = time.monotonic() + WAIT_S
    while os.path.exists(pty) and time.monotonic() < deadline:
        time.sleep(0.02)
    grabbed = [os.openpty() for _ in range(3)]  # another program takes the freed pty numbers
    try:
        assert pty in {os.ttyname(slave) for _, slave in grabbed}  # the old number is in use again...
        with pytest.raises(serial.SerialException, match="No such file"):  # ...but not behind the board's path
            serial.Serial(link)
        code, captured = run_cli(capsys, ["--port", port, "ls"])
    finally:
        for fds in grabbed:
            for fd in fds:
                os.close(fd)
    lines = captured.err.strip().splitlines()
    assert code == 1
    assert lines == [
        f"Error: simulated board '{sim.name}' has no serial port: its USB cable is unplugged (a 'cut' fault) - "
        "wait until it is back (`pytool sim list` shows its port), then run again"
    ]
    wait_ready(sim.name, sim.control)
    assert resolve_port(port).url == link and os.path.realpath(link).startswith("/dev/pts/")
