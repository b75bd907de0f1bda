"""The host bridge: device calls into host services, host events on the device's IRQ thread, machine.Timer."""

from __future__ import annotations

import time

import pytest
from mpremote.transport import TransportExecError

from pytool.sim.runtime import BridgeConnection


class EchoService:
    """A host service for tests: echoes calls, records the connection and the lifecycle."""

    name = "echo"

    def __init__(self) -> None:
        self.conn: BridgeConnection | None = None
        self.stopped: list[bool] = []

    async def call(self, method: str, args: list, conn: BridgeConnection):
        if method == "fail":
            raise ValueError("bad value from host")
        return {"method": method, "args": args}

    def interpreter_started(self, conn: BridgeConnection) -> None:
        self.conn = conn

    def interpreter_stopped(self, hard: bool) -> None:
        self.stopped.append(hard)


@pytest.fixture(scope="module")
def echo(lopy4):
    service = EchoService()
    lopy4.services["echo"] = service  # the runtime reads ctx.services on every call
    return service


def event(board, service, name, payload, timeout=10.0):
    async def send():
        return await service.conn.event("echo", name, payload, timeout)

    return board.call(send)


def test_device_call_reaches_host_service_with_bytes(lopy4, echo, raw):
    out = raw.eval("__import__('_bridge').call('echo', 'hello', b'\\x00\\xff', [1, 'two'])")
    assert out == {"method": "hello", "args": [b"\x00\xff", [1, "two"]]}


def test_host_error_is_raised_on_the_device_as_its_type(lopy4, echo, raw):
    out = raw.exec("import _bridge\ntry:\n _bridge.call('echo', 'fail')\nexcept ValueError as e:\n print('VE', e)")
    assert out.strip() == b"VE bad value from host"


def test_events_run_while_the_repl_is_idle_and_return_results(lopy4, echo, raw):
    raw.exec(
        "import _bridge\nseen = []\n"
        "def h(name, payload):\n seen.append((name, payload))\n return bytes(reversed(payload))\n"
    )
    raw.exec("_bridge.handle('echo', h)")
    # nothing runs on the main thread now: the raw REPL waits for input
    assert event(lopy4, echo, "ping", b"\x01\x02\x03") == b"\x03\x02\x01"
    assert event(lopy4, echo, "ping", b"ab") == b"ba"
    assert raw.eval("seen") == [("ping", b"\x01\x02\x03"), ("ping", b"ab")]


def test_events_run_while_main_code_sleeps(lopy4, echo, raw):
    raw.exec("import _bridge, time\nhits = []\n_bridge.handle('echo', lambda n, p: hits.append(p) or len(hits))")
    raw.exec_raw_no_follow("time.sleep(3)\nprint('woke', len(hits))")
    assert event(lopy4, echo, "tick", 1) == 1
    assert event(lopy4, echo, "tick", 2) == 2
    out, _err = raw.follow(15)
    assert out.strip() == b"woke 2"


def test_unhandled_exception_kills_callbacks_until_soft_reset(lopy4, echo, raw):
    raw.exec("import _bridge\n_bridge.handle('echo', lambda n, p: 1 // p)")
    assert event(lopy4, echo, "div", 1) == 1
    before = len(lopy4.output)
    with pytest.raises(TimeoutError):
        event(lopy4, echo, "div", 0, timeout=3)
    deadline = time.monotonic() + 10
    while b"ZeroDivisionError" not in lopy4.output[before:] and time.monotonic() < deadline:
        time.sleep(0.05)
    text = bytes(lopy4.output[before:])
    # the traceback came after the raw REPL's prompt: drop it and ask for a fresh prompt (Ctrl-A)
    raw.serial.reset_input_buffer()
    raw.serial.write(b"\x01")
    assert b"Unhandled exception in callback handler\r\n" in text
    assert b"ZeroDivisionError" in text
    with pytest.raises(TimeoutError):  # the IRQ thread is gone: later events are lost
        event(lopy4, echo, "div", 1, timeout=2)
    assert raw.eval("_bridge.irq_alive()") is False
    # a soft reset brings callbacks back (new interpreter, new IRQ thread)
    raw.exit_raw_repl()
    raw.enter_raw_repl(soft_reset=True)
    raw.exec("import _bridge\n_bridge.handle('echo', lambda n, p: p + 1)")
    assert event(lopy4, echo, "inc", 41) == 42
    assert False in echo.stopped  # services saw the soft reboot (hard=False)


def test_timer_alarm_callbacks_run_on_the_irq_thread(lopy4, raw):
    raw.exec(
        "import machine, time\nn = [0]\n"
        "def tick(al):\n n[0] += 1\n"
        "a = machine.Timer.Alarm(tick, ms=20, periodic=True)\n"
        "t = time.ticks_ms()\n"
        "while n[0] < 3 and time.ticks_diff(time.ticks_ms(), t) < 20000:\n time.sleep_ms(10)\n"
        "a.cancel()\n"
    )
    assert raw.eval("n[0]") >= 3
    raw.exec("once = []\nb = machine.Timer.Alarm(lambda al: once.append(al is b), s=0.05)")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and raw.eval("len(once)") == 0:
        time.sleep(0.05)
    assert raw.eval("once") == [True]


def test_event_without_device_handler_is_an_error(lopy4, echo, raw):
    from pytool.sim.runtime import BridgeError

    with pytest.raises(BridgeError, match="no handler"):
        event(lopy4, echo, "x", None)


def test_unknown_service_call_raises_oserror_on_device(raw):
    with pytest.raises(TransportExecError, match="OSError"):
        raw.exec("import _bridge\n_bridge.call('nope', 'x')")
