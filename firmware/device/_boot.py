# Boot of the simulated firmware (SIG esp32/mptask.c TASK_Micropython), run by the simulator's supervisor as
# `micropython -i _boot.py CONFIG`: bridge up, /flash mounted, Pycom modules installed, sys.path =
# ['', '/flash', '/flash/lib'], cwd /flash, boot.py, main.py (friendly REPL only), then the REPL.
# Only names of user code stay in the REPL's globals, as on the board.


def _install(cfg):
    import sys
    import gc

    import _bridge
    import _sandbox

    _bridge.start(cfg["bridge"])

    import _builtin
    import _flash
    import os

    os._cfg = cfg
    sys.modules["uos"] = os

    import _micropython

    sys.modules["micropython"] = _micropython

    # The rest of the simulated firmware, loaded now: once the host filesystem is gone nothing can be
    # imported from it any more.
    import machine
    import pycom

    machine._cfg = cfg
    pycom._cfg = cfg
    sys.modules["umachine"] = machine
    # "uhashlib" would resolve to the interpreter's hashlib before any file: install Pycom's under both names
    import _uhashlib

    sys.modules["uhashlib"] = sys.modules["hashlib"] = _uhashlib
    # stock MicroPython's `bluetooth` (NimBLE) only on the stock flavour (not loaded, the host files are gone after boot)
    stock_only = ("bluetooth", "ubluetooth") if cfg.get("flavour") == "pycom" else ()
    for name in sorted(cfg["preload"]):
        if name not in sys.modules and name not in stock_only:
            gc.collect()  # compiling a module needs a transient peak: give it the whole free heap
            try:
                __import__(name)
            except Exception as e:
                print("simulated firmware: cannot load %s: %r" % (name, e))

    if cfg.get("flavour") != "pycom":  # stock MicroPython's network (WLAN, LAN, ...), not Pycom's
        import _network_stock

        _network_stock._cfg = cfg
        _network_stock.__name__ = "network"
        sys.modules["network"] = _network_stock
    if "bluetooth" in sys.modules:
        sys.modules["ubluetooth"] = sys.modules["bluetooth"]
    _uhashlib.__name__ = "uhashlib"
    here = _builtin._HERE
    for mod in list(sys.modules.values()):  # no host paths in module reprs
        if getattr(mod, "__file__", "").startswith(here):
            del mod.__file__

    if cfg.get("grammar") == "1.11":
        import _grammar  # (only where it is used: its code takes heap)
    import _help
    import _sys

    _help.install()  # help(micropython): the firmware's table order

    board_sys = _sys.setup(cfg)  # the firmware's sys.implementation/version/platform, not the host's
    _flash.mount(cfg)  # from here on the host filesystem is unreachable

    sys.path[:] = ["", "/flash", "/flash/lib"] if cfg["flavour"] == "pycom" else ["", ".frozen", "/lib"]
    sys.modules["sys"] = board_sys
    if cfg["flavour"] != "pycom":  # stock MicroPython: no pycom module, usys is sys, micropython.RingIO (1.23)
        sys.modules["usys"] = board_sys
        del sys.modules["pycom"]
        _micropython.RingIO = _builtin.load("micropython").RingIO
    sys.argv[:] = []
    board_os = sys.modules["os"]
    print_exception = _builtin.print_exception
    guarded_import = _sandbox.seal()  # no host module or function reachable from here on
    if cfg.get("grammar") == "1.11":  # Pycom 1.20.x: MicroPython 1.11's parser for exec/eval/compile/import
        _grammar.install(board_os, sys.modules, guarded_import)
    gc.collect()
    return print_exception


def _hide_host():
    # a failed start-up must not leave the host's filesystem mounted at / for device code
    import sys

    try:
        (sys.modules.get("_builtin") or __import__("_builtin")).load("os").umount("/")
    except Exception:
        pass
    try:
        (sys.modules.get("_sandbox") or __import__("_sandbox")).seal()
    except Exception:
        pass


def _run(name, g, print_exception):
    import sys

    # pyexec_file(): a missing file is skipped; an exception prints its traceback; SystemExit = soft reset
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return
    try:
        exec(compile(src, name, "exec"), g)
    except SystemExit:
        raise
    except BaseException as e:
        print_exception(e)


def _ctrl_c_off(micropython):
    # Ctrl-C off again for the firmware's own code. The unix port raises KeyboardInterrupt from its signal handler
    # wherever Python is (a host Ctrl-C that came after main.py ended, the second of a pair, lands here): until
    # the handler is gone, an interrupt is taken and the switch retried, so none reaches the code that follows
    # (which tells the supervisor that the REPL comes next; on the board that code is C and cannot be
    # interrupted). The pairs of try cover an interrupt landing in an except clause.
    for _ in range(4):
        try:
            try:
                micropython.kbd_intr(-1)
                return
            except KeyboardInterrupt:
                pass
        except KeyboardInterrupt:
            pass


def _boot():
    import sys
    import json
    import micropython

    ctrl_c_off = _ctrl_c_off
    # the firmware's own code is C on the board: no Ctrl-C lands in it (only in boot.py and main.py)
    micropython.kbd_intr(-1)

    arg = sys.argv[1]  # the config file, or its file descriptor (a confined interpreter cannot open it)
    with open(int(arg) if arg.isdigit() else arg) as f:
        cfg = json.load(f)
    g = globals()
    mark = "\x1b[pytool:" + cfg["token"]  # markers for the supervisor
    try:
        try:
            print_exception = _install(cfg)
            ok = True
        except BaseException as e:  # a bug of the simulated firmware (or a stray interrupt): say so, still a REPL
            print("simulated firmware: boot failed:")
            sys.print_exception(e)
            ok = False
            _hide_host()
        # tells the supervisor that the firmware's own start-up is over: the host's bytes (a Ctrl-C among
        # them) reach the interpreter only from here on, as a real board's UART input reaches its Python code
        # only once the C start-up (which mounts /flash) is done
        sys.stdout.write(mark + ":up]")
        for name in ("__file__", "_install", "_hide_host", "_ctrl_c_off"):
            g.pop(name, None)
        if ok and not cfg["safe_boot"]:
            try:
                try:
                    micropython.kbd_intr(3)
                    _run("boot.py", g, print_exception)
                    if cfg["run_main"]:
                        _run("main.py", g, print_exception)
                finally:
                    ctrl_c_off(micropython)
            except KeyboardInterrupt:  # between the scripts: as good as inside them
                pass
            ctrl_c_off(micropython)  # (again: an interrupt may have cut the first one short)
    finally:
        g.pop("_run", None)
        import gc

        gc.collect()
        # tells the supervisor that the REPL comes next (it replaces the interpreter's banner)
        sys.stdout.write(mark + "]")

_boot()
del _boot
