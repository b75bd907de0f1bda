"""The simulated Pycom FTP server (SIG esp32/ftp/ftp.c; reference round2-facts.md section 3).

Passive mode only, one control and one data client, replies `<code> <msg>\\r\\n`, the command set of ftp.c (others
502, anything but USER/PASS/QUIT before the login 332), `/` lists the mounted volumes. Files are read and written
by the board itself (`fs`: device operations over the bridge), so FTP sees exactly the /flash the REPL sees.
Known difference: the data port is a free port chosen by the simulator, not ftp.c's fixed 2024.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pytool.sim.wifi.one_client import OneClientServer, read_idle, reset_connection

DATA_TIMEOUT_S = 10.0  # ftp.c: FTP_DATA_TIMEOUT_MS
CHUNK = 4096  # bytes per device read/write
LINE_MAX = 512
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SIX_MONTHS_S = 180 * 24 * 3600
COMMANDS = frozenset(
    [
        "FEAT",
        "SYST",
        "CDUP",
        "CWD",
        "PWD",
        "XPWD",
        "SIZE",
        "MDTM",
        "TYPE",
        "USER",
        "PASS",
        "PASV",
        "LIST",
        "RETR",
        "STOR",
        "DELE",
        "RMD",
        "MKD",
        "RNFR",
        "RNTO",
        "NOOP",
        "QUIT",
    ]
)
NO_LOGIN_NEEDED = frozenset({"USER", "PASS", "QUIT"})

Fs = Callable[..., Awaitable[Any]]  # fs(op, *args) -> result; raises OSError


def list_line(name: str, is_dir: bool, size: int, mtime: float, now: float) -> str:
    """One LIST line as ftp.c prints it (time of day for recent files, the year for older ones)."""
    t = time.gmtime(max(mtime, 0))
    when = f"{t.tm_hour:02d}:{t.tm_min:02d}" if now - mtime < SIX_MONTHS_S else f"{t.tm_year:5d}"
    kind = "d" if is_dir else "-"
    return f"{kind}rw-rw-r--   1 root  root {size:9d} {MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {when} {name}\r\n"


class FtpSession:
    """One control connection."""

    def __init__(self, server: FtpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.cwd = "/"
        self.user_ok = False
        self.logged_in = False
        self.rename_from: str | None = None

    def reply(self, code: int, message: str = "") -> None:
        self.writer.write(f"{code} {message}\r\n".encode())

    def close(self, abort: bool = False) -> None:
        with contextlib.suppress(Exception):
            reset_connection(self.writer) if abort else self.writer.close()

    def path(self, arg: str) -> str:
        return posixpath.normpath(posixpath.join(self.cwd, arg or ".")).replace("//", "/")

    async def run(self) -> None:
        self.reply(220, "Micropython FTP Server")
        while True:
            try:
                line = await read_idle(self.reader.readline(), lambda: self.server.config.timeout_s)
            except (TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
                return
            if not line or self.server.config.received(len(line)):
                return
            text = line[:LINE_MAX].decode(errors="replace").rstrip("\r\n")
            cmd, _, arg = text.partition(" ")
            cmd = cmd.upper()
            if not self.logged_in and cmd not in NO_LOGIN_NEEDED:
                self.reply(332)
            elif cmd not in COMMANDS:
                self.reply(502)
            else:
                await getattr(self, "do_" + cmd)(arg)
                if cmd == "QUIT":
                    await self.writer.drain()
                    return
            await self.writer.drain()

    # ------------------------------------------------------------------ session
    async def do_USER(self, arg: str) -> None:
        self.user_ok = arg == self.server.config.user
        self.logged_in = False
        self.reply(331)

    async def do_PASS(self, arg: str) -> None:
        self.logged_in = self.user_ok and arg == self.server.config.password
        self.reply(230 if self.logged_in else 530)

    async def do_QUIT(self, arg: str) -> None:
        self.reply(221)

    async def do_NOOP(self, arg: str) -> None:
        self.reply(200)

    async def do_TYPE(self, arg: str) -> None:
        self.reply(200)

    async def do_FEAT(self, arg: str) -> None:
        self.reply(211, "no-features")

    async def do_SYST(self, arg: str) -> None:
        self.reply(215, "UNIX Type: L8")

    async def do_PASV(self, arg: str) -> None:
        port = self.server.data_port()
        self.reply(227, f"(127,0,0,1,{port >> 8},{port & 0xFF})")

    # ------------------------------------------------------------------ folders
    async def _is_dir(self, path: str) -> bool:
        if path == "/":
            return True
        with contextlib.suppress(OSError):
            return bool((await self.server.fs("stat", path))[0])
        return False

    async def do_PWD(self, arg: str) -> None:
        self.reply(257, self.cwd)

    do_XPWD = do_PWD

    async def do_CWD(self, arg: str) -> None:
        path = self.path(arg)
        if await self._is_dir(path):
            self.cwd = path
            self.reply(250)
        else:
            self.reply(550)

    async def do_CDUP(self, arg: str) -> None:
        self.cwd = posixpath.dirname(self.cwd.rstrip("/")) or "/"
        self.reply(250)

    async def _simple(self, op: str, arg: str, ok: int = 250) -> None:
        try:
            await self.server.fs(op, self.path(arg))
            self.reply(ok)
        except OSError:
            self.reply(550)

    async def do_DELE(self, arg: str) -> None:
        await self._simple("remove", arg)

    async def do_RMD(self, arg: str) -> None:
        await self._simple("rmdir", arg)

    async def do_MKD(self, arg: str) -> None:
        await self._simple("mkdir", arg)

    async def do_RNFR(self, arg: str) -> None:
        path = self.path(arg)
        try:
            await self.server.fs("stat", path)
        except OSError:
            self.rename_from = None
            self.reply(550)
            return
        self.rename_from = path
        self.reply(350)

    async def do_RNTO(self, arg: str) -> None:
        source, self.rename_from = self.rename_from, None
        try:
            if source is None:
                raise OSError("RNTO without RNFR")
            await self.server.fs("rename", source, self.path(arg))
            self.reply(250)
        except OSError:
            self.reply(550)

    async def do_SIZE(self, arg: str) -> None:
        try:
            is_dir, size, _ = await self.server.fs("stat", self.path(arg))
            self.reply(213, str(size)) if not is_dir else self.reply(550)
        except OSError:
            self.reply(550)

    async def do_MDTM(self, arg: str) -> None:
        try:
            mtime = (await self.server.fs("stat", self.path(arg)))[2]
        except OSError:
            self.reply(550)
            return
        self.reply(213, time.strftime("%Y%m%d%H%M%S", time.gmtime(max(mtime, 0))))

    # ------------------------------------------------------------------ transfers
    async def _data(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The data connection (opened after PASV), waited for up to ftp.c's data timeout: 150 sent; None: 425 sent."""
        conn = await self.server.take_data(DATA_TIMEOUT_S)
        self.reply(425 if conn is None else 150)
        return conn

    async def do_LIST(self, arg: str) -> None:
        arg = " ".join(a for a in arg.split() if not a.startswith("-"))  # "LIST -la" from some clients
        path = self.path(arg)
        now = time.time()
        try:
            if path == "/":
                entries = [[name, True, 0, 0] for name in await self.server.fs("volumes")]
            elif await self._is_dir(path):
                entries = await self.server.fs("ls", path)
            else:
                entries = [[posixpath.basename(path), *await self.server.fs("stat", path)]]
        except OSError:
            self.reply(550)
            return
        conn = await self._data()
        if conn is None:
            return
        body = "".join(list_line(name, is_dir, size, mtime, now) for name, is_dir, size, mtime in entries)
        await self._finish(conn, body.encode())

    async def do_RETR(self, arg: str) -> None:
        path = self.path(arg)
        try:
            is_dir = (await self.server.fs("stat", path))[0]
        except OSError:
            is_dir = True
        if is_dir:
            self.reply(550)
            return
        conn = await self._data()
        if conn is None:
            return
        _, writer = conn
        try:
            offset = 0
            while True:
                chunk = await self.server.fs("read", path, offset, CHUNK)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()
                offset += len(chunk)
        except (OSError, ConnectionError):
            self.server.drop_data(conn)
            self.reply(451)
            return
        await self._finish(conn, b"")

    async def do_STOR(self, arg: str) -> None:
        path = self.path(arg)
        if path.count("/") < 2:  # nothing can be stored in "/" itself (only volumes live there)
            self.reply(550)
            return
        conn = await self._data()
        if conn is None:
            return
        reader, _ = conn
        offset = 0
        try:
            while True:
                chunk = await asyncio.wait_for(reader.read(CHUNK), DATA_TIMEOUT_S)
                if self.server.config.received(len(chunk)):
                    raise ConnectionError("link dropped")
                if not chunk and offset:
                    break
                await self.server.fs("write", path, offset, chunk)
                offset += len(chunk)
                if not chunk:
                    break
        except (OSError, ConnectionError, TimeoutError):
            self.server.drop_data(conn)
            self.reply(451)
            return
        await self._finish(conn, b"")

    async def _finish(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], body: bytes) -> None:
        _, writer = conn
        try:
            if body:
                writer.write(body)
            await writer.drain()
        except ConnectionError:
            pass
        self.server.drop_data(conn)
        self.reply(226)


