"""`reader serve`: one process keeps the voices loaded and speaks for `reader say`, the speech-dispatcher
module and anything else of the same user, over a Unix socket (0600, in READER_HOME). The network guard
stays on: AF_UNIX is the only socket family the process may open.

One utterance at a time, like a screen reader's speech: a new speak request silences the one before
("stopped" to its client). The service exits after `idle_s` with no client and nothing to say.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reader.channel import SpeechChannel
from reader.errors import ReaderError
from reader.service import protocol
from reader.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_IDLE_S = 600.0
ACCEPT_POLL_S = 0.5
_UCRED = struct.Struct("3i")  # pid, uid, gid (SO_PEERCRED)


class ServiceError(ReaderError):
    title = "Speech service"


@dataclass(eq=False)
class _Client:
    sock: socket.socket
    lock: threading.Lock = field(default_factory=threading.Lock)
    alive: bool = True

    def send(self, message: dict[str, Any]) -> None:
        if not self.alive:
            return
        try:
            with self.lock:
                self.sock.sendall(protocol.encode(message))
        except OSError:
            self.alive = False


@dataclass
class _Utterance:
    id: str
    client: _Client
    marks: dict[int, list[str]]  # sentence id -> index marks said just before it
    trailing_marks: list[str]
    count: int
    started: bool = False
    last_sentence: int = -1
    done: bool = False
    received: float = field(default_factory=time.perf_counter)
    first_audio_ms: float | None = None  # from the request to its first audio handed to the player

    def started_event(self) -> dict[str, Any]:
        event: dict[str, Any] = {"event": "started", "id": self.id}
        if self.first_audio_ms is not None:
            event["first_audio_ms"] = round(self.first_audio_ms, 1)
        return event


class SpeechService:
    def __init__(self, settings: Settings, *, idle_s: float = DEFAULT_IDLE_S, channel: SpeechChannel | None = None,
                 warm: tuple[str, ...] = ("en",)) -> None:
        self.settings = settings
        self.idle_s = idle_s
        self.path = protocol.socket_path(settings.home)
        self.channel = channel or SpeechChannel(settings, on_event=self._channel_event)
        self.channel.listener = self
        self.warm = warm
        self._lock = threading.RLock()
        self._current: _Utterance | None = None
        self._clients: set[_Client] = set()
        self._last_activity = time.monotonic()
        self._stopping = threading.Event()
        self._server: socket.socket | None = None
        self._warming: threading.Thread | None = None
        self._gender_voices: dict[str, str | None] = {}

    # -- the socket ---------------------------------------------------------------------------------
    def bind(self) -> None:
        """Listen on the socket, 0600 from the start (umask), refusing to take over a live service."""
        if len(os.fsencode(self.path)) > protocol.MAX_SOCKET_PATH:
            raise ServiceError(f"The socket path {self.path} is longer than Unix sockets allow; set READER_HOME "
                               "to a shorter folder.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        live = protocol.connect(self.settings.home, timeout=0.5)
        if live is not None:
            live.close()
            raise ServiceError(f"A speech service is already running for {self.settings.home}.")
        try:
            self.path.unlink()  # a socket left by a service that was killed
        except FileNotFoundError:
            pass
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            server.bind(os.fspath(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        server.listen(8)
        server.settimeout(ACCEPT_POLL_S)
        self._server = server

    def serve_forever(self) -> None:
        if self._server is None:
            self.bind()
        self._warming = threading.Thread(target=self._warm_up, name="voice-warm-up", daemon=True)
        self._warming.start()
        try:
            while not self._stopping.is_set():
                try:
                    conn, _ = self._server.accept()
                except socket.timeout:
                    if self._idle():
                        log.info("speech service idle for %.0f s; exiting", self.idle_s)
                        return
                    continue
                if not self._same_user(conn):
                    conn.close()
                    continue
                client = _Client(conn)
                with self._lock:
                    self._clients.add(client)
                    self._last_activity = time.monotonic()
                threading.Thread(target=self._serve_client, args=(client,), name="speech-client",
                                 daemon=True).start()
        finally:
            self.close()

    def _warm_up(self) -> None:
        """Load the voices of the warm languages and open the audio device, so the first request is fast."""
        try:
            synth = self.channel.synthesizer()
            for lang in self.warm:
                name = synth.interface_pack(lang) if lang == "en" else synth.default_pack_for(lang)
                if name:
                    synth.pipeline(name).warm_up((lang,))
            self.channel.player()
        except ReaderError as exc:
            log.warning("warm-up: %s", exc.message)

    def close(self) -> None:
        self._stopping.set()
        if self._warming is not None:
            # A native thread still inside onnxruntime at interpreter exit would abort the process.
            self._warming.join(timeout=60)
        if self._server is not None:
            self._server.close()
            self._server = None
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        self.channel.close()

    def _idle(self) -> bool:
        if self._warming is not None and self._warming.is_alive():
            return False
        with self._lock:
            busy = bool(self._clients) or (self._current is not None and not self._current.done)
            if busy:
                self._last_activity = time.monotonic()
                return False
            return time.monotonic() - self._last_activity > self.idle_s

    @staticmethod
    def _same_user(conn: socket.socket) -> bool:
        try:
            _pid, uid, _gid = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
        except (OSError, AttributeError):
            return True  # no SO_PEERCRED here: the 0600 socket already keeps other users out
        return uid == os.getuid()

    def _serve_client(self, client: _Client) -> None:
        try:
            for line in protocol.LineReader(client.sock):
                if not line.strip():
                    continue
                try:
                    message = protocol.decode(line)
                    op = protocol.check_request(message)
                except protocol.ProtocolError as exc:
                    client.send({"event": "error", "id": None, "message": str(exc)})
                    continue
                if not self._handle(client, op, message):
                    break
        except protocol.ProtocolError as exc:
            client.send({"event": "error", "id": None, "message": str(exc)})
        finally:
            client.alive = False
            with self._lock:
                self._clients.discard(client)
                self._last_activity = time.monotonic()
            try:
                client.sock.close()
            except OSError:
                pass

    # -- requests -----------------------------------------------------------------------------------
    def _handle(self, client: _Client, op: str, message: dict[str, Any]) -> bool:
        if op == "speak":
            self.speak(client, message)
        elif op == "stop":
            self.stop()
        elif op == "pause":
            self._pause(True)
        elif op == "resume":
            self._pause(False)
        elif op == "voices":
            client.send({"event": "voices", "voices": self.voices()})
        elif op == "ping":
            synth = self.channel.loaded
            client.send({"event": "pong", "pid": os.getpid(), "packs": synth.pack_names if synth else []})
        elif op == "quit":
            client.send({"event": "bye"})
            self.stop()
            self._stopping.set()
            return False
        return True

    def speak(self, client: _Client, message: dict[str, Any]) -> None:
        from reader.speech.synthesizer import SpeechText, SynthesisOptions

        received = time.perf_counter()
        utterance_id = str(message.get("id") or "")
        try:
            items, marks, trailing = self._sentences(message)
            voice = message.get("voice") or self._voice_of_gender(message.get("gender"))
            options = SynthesisOptions(voice=voice, pack=message.get("pack"),
                                       lang=message.get("lang") or "auto", rate=message.get("rate"),
                                       pitch=message.get("pitch"), volume=message.get("volume"),
                                       style=message.get("style"), voice_per_language=not message.get("one_voice"))
            level = message.get("punctuation")
            if level is not None:
                self._set_punctuation(str(level))
        except ReaderError as exc:
            client.send({"event": "error", "id": utterance_id, "message": exc.message})
            return
        utterance = _Utterance(utterance_id, client, marks, trailing, len(items), received=received)
        with self._lock:
            self._replace(utterance)
        if not items:  # only marks: they are "heard" at once
            self._finish(utterance)
            return
        speech = [SpeechText(i, text, lang) for i, (text, lang) in enumerate(items)]

        def failed(error: ReaderError) -> None:
            client.send({"event": "error", "id": utterance_id, "message": error.message})
            with self._lock:
                utterance.done = True

        def audio() -> None:
            utterance.first_audio_ms = (time.perf_counter() - utterance.received) * 1000

        self.channel.speak(speech, options, on_error=failed, on_audio=audio)

    def _sentences(self, message: dict[str, Any]) -> tuple[list[tuple[str, str]], dict[int, list[str]], list[str]]:
        """The utterance's sentences, and the index marks that stand before each (and after the last)."""
        from reader.text.extract import document_from_text
        from reader.text.sentences import document_sentences

        parts = message.get("parts")
        if parts is None:
            parts = [{"text": message.get("text", "")}]
        items: list[tuple[str, str]] = []
        marks: dict[int, list[str]] = {}
        waiting: list[str] = []
        for part in parts:
            if part.get("mark"):
                waiting.append(str(part["mark"]))
            text = part.get("text") or ""
            if not text.strip():
                continue
            doc = document_from_text(text, source="text", title="Speech")
            for sentence in document_sentences(doc, max_tokens=self.settings.max_tokens):
                if waiting:
                    marks[len(items)] = waiting
                    waiting = []
                items.append((sentence.text, sentence.lang))
        return items, marks, waiting

    def _voice_of_gender(self, gender: Any) -> str | None:
        """A screen reader asks for "a male voice" or "a female voice": the first matching voice pair's
        English voice (its partner reads Chinese), None for no preference or no such voice."""
        if gender not in ("female", "male"):
            return None
        if gender not in self._gender_voices:  # a screen reader sends it with every utterance: look once
            self._gender_voices[gender] = self._find_voice_of_gender(gender)
        return self._gender_voices[gender]

    @staticmethod
    def _find_voice_of_gender(gender: str) -> str | None:
        from reader.speech import packs

        for _path, manifest in packs.find_packs():
            genders = {v.id: v.gender for v in manifest.voices}
            for pair in manifest.voice_pairs:
                if pair and all(genders.get(v) == gender for v in pair.values()):
                    return pair.get("en") or next(iter(pair.values()))
        return None

    def _set_punctuation(self, level: str) -> None:
        from reader.settings import PUNCTUATION_LEVELS

        if level not in PUNCTUATION_LEVELS:
            raise ServiceError(f"Unknown punctuation level {level!r}; use one of {', '.join(PUNCTUATION_LEVELS)}.")
        self.channel.synthesizer().set_punctuation(level)

    def _replace(self, utterance: _Utterance | None) -> None:
        old = self._current
        self._current = utterance
        self._last_activity = time.monotonic()
        if old is not None and not old.done:
            old.done = True
            old.client.send({"event": "stopped", "id": old.id})

    def stop(self) -> None:
        with self._lock:
            self._replace(None)
        self.channel.halt()

    def _pause(self, pause: bool) -> None:
        player = self.channel.has_player
        with self._lock:
            current = self._current
        if player is None:
            return
        if pause:
            player.pause()
            if current is not None:
                current.client.send({"event": "paused", "id": current.id})
        else:
            player.resume()

    def voices(self) -> list[dict[str, Any]]:
        from reader.speech import packs

        out = []
        for _path, manifest in packs.find_packs():
            if "acoustic" not in manifest.stages:
                continue
            for voice in manifest.voices:
                if getattr(voice, "speakable", True):
                    out.append({"id": voice.id, "language": voice.language, "gender": voice.gender,
                                "pack": manifest.name, "title": voice.title})
        return out

    # -- what is heard (the channel's listener, called from the player's notifier thread) ------------
    def _on_position(self, position: Any) -> None:
        sid = position.sentence_id
        with self._lock:
            current = self._current
            if current is None or current.done or sid is None or sid < 0 or sid <= current.last_sentence:
                return
            first = not current.started
            current.started = True
            skipped = range(current.last_sentence + 1, sid + 1)
            current.last_sentence = sid
        if first:
            current.client.send(current.started_event())
        for index in skipped:
            for name in current.marks.get(index, ()):
                current.client.send({"event": "mark", "id": current.id, "name": name})
            current.client.send({"event": "sentence", "id": current.id, "index": index})

    def _on_finished(self) -> None:
        with self._lock:
            current = self._current
            if current is None or current.done:
                return
            if current.last_sentence < current.count - 1:  # the player drained between two feeds
                return
        self._finish(current)

    def _finish(self, utterance: _Utterance) -> None:
        with self._lock:
            if utterance.done:
                return
            utterance.done = True
            self._last_activity = time.monotonic()
        if not utterance.started:
            utterance.client.send(utterance.started_event())
        for name in utterance.trailing_marks:
            utterance.client.send({"event": "mark", "id": utterance.id, "name": name})
        utterance.client.send({"event": "finished", "id": utterance.id})

    def _on_player_error(self, error: Any) -> None:
        with self._lock:
            current = self._current
            if current is not None:
                current.done = True
        if current is not None:
            current.client.send({"event": "error", "id": current.id, "message": getattr(error, "message", str(error))})

    def _channel_event(self, kind: str, message: str) -> None:
        with self._lock:
            current = self._current
        if current is not None and kind == "error":
            current.client.send({"event": "error", "id": current.id, "message": message})
        log.info("%s: %s", kind, message)
