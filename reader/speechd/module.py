"""`reader-speechd`: a speech-dispatcher output module, so Orca (and every program that speaks through
speech-dispatcher) speaks with the reader's voices.

It speaks speech-dispatcher's output-module protocol on standard input and output (speech-dispatcher's
manual, "Communication Protocol for Output Modules": INIT, AUDIO, SET, SPEAK, CHAR, KEY, SOUND_ICON, STOP,
PAUSE, LIST VOICES, LOGLEVEL, DEBUG, QUIT; events 700 INDEX MARK, 701 BEGIN, 702 END, 703 STOP, 704 PAUSE)
and has the resident speech service (`reader serve`, started when it is not running) synthesize and play.
Index marks in the SSML go to the service as the boundaries of the utterance's parts, and come back when
the text after them starts to be heard.

Standard error is the module's log (speech-dispatcher keeps it); nothing but the protocol goes to stdout.
"""

from __future__ import annotations

import html
import itertools
import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import IO, Any

from reader.errors import ReaderError

log = logging.getLogger("reader.speechd")

# speech-dispatcher's -100..100 scales -> the reader's factors (the reader's own ranges: rate 0.5-3.5,
# pitch 0.7-1.5, volume 0-2); 0 is the voice's normal.
RATE_RANGE = (0.5, 3.5)
PITCH_RANGE = (0.7, 1.5)
VOLUME_RANGE = (0.0, 1.5)
# The longest message taken (a screen reader never sends near this; a larger one is cut, said as far as here).
MAX_MESSAGE_CHARS = 200_000

_TAG = re.compile(r"<[/!?]?[A-Za-z][^<>]*>|[<>]")  # a tag, or a stray bracket of broken markup
_MARK = re.compile(r"""<mark\s+name\s*=\s*(?:"([^"]*)"|'([^']*)')\s*/?>""", re.I)
_KEY_NAMES = {
    "space": "space", "underscore": "underscore", "double-quote": "double quote", "kp-enter": "enter",
    "kp-add": "plus", "kp-subtract": "minus", "kp-multiply": "times", "kp-divide": "slash", "kp-delete": "delete",
    "backspace": "backspace", "return": "enter", "enter": "enter", "escape": "escape", "tab": "tab",
    "page-up": "page up", "page-down": "page down", "shift": "shift", "control": "control", "alt": "alt",
}
_LANGS = ("en", "zh")


