"""The kernel half of the network guard: a seccomp filter that makes socket() fail for every family but
AF_UNIX, for the whole process, its C libraries' threads and every child it starts.

The audit hook in `reader.offline` only sees sockets made through Python; onnxruntime's own threads make
theirs in C (a telemetry host-name lookup some seconds after import), which only the kernel can refuse.
A seccomp filter cannot be removed and is inherited across fork and exec.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
import threading

# <linux/seccomp.h>, <linux/prctl.h>, <linux/audit.h>, <linux/filter.h>
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
_BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_BPF_RET_K = 0x06  # BPF_RET | BPF_K

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]. The socket family is an
# int, so the low 32 bits of args[0] are all that counts (little-endian on both supported arches).
_OFF_NR, _OFF_ARCH, _OFF_ARG0_LOW = 0, 4, 16

AF_UNIX = 1
X32_SYSCALL_BIT = 0x40000000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_ARM = 0x40000028


class _Abi:
    """One system-call table the filter must cover: socket and socketpair are checked by family,
    `refused` (io_uring_setup, i386's socketcall) always fail."""

    def __init__(self, arch: int, socket: int, socketpair: int, refused: dict[int, int]) -> None:
        self.arch, self.socket, self.socketpair, self.refused = arch, socket, socketpair, refused


# io_uring_setup is 425 on every table: IORING_OP_SOCKET would make sockets the filter never sees, so
# io_uring is refused with ENOSYS (callers then fall back to plain system calls). i386's socketcall(2)
# takes its arguments through a pointer the filter cannot read, so it is refused outright (EACCES).
_ABIS = {
    "x86_64": (_Abi(AUDIT_ARCH_X86_64, 41, 53, {425: errno.ENOSYS}),
               _Abi(AUDIT_ARCH_I386, 359, 360, {425: errno.ENOSYS, 102: errno.EACCES})),
    "aarch64": (_Abi(AUDIT_ARCH_AARCH64, 198, 199, {425: errno.ENOSYS}),
                _Abi(AUDIT_ARCH_ARM, 281, 288, {425: errno.ENOSYS})),
}
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def _machine() -> str:
    m = platform.machine().lower()
    return _MACHINE_ALIASES.get(m, m)


def build_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The BPF program as (code, jt, jf, k) rows. Raises KeyError for an architecture it does not know."""
    native, compat = _ABIS[machine]
    rows: list[tuple] = []  # jump targets are labels here, resolved to offsets below
    labels: dict[str, int] = {}

    def at(label: str) -> None:
        labels[label] = len(rows)

    def ret(value: int) -> None:
        rows.append((_BPF_RET_K, 0, 0, value))

    rows.append((_BPF_LD_W_ABS, 0, 0, _OFF_ARCH))
    rows.append((_BPF_JEQ_K, "native", 0, native.arch))
    rows.append((_BPF_JEQ_K, "compat", 0, compat.arch))
    ret(SECCOMP_RET_ERRNO | errno.ENOSYS)  # an ABI this filter was not written for does nothing at all
    for name, abi in (("native", native), ("compat", compat)):
        at(name)
        rows.append((_BPF_LD_W_ABS, 0, 0, _OFF_NR))
        if abi.arch == AUDIT_ARCH_X86_64:  # x32 calls share the arch value and differ by this bit
            rows.append((_BPF_JGE_K, f"errno{errno.ENOSYS}", 0, X32_SYSCALL_BIT))
        rows.append((_BPF_JEQ_K, "family", 0, abi.socket))
        rows.append((_BPF_JEQ_K, "family", 0, abi.socketpair))
        for nr, code in abi.refused.items():
            rows.append((_BPF_JEQ_K, f"errno{code}", 0, nr))
        ret(SECCOMP_RET_ALLOW)
    at("family")
    rows.append((_BPF_LD_W_ABS, 0, 0, _OFF_ARG0_LOW))
    rows.append((_BPF_JEQ_K, "allow", 0, AF_UNIX))
    ret(SECCOMP_RET_ERRNO | errno.EACCES)
    at("allow")
    ret(SECCOMP_RET_ALLOW)
    at(f"errno{errno.ENOSYS}")
    ret(SECCOMP_RET_ERRNO | errno.ENOSYS)
    at(f"errno{errno.EACCES}")
    ret(SECCOMP_RET_ERRNO | errno.EACCES)

    program = []
    for i, (code, jt, jf, k) in enumerate(rows):
        # A jump's offset counts from the next instruction.
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        program.append((code, jt, jf, k))
    return program


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_lock = threading.Lock()
_status: str | None = None


def install() -> str:
    """Install the filter once for the life of the process; returns kernel_guard_status(). Never raises:
    where the kernel cannot do it, the audit hook alone guards and the status says why."""
    global _status
    with _lock:
        if _status is None:
            _status = _install()
        return _status


def kernel_guard_status() -> str:
    """"seccomp" when the filter is on, "unavailable: <why>" when it could not be, "not installed" before."""
    return _status or "not installed"


def _install() -> str:
    machine = _machine()
    if machine not in _ABIS:
        return f"unavailable: no filter written for the {machine or 'unknown'} architecture"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError as exc:
        return f"unavailable: cannot load the C library ({exc})"
    rows = build_program(machine)
    blob = b"".join(struct.pack("=HBBI", *row) for row in rows)
    buf = ctypes.create_string_buffer(blob, len(blob))
    prog = _SockFprog(len(rows), ctypes.cast(buf, ctypes.c_void_p))
    # Without no_new_privs an unprivileged process may not install a filter (and a setuid child could
    # otherwise run under rules it did not expect).
    ul = ctypes.c_ulong
    if libc.prctl(PR_SET_NO_NEW_PRIVS, ul(1), ul(0), ul(0), ul(0)) != 0:
        return f"unavailable: prctl(PR_SET_NO_NEW_PRIVS) failed ({errno.errorcode.get(ctypes.get_errno())})"
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    rc = syscall(ctypes.c_long(_SYS_SECCOMP[machine]), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                 ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(prog))
    if rc == 0:
        return "seccomp"
    err = ctypes.get_errno()
    if rc > 0:  # TSYNC names a thread that could not take the filter; none was installed
        return f"unavailable: thread {rc} could not take the seccomp filter"
    if err == errno.ENOSYS and threading.active_count() == 1:
        # Kernels before 3.17 have no seccomp() call; prctl installs for this thread only, which is the
        # whole process while Python runs no other thread (C libraries have not been imported yet).
        if libc.prctl(PR_SET_SECCOMP, ul(SECCOMP_MODE_FILTER), ctypes.byref(prog), ul(0), ul(0)) == 0:
            return "seccomp"
        err = ctypes.get_errno()
    return f"unavailable: the kernel refused the seccomp filter ({errno.errorcode.get(err, err)})"
