"""The resident speech service's protocol: one JSON object a line over a Unix socket in READER_HOME.

Requests (client -> service), each with "op":
  speak   {"id", "text" | "parts": [{"text", "mark"}], "voice" (or "gender": "female"/"male"), "pack",
           "lang", "rate", "pitch", "volume", "punctuation", "style", "one_voice"}: replaces what is being
           said (a screen reader's speech is always the newest)
  stop, pause, resume, voices, ping, quit
Events (service -> the client that asked), each with "event":
  started {"id", "first_audio_ms"} (when the first sound is heard; first_audio_ms: from the request to its
  first audio handed to the player), mark {"id", "name"} (an index mark, when the text after it starts to be heard),
  sentence {"id", "index"}, finished {"id"}, stopped {"id"}, paused {"id"}, error {"id", "message"},
  voices {"voices": [{"id", "language", "gender", "pack", "title"}]}, pong {"pid", "packs"}, bye
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

SOCKET_NAME = "speech.sock"
# AF_UNIX socket paths are limited to 108 bytes (with the terminating NUL) on Linux.
MAX_SOCKET_PATH = 107
# A request line longer than this is refused (a screen reader's longest utterance is far shorter).
MAX_LINE = 4 * 1024 * 1024
OPS = ("speak", "stop", "pause", "resume", "voices", "ping", "quit")


class ProtocolError(ValueError):
    """A request that is not one line of JSON with a known "op"."""


def socket_path(home: Path) -> Path:
    return Path(home) / SOCKET_NAME


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def decode(line: bytes) -> dict[str, Any]:
    """One request or event line -> its object. Raises ProtocolError with a sentence that says why."""
    if len(line) > MAX_LINE:
        raise ProtocolError(f"The request is longer than {MAX_LINE} bytes.")
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"The request is not a line of JSON ({exc}).") from None
    if not isinstance(message, dict):
        raise ProtocolError("The request is not a JSON object.")
    return message


def check_request(message: dict[str, Any]) -> str:
    op = message.get("op")
    if op not in OPS:
        raise ProtocolError(f"Unknown request {op!r}; the service knows {', '.join(OPS)}.")
    if op == "speak":
        parts = message.get("parts")
        if parts is None:
            if not isinstance(message.get("text"), str):
                raise ProtocolError("A speak request needs a text.")
        elif not (isinstance(parts, list) and all(isinstance(p, dict) and isinstance(p.get("text", ""), str)
                                                   for p in parts)):
            raise ProtocolError("A speak request's parts must be a list of {text, mark} objects.")
        for key in ("rate", "pitch", "volume"):
            value = message.get(key)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value < 10):
                raise ProtocolError(f"A speak request's {key} must be a positive number below 10.")
    return op


def connect(home: Path, timeout: float = 2.0) -> socket.socket | None:
    """A connection to the running service, or None when none runs (no socket, or nobody listens)."""
    path = socket_path(home)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH or not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(os.fspath(path))
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)
    return sock


class LineReader:
    """Lines from a socket, bounded (a peer that never sends a newline cannot fill the memory)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise ProtocolError(f"A line is longer than {MAX_LINE} bytes.")
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                raise StopIteration
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line
