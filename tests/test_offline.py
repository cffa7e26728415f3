"""The network guard refuses every socket but AF_UNIX, and a full CLI session opens none."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def _run(code: str, tmp_path, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT, input=input,
        env={"READER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, timeout=120,
    )


def test_connect_attempt_is_refused(tmp_path):
    result = _run(
        """
        import socket
        from reader import offline
        from reader.errors import NetworkRefused
        offline.install()
        outcomes = []
        for attempt in (lambda: socket.create_connection(("127.0.0.1", 9)),
                        lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                        lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM),
                        lambda: socket.getaddrinfo("example.org", 443)):
            try:
                attempt()
                outcomes.append("allowed")
            except NetworkRefused as exc:
                outcomes.append("refused: " + str(exc))
        a, b = socket.socketpair()  # local Unix sockets stay allowed (asyncio needs them)
        outcomes.append("unix " + a.family.name)
        print("\\n".join(outcomes))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("refused: ") for line in lines[:4]), lines
    assert "never uses the network" in lines[0]
    assert lines[4] == "unix AF_UNIX"


def test_full_cli_session_opens_no_socket(tmp_path):
    """An audit hook installed before the app records every socket; a whole session must open none."""
    doc = tmp_path / "letter.md"
    doc.write_text("# Hello\n\nDr. Smith paid $3.50 on 2026-11-28. 我喜欢Python。\n", encoding="utf-8")
    result = _run(
        f"""
        import json, sys
        seen = []
        def spy(event, args):
            if event == "socket.__new__":
                seen.append(("socket", int(args[1])))
            elif event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
                seen.append((event, repr(args[1] if event == "socket.connect" else args[0])))
        sys.addaudithook(spy)
        from reader.cli import main
        codes = [main(["sentences", {str(doc)!r}, "--spoken", "--json"]),
                 main(["extract", {str(doc)!r}, "--json"]),
                 main(["dict", "add", "Anna", "Ah-na"]),
                 main(["dict", "list"])]
        import socket
        print(json.dumps({{"codes": codes, "seen": [s for s in seen if s != ("socket", int(socket.AF_UNIX))]}}),
              file=sys.stderr)
        """,
        tmp_path,
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["codes"] == [0, 0, 0, 0], result.stderr
    assert report["seen"] == []


def test_every_entry_point_installs_the_guard(tmp_path):
    result = _run(
        """
        from reader import offline
        from reader.cli import main
        main(["dict", "list"])
        print(offline.is_installed())
        """,
        tmp_path,
    )
    assert result.stdout.strip().splitlines()[-1] == "True", result.stderr


# --- the kernel filter (reader.kernel_guard) --------------------------------------------------------
# Every filter is installed in a child process: a seccomp filter cannot be removed, and pytest's own
# process must keep its network.

import errno  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402

import pytest  # noqa: E402

from reader import kernel_guard  # noqa: E402  (importing it installs nothing)


def _kernel_has_seccomp() -> bool:
    with open("/proc/self/status") as f:
        return any(line.startswith("Seccomp:") for line in f)


needs_seccomp = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "aarch64") or not _kernel_has_seccomp(),
    reason="the seccomp filter is written for x86_64 and aarch64 Linux kernels with seccomp",
)

# Makes sockets straight through libc, so only the kernel can refuse them (the audit hook never sees C).
_C_SOCKETS = """
import ctypes, errno, json, socket
libc = ctypes.CDLL(None, use_errno=True)
def attempt(family, kind):
    fd = libc.socket(family, kind, 0)
    return "ok" if fd >= 0 else errno.errorcode[ctypes.get_errno()]
def report():
    pair = (ctypes.c_int * 2)()
    libc.syscall.restype = ctypes.c_long
    params = ctypes.create_string_buffer(120)  # struct io_uring_params
    unix_pair = libc.socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0, pair)
    inet_pair = libc.socketpair(socket.AF_INET, socket.SOCK_STREAM, 0, pair)
    inet_pair_errno = errno.errorcode.get(ctypes.get_errno())
    ring = libc.syscall(ctypes.c_long(425), ctypes.c_long(4), params)
    ring = "ok" if ring >= 0 else errno.errorcode[ctypes.get_errno()]
    return {"AF_INET": attempt(socket.AF_INET, socket.SOCK_DGRAM),
            "AF_INET6": attempt(socket.AF_INET6, socket.SOCK_STREAM),
            "AF_PACKET": attempt(socket.AF_PACKET, socket.SOCK_DGRAM),
            "AF_NETLINK": attempt(socket.AF_NETLINK, socket.SOCK_RAW),
            "AF_UNIX": attempt(socket.AF_UNIX, socket.SOCK_STREAM),
            "socketpair AF_UNIX": "ok" if unix_pair == 0 else "failed",
            "socketpair AF_INET": "ok" if inet_pair == 0 else inet_pair_errno,
            "io_uring_setup": ring}
"""

