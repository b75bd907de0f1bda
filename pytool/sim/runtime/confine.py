"""Operating-system confinement of the simulated board's interpreter process (the sandbox's outer layers).

Run as the interpreter's launcher, self-contained (stdlib only, so that start-up stays fast):

    python -I confine.py [--ro PATH]... [--rw PATH]... [--uid N --gid N] -- micropython ARGS...

It loads the MicroPython extension first (its files are read before anything is confined), then, in this order:
1. a new, empty network namespace where the kernel allows one (127.0.0.1 of the host is not reachable);
2. no core files, no file grown beyond 16 MB; an unprivileged user (`--uid/--gid`, when started as root), no
   supplementary groups, at most SANDBOX_NPROC threads of that user;
3. `no_new_privs` (no set-uid binary, no file capability can give privileges back);
4. Landlock: files can be opened only beneath the `--ro` paths (read) and the `--rw` paths (read and write);
   no TCP bind/connect; no abstract unix sockets and no signals outside the sandbox;
5. seccomp: no exec, no fork (threads only), no new socket (the bridge's are handed over), no executable memory
   (native code, viper: SIGSYS), no set*id, no ptrace / process_vm_* / mount / namespaces / bpf / io_uring /
   keyrings / module loading.
Then it runs the interpreter in this very process. A layer the kernel lacks is skipped; `probe()` tells the
supervisor which, so it can warn in one line.
"""

from __future__ import annotations

import ctypes
import os
import resource
import struct
import sys

_libc = ctypes.CDLL(None, use_errno=True)

# x86-64 syscall numbers (seccomp filters are per architecture; other machines get Landlock only)
SYS = {
    "landlock_create_ruleset": 444,
    "landlock_add_rule": 445,
    "landlock_restrict_self": 446,
    "seccomp": 317,
}
_DENY = {  # syscall -> errno
    "execve": 59,
    "execveat": 322,
    "fork": 57,
    "vfork": 58,
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "unshare": 272,
    "setns": 308,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "bpf": 321,
    "perf_event_open": 298,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "reboot": 169,
    "swapon": 167,
    "swapoff": 168,
    "personality": 135,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_by_handle_at": 304,
    "name_to_handle_at": 303,
    "memfd_create": 319,
    "setuid": 105,
    "setgid": 106,
    "setreuid": 113,
    "setregid": 114,
    "setresuid": 117,
    "setresgid": 119,
    "setgroups": 116,
    "capset": 126,
}
NR_SOCKET, NR_SOCKETPAIR, NR_CLONE, NR_CLONE3 = 41, 53, 56, 435
NR_MMAP, NR_MPROTECT, NR_PKEY_MPROTECT = 9, 10, 329
AUDIT_ARCH_X86_64 = 0xC000003E
PROT_EXEC = 4
CLONE_THREAD = 0x10000
EPERM, ENOSYS, EAFNOSUPPORT = 1, 38, 97

RET_KILL_PROCESS, RET_TRAP, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00030000, 0x00050000, 0x7FFF0000
LD_ABS_W, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06

# Landlock (linux/landlock.h)
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1, 2, 4, 8
FS_ALL = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | (1 << 14) | (1 << 15)  # + TRUNCATE, IOCTL_DEV
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1, 2
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000