class FtpServer(OneClientServer):
    """Pycom's FTP server: control connections on one port, passive data connections on another."""

    label = "ftp"
    session: FtpSession | None

    def __init__(self, config: Any, fs: Fs, data_port: Callable[[], int]) -> None:
        super().__init__()
        self.config = config  # the WifiService: login, timeout
        self.fs = fs
        self.data_port = data_port
        self._data: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._data_ready = asyncio.Event()

    def new_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> FtpSession:
        return FtpSession(self, reader, writer)

    def session_ended(self) -> None:
        if self._data is not None:
            self.drop_data(self._data)

    async def handle_data(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A passive data connection: one at a time, only while a control client is logged in."""
        if self._data is not None or self.session is None or not self.session.logged_in:
            reset_connection(writer)
            return
        self._data = (reader, writer)
        self._data_ready.set()

    async def take_data(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._data_ready.wait(), timeout)
        return self._data

    def drop_data(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        with contextlib.suppress(Exception):
            conn[1].close()
        if self._data is conn:
            self._data = None
            self._data_ready.clear()

    def close_sessions(self, abort: bool = False) -> None:
        if self._data is not None:
            if abort:
                with contextlib.suppress(Exception):
                    reset_connection(self._data[1])
            self.drop_data(self._data)
        super().close_sessions(abort)
