"""The network guard: this app never uses the network, so any socket but a local Unix one is refused.

Two layers, both installed by `install()` and neither removable: a `sys.addaudithook` hook sees every
socket made through Python and every host-name lookup, and refuses it with a clear message; the seccomp
filter of `reader.kernel_guard` makes the kernel refuse the sockets C libraries make on their own threads
(and those of every child process). Where the kernel cannot filter, the audit hook guards alone.
"""

from __future__ import annotations

import socket
import sys
import threading

from reader import kernel_guard
from reader.errors import NetworkRefused

_REFUSED_LOOKUPS = frozenset(
    {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr",
     "socket.getnameinfo"}
)

_lock = threading.Lock()
_installed = False
_refused: list[str] = []


def _describe_family(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return str(family)


def _hook(event: str, args: tuple) -> None:
    if event == "socket.__new__":
        family = args[1]
        if family != socket.AF_UNIX:
            what = f"a {_describe_family(family)} socket"
            _refused.append(what)
            raise NetworkRefused(
                f"Refused to open {what}: this reader works offline and never uses the network."
            )
    elif event in _REFUSED_LOOKUPS:
        what = f"a host-name lookup ({event.split('.', 1)[1]} {args[0]!r})"
        _refused.append(what)
        raise NetworkRefused(f"Refused {what}: this reader works offline and never uses the network.")


def install() -> None:
    """Install the guard once for the life of the process (audit hooks and seccomp filters cannot be
    removed). Call it before onnxruntime, numpy or textual are imported."""
    global _installed
    with _lock:
        if _installed:
            return
        sys.addaudithook(_hook)
        kernel_guard.install()
        _installed = True


def is_installed() -> bool:
    return _installed


def status() -> str:
    """One line for the debug output: which layers guard this process."""
    if not _installed:
        return "network guard: not installed"
    kernel = kernel_guard.kernel_guard_status()
    if kernel == "seccomp":
        return "network guard: audit hook and seccomp filter (the kernel refuses every socket but AF_UNIX)"
    return f"network guard: audit hook only; the seccomp filter is {kernel}"


def refused_attempts() -> list[str]:
    """What the guard refused so far in this process (for the debug panel and tests)."""
    return list(_refused)