def _scale(value: str | None, low: float, high: float) -> float | None:
    """-100..100 -> low..1..high (0 -> 1)."""
    try:
        n = max(-100.0, min(100.0, float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return 1.0 + n / 100.0 * ((high - 1.0) if n >= 0 else (1.0 - low))


def ssml_parts(message: str) -> list[dict[str, str | None]]:
    """SSML (or plain text) -> [{"text", "mark"}]: the text between index marks, each part with the mark
    that stands before it. Tags other than <mark/> are dropped; entities are decoded; broken markup is read
    as text with anything tag-like removed."""
    parts: list[dict[str, str | None]] = []
    mark: str | None = None
    pos = 0
    for m in _MARK.finditer(message):
        parts.append({"text": _text(message[pos:m.start()]), "mark": mark})
        mark = m.group(1) if m.group(1) is not None else m.group(2)
        pos = m.end()
    parts.append({"text": _text(message[pos:]), "mark": mark})
    return [p for p in parts if p["text"].strip() or p["mark"]]


def _text(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def key_text(key: str) -> str:
    """speech-dispatcher's key names ("shift_a", "control_alt_delete", "kp-enter") said as words."""
    words = []
    for part in key.strip().split("_"):
        words.append(_KEY_NAMES.get(part.lower(), part.replace("-", " ")))
    return " ".join(words)


def char_text(char: str) -> str:
    """A character as the reader names it when echoing or spelling ("space", "capital A", "question")."""
    from reader.text.words import char_name

    return char_name(char[:1] if char else " ")


class OutputModule:
    def __init__(self, stdin: IO[str], stdout: IO[str], home: Path | None = None) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.home = home
        self._out = threading.Lock()
        self.settings: dict[str, str] = {}
        self.conn: Any = None
        self._reader: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.current: str | None = None  # the id of the message being spoken
        self._state = threading.Lock()
        self._pausing = False
        self._voices: list[dict[str, Any]] | None = None
        self._voices_ready = threading.Event()

    # -- output ---------------------------------------------------------------------------------------
    def reply(self, *lines: str) -> None:
        with self._out:
            for line in lines:
                self.stdout.write(line + "\n")
            self.stdout.flush()

    # -- the service ----------------------------------------------------------------------------------
    def connect(self) -> None:
        from reader.service import client

        if self.conn is not None:
            return
        from reader.settings import default_home

        home = self.home or default_home()
        sock = client.connect(home, start_if_missing=True)
        self.conn = client.Connection(sock)
        self._reader = threading.Thread(target=self._events, args=(self.conn,), name="speechd-events", daemon=True)
        self._reader.start()

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.connect()
            self.conn.send(message)
        except OSError:  # the service went away: start it again, once
            self.conn = None
            self.connect()
            self.conn.send(message)

    def _events(self, conn: Any) -> None:
        try:
            for event in conn.events():
                self._event(event)
        except Exception:  # noqa: BLE001 - a broken service connection ends only this reader
            log.exception("the speech service connection failed")
        with self._state:
            if self.conn is conn:
                self.conn = None
            lost, self.current = self.current, None
        if lost is not None:  # never leave speech-dispatcher waiting for an end
            self.reply("703 STOP")

    def _event(self, event: dict[str, Any]) -> None:
        kind, event_id = event.get("event"), event.get("id")
        with self._state:
            if kind == "voices":
                self._voices = event.get("voices") or []
                self._voices_ready.set()
                return
            if event_id is None or event_id != self.current:
                if kind == "error":
                    log.warning("speech service: %s", event.get("message"))
                return
            if kind == "started":
                self.reply("701 BEGIN")
            elif kind == "mark":
                self.reply(f"700-{event.get('name')}", "700 INDEX MARK")
                if self._pausing:  # pause at the mark: speech-dispatcher resumes the message from here
                    self._pausing = False
                    self.current = None
                    self.conn.send({"op": "stop"})
                    self.reply("704 PAUSE")
            elif kind in ("finished", "stopped", "error"):
                if kind == "error":
                    log.warning("speech service: %s", event.get("message"))
                self.current = None
                self._pausing = False
                self.reply("702 END" if kind == "finished" else "703 STOP")

    # -- requests -------------------------------------------------------------------------------------
    def read_block(self) -> list[str] | None:
        """Lines up to the closing "." line (a leading ".." stands for "."); None at end of input."""
        lines: list[str] = []
        size = 0
        for raw in self.stdin:
            line = raw.rstrip("\n")
            if line == ".":
                return lines
            if line.startswith(".."):
                line = line[1:]
            size += len(line)
            if size <= MAX_MESSAGE_CHARS:
                lines.append(line)
        return None

    def speak(self, text_parts: list[dict[str, str | None]]) -> None:
        utterance = f"m{next(self._ids)}"
        request: dict[str, Any] = {"op": "speak", "id": utterance, "parts": text_parts}
        s = self.settings
        for key, value, (low, high) in (("rate", s.get("rate"), RATE_RANGE), ("pitch", s.get("pitch"), PITCH_RANGE),
                                        ("volume", s.get("volume"), VOLUME_RANGE)):
            factor = _scale(value, low, high)
            if factor is not None and abs(factor - 1.0) > 1e-3:
                request[key] = max(factor, 0.01)
        voice = s.get("synthesis_voice")
        if voice and voice != "NULL":
            request["voice"] = voice
        else:  # speech-dispatcher's voice types: MALE1..3, FEMALE1..3, CHILD_MALE, CHILD_FEMALE
            kind = (s.get("voice_type") or s.get("voice") or "").upper()
            if "FEMALE" in kind:
                request["gender"] = "female"
            elif "MALE" in kind:
                request["gender"] = "male"
        lang = (s.get("language") or "").split("-")[0].lower()
        if lang in _LANGS:
            request["lang"] = "auto"  # a sentence in the other language is still read by its own voice
        punctuation = s.get("punctuation_mode")
        if punctuation in ("none", "some", "most", "all"):
            request["punctuation"] = punctuation
        with self._state:
            self.current = utterance
            self._pausing = False
        self._send(request)

    def handle(self, line: str) -> bool:
        """One command; False after QUIT or at the end of input."""
        command = line.strip()
        upper = command.upper()
        if upper == "INIT":
            try:
                self.connect()
            except (ReaderError, OSError) as exc:
                message = getattr(exc, "message", str(exc))
                self.reply(f"399-{message}", "399 ERR CANT INIT MODULE")
                return True
            self.reply("299-reader: the resident speech service is ready", "299 OK LOADED SUCCESSFULLY")
        elif upper in ("SPEAK", "CHAR", "KEY", "SOUND_ICON"):
            self.reply("202 OK RECEIVING MESSAGE")
            block = self.read_block()
            if block is None:
                return False
            if upper != "SPEAK" and len(block) != 1:
                self.reply("305 DATA MORE THAN ONE LINE")
                return True
            if upper == "SPEAK":
                parts = ssml_parts("\n".join(block))
            elif upper == "CHAR":
                parts = [{"text": char_text(block[0]), "mark": None}]
            elif upper == "KEY":
                parts = [{"text": key_text(block[0]), "mark": None}]
            else:
                parts = [{"text": block[0].replace("-", " ").replace("_", " "), "mark": None}]
            self.reply("200 OK SPEAKING")
            try:
                self.speak(parts)
            except (ReaderError, OSError) as exc:
                log.warning("could not speak: %s", getattr(exc, "message", exc))
                with self._state:
                    self.current = None
                self.reply("701 BEGIN", "703 STOP")
        elif upper in ("SET", "AUDIO", "LOGLEVEL"):
            code = "203" if upper == "SET" else "207"
            self.reply(f"{code} OK RECEIVING {'' if upper == 'SET' else upper + ' '}SETTINGS")
            block = self.read_block()
            if block is None:
                return False
            if upper == "SET":
                for item in block:
                    key, sep, value = item.partition("=")
                    if sep:
                        self.settings[key.strip()] = value.strip()
            self.reply({"SET": "203 OK SETTINGS RECEIVED", "AUDIO": "203 OK AUDIO INITIALIZED",
                        "LOGLEVEL": "203 OK LOGLEVEL SET"}[upper])
        elif upper == "STOP":
            with self._state:
                speaking = self.current is not None
            if speaking:
                self._send({"op": "stop"})
        elif upper == "PAUSE":
            with self._state:
                self._pausing = self.current is not None
        elif upper == "LIST VOICES":
            try:
                voices = self._list_voices()
            except (ReaderError, OSError):
                voices = None
            if not voices:
                self.reply("304 CANT LIST VOICES")
            else:
                self.reply(*[f"200-{v['id']}\t{v['language'].split('-')[0]}\t{v.get('gender') or 'none'}"
                             for v in voices], "200 OK VOICE LIST SENT")
        elif upper.startswith("DEBUG"):
            self.reply("200 OK DEBUGGING ON" if "ON" in upper else "200 OK DEBUGGING OFF")
        elif upper == "QUIT":
            self.reply("210 OK QUIT")
            return False
        elif command:
            self.reply("300 ERR UNKNOWN COMMAND")
        return True

    def _list_voices(self) -> list[dict[str, Any]] | None:
        with self._state:
            self._voices = None
            self._voices_ready.clear()
        self._send({"op": "voices"})
        self._voices_ready.wait(10)
        return self._voices

    def run(self) -> int:
        for line in self.stdin:
            if not self.handle(line):
                break
        if self.conn is not None:
            try:
                self.conn.send({"op": "stop"})
            except OSError:
                pass
            self.conn.close()
        return 0


def main(argv: list[str] | None = None) -> int:
    from reader import offline

    offline.install()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("--register", "--unregister"):
        from reader.speechd.register import register, unregister

        return register() if args[0] == "--register" else unregister()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="reader-speechd: %(message)s")
    # The service is started with READER_SERVICE semantics of `reader say`: always wanted here.
    os.environ.pop("READER_SERVICE", None)
    module = OutputModule(sys.stdin, sys.stdout)
    return module.run()


if __name__ == "__main__":
    sys.exit(main())
