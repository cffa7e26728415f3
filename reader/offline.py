"""The network guard: this app never uses the network, so any socket but a local Unix one is refused.

It is a `sys.addaudithook` hook, so it sees every socket created in the process (also by libraries that
imported `socket` before us) and every host-name lookup, and it cannot be removed once installed.
"""

from __future__ import annotations

import socket
import sys
import threading

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
    """Install the guard once for the life of the process (audit hooks cannot be removed)."""
    global _installed
    with _lock:
        if _installed:
            return
        sys.addaudithook(_hook)
        _installed = True


def is_installed() -> bool:
    return _installed


def refused_attempts() -> list[str]:
    """What the guard refused so far in this process (for the debug panel and tests)."""
    return list(_refused)