#: uid/gid the interpreter runs as when the simulator is started as root ("nobody")
SANDBOX_UID = SANDBOX_GID = 65534
#: its processes and threads, all simulators together
SANDBOX_NPROC = 2048
#: the largest flash image of the catalogue (16 MB): no file grows beyond it
MAX_FILE_SIZE = 16 << 20


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none)."""
    if os.uname().machine != "x86_64":
        return 0
    r = _libc.syscall(SYS["landlock_create_ruleset"], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(r, 0)


def seccomp_supported() -> bool:
    """Seccomp filters on an architecture this module has a filter for."""
    if os.uname().machine != "x86_64":
        return False
    try:
        with open("/proc/self/status") as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False


def probe() -> list[str]:
    """One line per sandbox layer this kernel cannot provide (empty: all of them are there)."""
    missing = []
    if not seccomp_supported():
        missing.append("seccomp (no exec / socket / executable-memory filter)")
    abi = landlock_abi()
    if abi == 0:
        missing.append("Landlock (device code that escapes the interpreter can read the user's files)")
    elif abi < 4:
        missing.append(f"Landlock network rules (Landlock ABI {abi} < 4)")
    elif abi < 6:
        missing.append(f"Landlock scoping of signals and abstract sockets (Landlock ABI {abi} < 6)")
    return missing


# ---------------------------------------------------------------- seccomp
def _stmt(code: int, k: int) -> bytes:
    return struct.pack("HBBI", code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _arg_low(n: int) -> int:
    return 16 + 8 * n  # offsetof(struct seccomp_data, args[n]) (low 32 bits on little endian)


def seccomp_program() -> list[bytes]:
    """The BPF filter (list of sock_filter) described in the module docstring."""
    p: list[bytes] = [
        _stmt(LD_ABS_W, 4),  # arch
        _jump(JEQ, AUDIT_ARCH_X86_64, 1, 0),
        _stmt(RET, RET_KILL_PROCESS),
        _stmt(LD_ABS_W, 0),  # nr
        _jump(JGE, 0x40000000, 0, 1),  # x32 ABI: no
        _stmt(RET, RET_KILL_PROCESS),
    ]
    for nr in sorted(_DENY.values()):
        p += [_jump(JEQ, nr, 0, 1), _stmt(RET, RET_ERRNO | EPERM)]
    p += [_jump(JEQ, NR_CLONE3, 0, 1), _stmt(RET, RET_ERRNO | ENOSYS)]  # glibc falls back to clone()
    # every block below returns on both of its paths, so the accumulator need not hold `nr` afterwards
    p += [  # clone(): threads only (flags in args[0])
        _jump(JEQ, NR_CLONE, 0, 4),
        _stmt(LD_ABS_W, _arg_low(0)),
        _jump(JSET, CLONE_THREAD, 0, 1),
        _stmt(RET, RET_ALLOW),
        _stmt(RET, RET_ERRNO | EPERM),
    ]
    for nr in (NR_SOCKET, NR_SOCKETPAIR):  # no socket at all (the bridge's are handed over as descriptors)
        p += [_jump(JEQ, nr, 0, 1), _stmt(RET, RET_ERRNO | EAFNOSUPPORT)]
    # no PROT_EXEC (prot in args[2]): SIGSYS, which the supervisor reports as "native code cannot run" (the
    # interpreter would crash on a NULL pointer anyway: it does not check the mmap() it asks for native code)
    for nr in (NR_MMAP, NR_MPROTECT, NR_PKEY_MPROTECT):
        p += [
            _jump(JEQ, nr, 0, 4),
            _stmt(LD_ABS_W, _arg_low(2)),
            _jump(JSET, PROT_EXEC, 0, 1),
            _stmt(RET, RET_TRAP),
            _stmt(RET, RET_ALLOW),
        ]
    p.append(_stmt(RET, RET_ALLOW))
    return p


def apply_seccomp() -> None:
    prog = b"".join(seccomp_program())
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HxxxxxxQ", len(prog) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog)
    # SECCOMP_SET_MODE_FILTER with SECCOMP_FILTER_FLAG_TSYNC: every thread of the process
    if _libc.syscall(SYS["seccomp"], 1, 1, fbuf) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")


# ---------------------------------------------------------------- landlock
def apply_landlock(abi: int, ro: list[str], rw: list[str]) -> None:
    fs = FS_ALL[min(abi, 5)]
    if abi >= 6:
        attr = struct.pack("QQQ", fs, NET_BIND_TCP | NET_CONNECT_TCP, SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL)
    elif abi >= 4:
        attr = struct.pack("QQ", fs, NET_BIND_TCP | NET_CONNECT_TCP)
    else:
        attr = struct.pack("Q", fs)
    abuf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _libc.syscall(SYS["landlock_create_ruleset"], abuf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        for paths, rights in ((ro, FS_READ_FILE | FS_READ_DIR), (rw, FS_READ_FILE | FS_READ_DIR | FS_WRITE_FILE)):
            for path in paths:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    allowed = rights if os.path.isdir(path) else rights & FS_FILE_RIGHTS
                    rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed & fs, fd), 12)
                    if _libc.syscall(SYS["landlock_add_rule"], ruleset, 1, rule, 0) != 0:
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
                finally:
                    os.close(fd)
        if _libc.syscall(SYS["landlock_restrict_self"], ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)


# ---------------------------------------------------------------- for the supervisor (the parent)
_warned = False


def launcher_args(device: str | os.PathLike) -> list[str]:
    """This launcher's options for an interpreter that runs the firmware's modules in `device`: read-only
    access to them; nobody's uid when we are root (if the modules are readable by others). Warns once per
    process, in one line each, about every layer this kernel lacks."""
    import logging

    log = logging.getLogger("pytool.sim.runtime")
    global _warned
    if not _warned:
        _warned = True
        for missing in probe():
            log.warning("simulator sandbox: the kernel lacks %s", missing)
    device = os.fspath(device)
    args = ["--ro", device, "--ro", "/dev/urandom"]
    if os.geteuid() == 0:
        if readable_by_others(device):
            args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]
        else:
            log.warning("simulator sandbox: %s is not readable by others: the interpreter runs as root", device)
    return args


def readable_by_others(device: str) -> bool:
    """Whether another user can import the firmware's modules: every folder up to `device` searchable, `device`
    listable, its files readable."""
    try:
        path, folders = os.path.abspath(device), []
        while os.path.dirname(path) != path:
            path = os.path.dirname(path)
            folders.append(path)
        searchable = all(os.stat(p).st_mode & 0o001 for p in folders)
        files = all(os.stat(os.path.join(device, n)).st_mode & 0o004 for n in os.listdir(device))
        return searchable and os.stat(device).st_mode & 0o005 == 0o005 and files
    except OSError:
        return False


# ---------------------------------------------------------------- the launcher
def _parse(argv: list[str]) -> tuple[list[str], list[str], int | None, int | None, list[str]]:
    ro: list[str] = []
    rw: list[str] = []
    uid = gid = None
    i = 0
    while i < len(argv) and argv[i] != "--":
        opt, value = argv[i], argv[i + 1]
        if opt == "--ro":
            ro.append(value)
        elif opt == "--rw":
            rw.append(value)
        elif opt == "--uid":
            uid = int(value)
        elif opt == "--gid":
            gid = int(value)
        else:
            raise SystemExit(f"confine: unknown option {opt}")
        i += 2
    return ro, rw, uid, gid, argv[i + 1 :]


def confine(ro: list[str], rw: list[str], uid: int | None, gid: int | None) -> None:
    """Apply every layer the kernel supports to this process (see the module docstring)."""
    if os.uname().machine == "x86_64":
        flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWNET | CLONE_NEWUSER
        _libc.unshare(flags)  # best effort: seccomp and Landlock keep the network closed without it
    # no core files; no file grown beyond the flash image (the only file the process holds open for writing)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_SIZE, MAX_FILE_SIZE))
    if uid is not None and os.geteuid() == 0:
        gid = uid if gid is None else gid
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        # threads of the sandbox user, all simulators together (a thread bomb must not exhaust the host's pids)
        resource.setrlimit(resource.RLIMIT_NPROC, (SANDBOX_NPROC, SANDBOX_NPROC))
        os.setresuid(uid, uid, uid)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    abi, seccomp = landlock_abi(), seccomp_supported()  # (asked before Landlock closes /proc)
    if abi:
        apply_landlock(abi, ro, rw)
    if seccomp:
        apply_seccomp()


def main(argv: list[str]) -> int:
    ro, rw, uid, gid, rest = _parse(argv)
    import micropython_run  # loaded (with its shared libraries) before files are out of reach

    confine(ro, rw, uid, gid)
    return micropython_run.run_main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
