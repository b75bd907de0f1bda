"""The bridge-rate switch (pytool/baud.py) never strands the board (issue 23).

On a simulated LoPy4 whose UART0 rate is modelled (pytool/sim/uart.py: bytes are garbage when host and board
disagree): a switch up and down works; a board whose host stops confirming goes back to the boot rate by itself; a
confirmation lost or garbled at the new rate leaves the host and the board at the boot rate and the next sync
works; a cable pulled mid-transfer at the high rate leaves every file old or new, the board back at the boot
rate, and the next sync completes."""

from __future__ import annotations

import time

import pytest
from support.faults import (
    ALLOWED,
    V1,
    V2,
    arm,
    board_state,
    clear,
    digest,
    failure_of,
    has_traceback,
    materialise,
    run_sync,
    time_limit,
    wait_ready,
)

from pytool import baud
from pytool.board import STRANDED_S, BoardSession
from pytool.sim import SimControl

pytestmark = time_limit(300)
FAST = 921600


def uart_baud(control: str) -> int:
    return SimControl(control).status()["uart_baud"]


def wait_for_boot_rate(control: str, within: float) -> float:
    """Seconds until the board's UART0 is back at the boot rate (AssertionError after `within`)."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if uart_baud(control) == baud.BOOT_BAUD:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"the board stayed at {uart_baud(control)} baud for {within} s")


def test_switch_up_and_down_moves_board_and_host(sim, port):
    with BoardSession.connect(port) as board:
        assert board.eval("1 + 1") == 2
        assert baud.switch_up(board, FAST)
        assert uart_baud(sim.control) == FAST
        assert board.wire.port.baudrate == FAST
        assert board.eval("'x' * 3000") == "x" * 3000  # (renews the lease)
        baud.switch_down(board)
        assert uart_baud(sim.control) == baud.BOOT_BAUD
        assert board.wire.port.baudrate == baud.BOOT_BAUD
        assert board.eval("2 + 2") == 4


def test_over_rfc2217_the_rate_change_goes_through_the_protocol(sim, port):
    from pytool.sim import registry

    url = registry.find(sim.name).rfc2217
    with BoardSession.connect(url) as board:
        assert baud.switch_up(board, FAST)  # pyserial sends SET_BAUDRATE; the simulated bridge honours it
        assert uart_baud(sim.control) == FAST
        assert board.eval("'y' * 2000") == "y" * 2000
        baud.switch_down(board)
        assert uart_baud(sim.control) == baud.BOOT_BAUD
        assert board.eval("7 * 6") == 42


def test_a_board_whose_host_stops_confirming_goes_back_by_itself(sim, port):
    with BoardSession.connect(port) as board:
        assert baud.switch_up(board, FAST)
        board.exec_prefix = ""  # the host vanishes: nothing renews the lease
        board.wire.port.baudrate = baud.BOOT_BAUD  # a host at the boot rate gets no sense out of it meanwhile
        assert not baud._confirm(board, FAST)
        waited = wait_for_boot_rate(sim.control, baud.LEASE_MS / 1000 + 5)
        assert waited > 0.5  # it was still at the new rate when the exec failed
    wait_ready(sim.name, sim.control)
    with BoardSession.connect(port) as board:
        assert board.eval("3 + 3") == 6


def test_the_next_session_waits_out_a_board_its_killed_host_left_at_the_new_rate(sim, port):
    assert STRANDED_S >= (baud.LEASE_MS + 2 * baud.TICK_MS) / 1000  # connect waits out the longest lease
    board = BoardSession.connect(port)
    assert baud.switch_up(board, FAST)
    board.eval("1")  # renews the lease: the board stays at the new rate for LEASE_MS from here
    board.close(exit_raw=False)  # the host dies: nothing sends the board back
    assert uart_baud(sim.control) == FAST
    with BoardSession.connect(port) as board:  # at the boot rate: no answer until the lease runs out, then one
        assert board.eval("5 + 5") == 10
    assert uart_baud(sim.control) == baud.BOOT_BAUD


@pytest.mark.parametrize(
    ("fault", "direction"),
    [("drop", "host"), ("flip", "board")],  # (garbled confirmations and lost answers: the same two paths)
    ids=["confirmation-lost", "answer-garbled"],
)
def test_a_confirmation_lost_or_garbled_at_the_new_rate_falls_back_to_the_boot_rate(
    sim, port, monkeypatch, tmp_path, fault, direction
):
    set_rate = baud._set_host_rate

    def then_break_the_line(board, rate):  # from the moment the host follows the board to the new rate
        set_rate(board, rate)
        if rate != baud.BOOT_BAUD:
            arm(sim.control, fault, rate=1.0 if fault == "drop" else 0.2, seed=3, direction=direction, repeat=True)
        else:
            clear(sim.control)

    monkeypatch.setattr(baud, "_set_host_rate", then_break_the_line)
    try:
        with BoardSession.connect(port) as board:
            assert not baud.switch_up(board, FAST)  # the host carries on at the boot rate ...
            assert board.wire.port.baudrate == baud.BOOT_BAUD
            assert uart_baud(sim.control) == baud.BOOT_BAUD  # ... and so does the board
            assert board.eval("5 + 5") == 10
    finally:
        clear(sim.control)
    monkeypatch.setattr(baud, "_set_host_rate", set_rate)
    monkeypatch.setenv(baud.FAST_ENV, str(FAST))
    project = materialise(tmp_path / "p", V1)
    run_sync(port, project)  # the next sync works (and switches)
    files, _, _ = board_state(port)
    assert {rel: files.get(rel) for rel in V1} == {rel: digest(data) for rel, data in V1.items()}


def test_a_cable_cut_mid_transfer_at_the_high_rate_leaves_old_or_new_files(sim, port, monkeypatch, tmp_path):
    monkeypatch.setenv(baud.FAST_ENV, str(FAST))
    v1, v2 = materialise(tmp_path / "v1", V1), materialise(tmp_path / "v2", V2)
    run_sync(port, v1)
    switched = []
    switch_up = baud.switch_up

    def switch_then_arm(board, rate):  # the cable goes 6000 bytes into the transfer at the high rate
        ok = switch_up(board, rate)
        switched.append(ok)
        arm(sim.control, "cut", after_bytes=6000, down_s=0.2)
        return ok

    monkeypatch.setattr(baud, "switch_up", switch_then_arm)
    message = failure_of(lambda: run_sync(port, v2))
    monkeypatch.setattr(baud, "switch_up", switch_up)
    assert switched == [True]
    assert message and not has_traceback(message)
    assert uart_baud(sim.control) == FAST  # cut while at the high rate ...
    wait_for_boot_rate(sim.control, baud.LEASE_MS / 1000 + 5)  # ... and back at the boot rate by itself
    clear(sim.control)
    wait_ready(sim.name, sim.control, interrupt=True)  # (the board still waits for the rest of the piece)
    files, manifest, _ = board_state(port)
    assert all(files.get(rel) in allowed for rel, allowed in ALLOWED.items())
    assert all(sha in ALLOWED[rel] for rel, sha in manifest.items())
    run_sync(port, v2)  # the next sync completes the job
    files, manifest, _ = board_state(port)
    assert {rel: files.get(rel) for rel in ALLOWED} == {rel: digest(V2[rel]) if rel in V2 else None for rel in ALLOWED}


def test_put_and_get_of_a_big_file_run_at_the_high_rate(sim, port, monkeypatch, tmp_path):
    from pytool import transfer

    monkeypatch.setenv(baud.FAST_ENV, str(FAST))
    data = bytes(range(256)) * 160  # 40 KB
    (tmp_path / "big.bin").write_bytes(data)
    (tmp_path / "back").mkdir()
    with BoardSession.connect(port) as board:
        transfer.put(board, tmp_path / "big.bin", "big.bin")
        assert board.rate_switch == "on"
        board.rate_switch = None
        transfer.get(board, "big.bin", tmp_path / "back")
        assert board.rate_switch == "on"
        assert uart_baud(sim.control) == baud.BOOT_BAUD  # and back afterwards
        assert board.eval("1 + 2") == 3
    assert (tmp_path / "back" / "big.bin").read_bytes() == data
