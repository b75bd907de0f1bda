"""FTP to a Pycom board reached over telnet: `pytool sync` and `put` move file bodies this way when it answers.

The FTP server is found on the telnet URL's host: port `&ftp=PORT` from the URL, else the one a simulated board
on 127.0.0.1 publishes in its registry record, else 21 (Pycom's). Passive mode only, as the board offers. The
link is optional: when it cannot be opened (no server, another client holds its only session) the caller falls
back to the REPL. Errors during a transfer become one PytoolError line; the password is never shown.
"""

from __future__ import annotations

import ftplib
import io
import logging
from urllib.parse import parse_qs, urlsplit

from pytool.errors import PytoolError
from pytool.transports import credentials, is_telnet, simulator_of
from pytool.transports.protocol_telnet import parse_url

log = logging.getLogger(__name__)

FTP_PORT = 21
CONNECT_TIMEOUT_S = 5.0
TRANSFER_TIMEOUT_S = 20.0
BLOCK = 8192


class FtpLink:
    """A logged-in FTP session with the board."""

    def __init__(self, ftp: ftplib.FTP, where: str) -> None:
        self.ftp = ftp
        self.where = where
        self.bytes_sent = 0

    def store(self, path: str, data: bytes) -> None:
        """Write `data` to the board file `path` (absolute, e.g. /flash/.pytool/tmp/0)."""
        try:
            self.ftp.storbinary(f"STOR {path}", io.BytesIO(data), blocksize=BLOCK)
        except (OSError, EOFError, ftplib.Error) as exc:
            raise PytoolError(
                f"the WiFi link to {self.where} dropped during an FTP upload ({type(exc).__name__}: {exc})",
                "every file on the board is old or new; run the sync again when the board is reachable",
            ) from exc
        self.bytes_sent += len(data)

    def close(self) -> None:
        try:
            self.ftp.quit()
        except (OSError, EOFError, ftplib.Error):
            self.ftp.close()


def ftp_address(url: str) -> tuple[str, int]:
    """(host, port) of the FTP server that belongs to the telnet URL `url`."""
    host = parse_url(url)[0]
    query = parse_qs(urlsplit(url).query)
    if query.get("ftp"):
        return host, int(query["ftp"][0])
    sim = simulator_of(url)
    if sim is not None:
        from pytool.sim import registry

        return host, int((registry.find(sim).wifi or {})["ftp"].rsplit(":", 1)[1])
    return host, FTP_PORT


def open_link(url: str | None) -> FtpLink | None:
    """An FTP link to the board behind a telnet:// port, or None (not telnet, or no FTP server answering)."""
    if not url or not is_telnet(url):
        return None
    try:
        host, port = ftp_address(url)
    except (PytoolError, ValueError):
        return None
    user, password = credentials(parse_url(url)[2])
    ftp = ftplib.FTP(timeout=CONNECT_TIMEOUT_S)
    try:
        ftp.connect(host, port, timeout=CONNECT_TIMEOUT_S)
        ftp.login(user, password)
    except (OSError, EOFError, ftplib.Error) as exc:
        log.debug("no FTP on %s:%d (%s): using the REPL", host, port, type(exc).__name__)
        ftp.close()
        return None
    ftp.sock.settimeout(TRANSFER_TIMEOUT_S)
    return FtpLink(ftp, f"{host}:{port}")


def upload(link: FtpLink, files: list, tmp_dir: str, result, progress=None) -> list[tuple[str, str, str]]:
    """STOR each of `files` (pytool.sync.LocalFile) to `tmp_dir`/N and return sync's `finished` list (temp path,
    project path, SHA-256): the board checks each hash and renames the files into place (pytool.sync._pt_fin),
    so an upload cut at any byte leaves every file old or new."""
    finished = []
    try:
        for index, local in enumerate(files):
            data = local.read()
            tmp = f"{tmp_dir}/{index}"
            link.store(tmp, data)
            finished.append((tmp, local.rel, local.sha256))
            result.uploaded.append(local.rel)
            result.payload_bytes += len(data)
            result.encoded_bytes += len(data)
            if progress:
                progress(len(data))
    finally:
        link.close()
    return finished
