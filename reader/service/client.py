"""Speaking through the resident service: find it (or start it), send one utterance, follow its events.
Imports nothing heavy, so `reader say` makes its first sound in the time the service needs, not the time
Python needs to load the voices."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from reader.errors import ReaderError
from reader.service import protocol

# How long `reader say` waits for a service it started to listen.
START_WAIT_S = 15.0
START_POLL_S = 0.05


class ServiceUnavailable(ReaderError):
    title = "Speech service"


def service_wanted() -> bool:
    """READER_SERVICE=off (or 0/no) makes `reader say` speak in its own process, never through a service."""
    return os.environ.get("READER_SERVICE", "auto").strip().lower() not in ("off", "0", "no", "false")


def start(home: Path, *, idle_s: float | None = None) -> None:
    """Start `reader serve` in the background, detached from this terminal; its log is READER_HOME/service.log."""
    home.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "reader", "serve"]
    if idle_s is not None:
        cmd += ["--idle", str(idle_s)]
    env = dict(os.environ, READER_HOME=os.fspath(home))
    with open(home / "service.log", "ab") as log:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
                         close_fds=True)


def connect(home: Path, *, start_if_missing: bool = False) -> socket.socket | None:
    sock = protocol.connect(home)
    if sock is not None or not start_if_missing:
        return sock
    start(home)
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(START_POLL_S)
        sock = protocol.connect(home)
        if sock is not None:
            return sock
    raise ServiceUnavailable(f"The speech service did not start within {START_WAIT_S:g} s; see "
                             f"{home / 'service.log'}, or run `reader say --no-service`.")


class Connection:
    """One client connection: requests out, events in."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lines = protocol.LineReader(sock)

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(protocol.encode(message))

    def events(self) -> Iterator[dict[str, Any]]:
        for line in self.lines:
            if line.strip():
                yield protocol.decode(line)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def say(sock: socket.socket, request: dict[str, Any], *,
        on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Speak one utterance and return when it has been heard. Ctrl-C stops the sound, then re-raises."""
    conn = Connection(sock)
    request = {"op": "speak", "id": request.get("id") or f"say-{os.getpid()}", **request}
    try:
        conn.send(request)
        timed = bool(os.environ.get("READER_SAY_TIMES"))  # for bench/bench_say.py: when each event came
        for event in conn.events():
            if timed:
                print(f"reader: {event.get('event')} at {time.time():.4f}", file=sys.stderr, flush=True)
            if on_event is not None:
                on_event(event)
            kind = event.get("event")
            if event.get("id") not in (request["id"], None):
                continue
            if kind == "error":
                raise ServiceUnavailable(str(event.get("message")))
            if kind in ("finished", "stopped"):
                return
        raise ServiceUnavailable("The speech service went away while speaking; run `reader say` again.")
    except KeyboardInterrupt:
        try:
            conn.send({"op": "stop"})
        except OSError:
            pass
        raise
    finally:
        conn.close()
