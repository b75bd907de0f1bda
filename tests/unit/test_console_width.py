"""Output that goes to a pipe is not cut or folded at rich's default 80 columns (`pytool sim list | grep ...`)."""

from __future__ import annotations

import os
import subprocess
import sys

from pytool.sim import registry


def test_sim_list_rows_stay_whole_when_piped():
    long_pty = "/dev/serial/by-id/usb-pytool-simulated-board-with-a-rather-long-name-if00-port0"
    for name in ("first-simulated-board", "second-simulated-board"):
        registry.register(
            registry.SimRecord(
                name=name,
                board="lopy4",
                pid=os.getpid(),
                pty=long_pty,
                rfc2217="rfc2217://127.0.0.1:45678",
                hci="tcp-client:127.0.0.1:45679",
            )
        )
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    listing = subprocess.run(
        [sys.executable, "-m", "pytool", "sim", "list"], capture_output=True, text=True, env=env, check=True
    ).stdout
    rows = [line for line in listing.splitlines() if line.strip()]
    assert len(rows) == 3, listing  # the header and one line per board
    for row in rows[1:]:
        assert long_pty in row and "rfc2217://127.0.0.1:45678" in row and "tcp-client:127.0.0.1:45679" in row
        assert len(row) > 80
