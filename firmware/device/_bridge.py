# Device side of the host bridge (contract: pytool/sim/README.md, "The bridge").
#
# Device -> host calls: every thread gets its own connection to the simulator (synchronous request / reply, so
# a call made from a callback never waits behind a call of the main thread); threads beyond the supervisor's
# pool share its last connection.
# Host -> device events: one connection read by the IRQ thread, which runs the registered handlers one at a time,
# in order, also while the REPL is idle or main.py sleeps (Pycom's "IRQs" task, reference 4.7). An uncaught
# exception in a handler prints "Unhandled exception in callback handler" and kills the IRQ thread: later
# events get no reply until the next soft reset.
import json
import sys
import _thread

import _builtin

# The connections are file descriptors the supervisor hands over (socketpairs: the interpreter opens no socket
# of its own). They live only in the closures made by start(), out of reach of device code.
_handlers = {}
_irq = [False, False]  # IRQ thread alive, IRQ thread done
_call = None


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


def _exc_type(name):
    import builtins

    t = getattr(builtins, name, None)
    if isinstance(t, type) and issubclass(t, BaseException):
        return t
    return OSError


def call(service, method, *args):
    """Call `method` of the host service `service`; returns its result or raises its error."""
    if _call is None:
        raise OSError("bridge closed")
    return _call(service, method, args)


def handle(service, fn):
    """Run `fn(name, payload) -> result` on the IRQ thread for every event the host sends to `service`."""
    _handlers[service] = fn


def irq_alive():
    return _irq[0]


def _irq_thread(s):
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
    _irq[0] = False
    _irq[1] = True


def _atexit():
    # Threads blocked in a read while the unix port exits can abort the process ("FATAL: uncaught NLR"): ask
    # the host to release the IRQ thread, and wait a moment for it.
    import time

    if _irq[0]:
        try:
            call("runtime", "bye")
        except Exception:
            return
        for _ in range(200):
            if _irq[1]:
                break
            time.sleep_ms(5)


def start(fds):
    """Connect to the simulator (called once per boot by _boot.py, before boot.py runs): `fds` = the events
    connection, then the calls connections (one per thread; the last one is shared once they are used up)."""
    global _call
    if _call is not None:
        raise OSError("bridge already started")
    files = [open(fd, "r+b") for fd in fds]
    events, pool = files[0], files[1:]
    per_thread = {}
    shared_lock = _thread.allocate_lock()
    counter = [0]
    shared_hello = [False]

    def _hello(f, role):
        f.write(json.dumps({"hello": role}).encode() + b"\n")
        return f

    def _call_impl(service, method, args):
        tid = _thread.get_ident()
        s = per_thread.get(tid)
        shared = False
        if s is None:
            if len(pool) > 1:
                s = per_thread[tid] = _hello(pool.pop(0), "calls")
            else:
                shared = True
                s = pool[0]
        if shared:
            shared_lock.acquire()
            if not shared_hello[0]:
                _hello(s, "calls")
                shared_hello[0] = True
        try:
            counter[0] += 1
            n = counter[0]
            s.write(json.dumps({"id": n, "call": [service, method, _enc(list(args))]}).encode() + b"\n")
            line = s.readline()
        finally:
            if shared:
                shared_lock.release()
        if not line:
            raise OSError("bridge closed")
        reply = json.loads(line)
        if "error" in reply:
            kind, message = reply["error"]
            raise _exc_type(kind)(message)
        return _dec(reply.get("result"))

    _call = _call_impl
    _hello(events, "events")
    _irq[0] = True
    _thread.start_new_thread(_irq_thread, (events,))
    sys.atexit(_atexit)
