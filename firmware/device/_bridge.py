# Device side of the host bridge (contract: pytool/sim/README.md, "The bridge").
#
# Device -> host calls: every thread gets its own AF_UNIX connection to the simulator (synchronous request /
# reply, so a call made from a callback never waits behind a call of the main thread).
# Host -> device events: one connection read by the IRQ thread, which runs the registered handlers one at a time,
# in order, also while the REPL is idle or main.py sleeps (Pycom's "IRQs" task, reference 4.7). An uncaught
# exception in a handler prints "Unhandled exception in callback handler" and kills the IRQ thread: later
# events get no reply until the next soft reset.
import json
import socket
import sys
import _thread

import _builtin

_path = None
_calls = {}  # thread id -> socket
_handlers = {}
_events = None
_irq_alive = False
_next_id = 0


def _enc(x):
    if isinstance(x, (bytes, bytearray, memoryview)):
        return {"$b": bytes(x).hex()}
    if isinstance(x, (list, tuple)):
        return [_enc(v) for v in x]
    if isinstance(x, dict):
        return {k: _enc(v) for k, v in x.items()}
    return x


def _dec(x):
    if isinstance(x, list):
        return [_dec(v) for v in x]
    if isinstance(x, dict):
        if len(x) == 1 and "$b" in x:
            return bytes.fromhex(x["$b"])
        return {k: _dec(v) for k, v in x.items()}
    return x


def _open(role):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # the unix port takes a raw struct sockaddr_un
    s.connect(socket.AF_UNIX.to_bytes(2, "little") + _path.encode() + b"\0")
    s.write(json.dumps({"hello": role}).encode() + b"\n")
    return s


def _exc_type(name):
    import builtins

    t = getattr(builtins, name, None)
    if isinstance(t, type) and issubclass(t, BaseException):
        return t
    return OSError


def call(service, method, *args):
    """Call `method` of the host service `service`; returns its result or raises its error."""
    global _next_id
    tid = _thread.get_ident()
    s = _calls.get(tid)
    if s is None:
        s = _calls[tid] = _open("calls")
    _next_id += 1
    n = _next_id
    s.write(json.dumps({"id": n, "call": [service, method, _enc(list(args))]}).encode() + b"\n")
    while True:  # a reply left unread by a call that a KeyboardInterrupt cut short is not ours: skip it
        line = s.readline()
        if not line:
            raise OSError("bridge closed")
        reply = json.loads(line)
        if reply.get("id") == n:
            break
    if "error" in reply:
        kind, message = reply["error"]
        raise _exc_type(kind)(message)
    return _dec(reply.get("result"))


def handle(service, fn):
    """Run `fn(name, payload) -> result` on the IRQ thread for every event the host sends to `service`."""
    _handlers[service] = fn


def irq_alive():
    return _irq_alive


def _irq_thread():
    global _irq_alive
    s = _events
    while True:
        line = s.readline()
        if not line:
            break
        msg = json.loads(line)
        if "bye" in msg:  # the interpreter is exiting (soft reset): leave before the process does
            break
        service, name, payload = msg["event"]
        fn = _handlers.get(service)
        if fn is None:
            reply = {"eid": msg["eid"], "error": ["RuntimeError", "no handler for service %s" % service]}
        else:
            try:
                reply = {"eid": msg["eid"], "result": _enc(fn(name, _dec(payload)))}
            except SystemExit:
                reply = {"eid": msg["eid"], "result": None}
            except BaseException as e:  # Pycom's mpirq.c: print and stop serving callbacks
                print("Unhandled exception in callback handler")
                _builtin.print_exception(e)
                break
        s.write(json.dumps(reply).encode() + b"\n")
    _irq_alive = False
    _done[0] = True


_done = [False]


def _atexit():
    # Threads blocked in a socket read while the unix port exits can abort the process ("FATAL: uncaught
    # NLR"): ask the host to release the IRQ thread, and wait a moment for it.
    import time

    if _irq_alive:
        try:
            call("runtime", "bye")
        except Exception:
            return
        for _ in range(200):
            if _done[0]:
                break
            time.sleep_ms(5)


def start(path):
    """Connect to the simulator (called once per boot by _boot.py, before boot.py runs)."""
    global _path, _events, _irq_alive
    _path = path
    _events = _open("events")
    _irq_alive = True
    _thread.start_new_thread(_irq_thread, ())
    sys.atexit(_atexit)