_REFUSED = {"AF_INET": "EACCES", "AF_INET6": "EACCES", "AF_PACKET": "EACCES", "AF_NETLINK": "EACCES",
            "AF_UNIX": "ok", "socketpair AF_UNIX": "ok", "socketpair AF_INET": "EACCES",
            "io_uring_setup": "ENOSYS"}


def test_without_the_filter_c_sockets_are_made(tmp_path):
    """The control for the test below: the same C calls succeed in a process without the filter."""
    result = _run(_C_SOCKETS + "print(json.dumps(report()))", tmp_path)
    seen = json.loads(result.stdout)
    assert seen["AF_INET"] == "ok" and seen["AF_INET6"] == "ok", seen


@needs_seccomp
def test_kernel_refuses_network_sockets_made_in_c(tmp_path):
    """Made by ctypes in the guarded process, in a thread that was already running when the filter went
    on (TSYNC), and in a child process started after it: every one but AF_UNIX is refused by the kernel."""
    child_code = _C_SOCKETS + "print(json.dumps(report()))"
    result = _run(
        f"CHILD = {child_code!r}\n" + _C_SOCKETS + """
import subprocess, sys, threading
go, seen = threading.Event(), {}
early = threading.Thread(target=lambda: go.wait() and seen.update(report()))
early.start()
from reader import kernel_guard
status = kernel_guard.install()
go.set(); early.join()
child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True)
print(json.dumps({"status": status, "main": report(), "early thread": seen,
                  "child": json.loads(child.stdout or "null"), "child stderr": child.stderr}))
""",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["status"] == "seccomp"
    assert seen["main"] == _REFUSED
    assert seen["early thread"] == _REFUSED
    assert seen["child"] == _REFUSED, seen["child stderr"]


@needs_seccomp
def test_the_cli_installs_both_layers_and_says_so(run_cli):
    result = run_cli("--debug", "dict", "list")
    assert result.returncode == 0, result.stderr
    assert b"network guard: audit hook and seccomp filter" in result.stderr


@needs_seccomp
def test_where_the_kernel_forbids_seccomp_the_app_runs_on_the_audit_hook(tmp_path):
    """Like a container whose own seccomp profile forbids filters: a first filter makes seccomp() and
    prctl(PR_SET_SECCOMP) fail with EPERM, then the real `reader` runs under it (filters are inherited)."""
    nr = {"x86_64": (317, 157), "aarch64": (277, 167)}[platform.machine()]
    result = _run(
        f"""
        import ctypes, os, struct, sys
        from reader import kernel_guard as k
        libc = ctypes.CDLL(None, use_errno=True)
        deny = k.SECCOMP_RET_ERRNO | 1  # EPERM
        rows = [(0x20, 0, 0, 0), (0x15, 4, 0, {nr[0]}), (0x15, 0, 2, {nr[1]}),
                (0x20, 0, 0, 16), (0x15, 1, 0, k.PR_SET_SECCOMP),
                (0x06, 0, 0, k.SECCOMP_RET_ALLOW), (0x06, 0, 0, deny)]
        blob = b"".join(struct.pack("=HBBI", *r) for r in rows)
        buf = ctypes.create_string_buffer(blob, len(blob))
        prog = k._SockFprog(len(rows), ctypes.cast(buf, ctypes.c_void_p))
        assert libc.prctl(38, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
        assert libc.prctl(22, ctypes.c_ulong(2), ctypes.byref(prog), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
        os.execv(sys.executable, [sys.executable, "-m", "reader", "--debug", "sentences", "-", "--json"])
        """,
        tmp_path, input="One sentence. Another one.",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["One sentence.", "Another one."]
    assert ("network guard: audit hook only; the seccomp filter is unavailable: "
            "the kernel refused the seccomp filter (EPERM)") in result.stderr


@needs_seccomp
def test_onnxruntime_telemetry_thread_gets_no_network_socket(tmp_path):
    """onnxruntime 1.32 resolves a telemetry host from a C thread 7-9 s after import. Under strace -f,
    every AF_INET/AF_INET6 socket of the guarded process must come back -1 EACCES."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (scripts/ensure-system.sh test installs it)")
    log = tmp_path / "strace"
    code = _C_SOCKETS + """
from reader import offline
offline.install()
import onnxruntime, time
time.sleep(10)
attempt(socket.AF_INET, socket.SOCK_DGRAM)  # one sure attempt: proves strace sees what it should
"""
    result = subprocess.run(
        # -ff: one file per thread, so no call is split into "unfinished" and "resumed" halves.
        [strace, "-ff", "-qq", "-e", "trace=socket", "-o", str(log), sys.executable, "-c", code],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={"READER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    lines = [line for path in tmp_path.glob("strace.*") for line in path.read_text().splitlines()
             if re.search(r"socket\(AF_INET6?,", line)]
    made = [line for line in lines if not re.search(r"= -1 EACCES", line)]
    assert lines, "strace saw no AF_INET socket, not even the test's own"
    assert made == []


def _run_bpf(program, nr: int, arch: int, arg0: int = 0) -> int:
    """The four BPF instructions the filter uses, run on one struct seccomp_data (for the arches this
    machine cannot run: the kernel tests above cover the native one)."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x35:
            pc += jt if acc >= k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected BPF code {code:#x}")


@pytest.mark.parametrize("machine, arch, nr, arg0, expected", [
    ("x86_64", kernel_guard.AUDIT_ARCH_X86_64, 41, 2, "EACCES"),      # socket(AF_INET)
    ("x86_64", kernel_guard.AUDIT_ARCH_X86_64, 41, 1, "allow"),       # socket(AF_UNIX)
    ("x86_64", kernel_guard.AUDIT_ARCH_X86_64, 0x40000000 | 41, 1, "ENOSYS"),  # any x32 call
    ("x86_64", kernel_guard.AUDIT_ARCH_X86_64, 0, 2, "allow"),        # read()
    ("x86_64", kernel_guard.AUDIT_ARCH_I386, 102, 1, "EACCES"),       # i386 socketcall
    ("x86_64", kernel_guard.AUDIT_ARCH_I386, 359, 10, "EACCES"),      # i386 socket(AF_INET6)
    ("x86_64", kernel_guard.AUDIT_ARCH_I386, 3, 0, "allow"),          # i386 read()
    ("x86_64", kernel_guard.AUDIT_ARCH_AARCH64, 198, 2, "ENOSYS"),    # a foreign ABI does nothing
    ("aarch64", kernel_guard.AUDIT_ARCH_AARCH64, 198, 2, "EACCES"),   # socket(AF_INET)
    ("aarch64", kernel_guard.AUDIT_ARCH_AARCH64, 198, 1, "allow"),
    ("aarch64", kernel_guard.AUDIT_ARCH_AARCH64, 199, 16, "EACCES"),  # socketpair(AF_NETLINK)
    ("aarch64", kernel_guard.AUDIT_ARCH_AARCH64, 425, 0, "ENOSYS"),   # io_uring_setup
    ("aarch64", kernel_guard.AUDIT_ARCH_AARCH64, 41, 2, "allow"),     # 41 is not socket here
    ("aarch64", kernel_guard.AUDIT_ARCH_ARM, 281, 2, "EACCES"),       # arm32 socket(AF_INET)
])
def test_filter_program_decisions(machine, arch, nr, arg0, expected):
    verdict = _run_bpf(kernel_guard.build_program(machine), nr, arch, arg0)
    names = {kernel_guard.SECCOMP_RET_ALLOW: "allow",
             kernel_guard.SECCOMP_RET_ERRNO | errno.EACCES: "EACCES",
             kernel_guard.SECCOMP_RET_ERRNO | errno.ENOSYS: "ENOSYS"}
    assert names[verdict] == expected

