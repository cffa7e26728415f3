"""A reading session: one document, its sentences, the place, the voice, the synthesizer and the player.

The front ends (the TUI, tests) drive it with plain method calls and hear back through `on_event`; it
never imports a UI. Blocking work (loading packs, synthesis) runs in its own threads; every method here
returns at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from reader.errors import ReaderError
from reader.settings import PUNCTUATION_LEVELS, Settings
from reader.state import Bookmark, DocumentState, StateStore, document_key
from reader.text.document import BlockKind, Document, Sentence
from reader.voices import VAULT_PREFIX

log = logging.getLogger(__name__)

ENROLLED_VOICE_LOCKED = ("The reading voice is an enrolled family voice: unlock the vault (press V) to read with "
                         "it; until then the default voice reads.")
# Sentence ids of the app's own announcements (self-voicing) are negative, so they never move the place.
ANNOUNCE_ID = -1
# Rate and pitch steps and bounds, as screen readers offer them: 10% a key press.
RATE_STEP, RATE_MIN, RATE_MAX = 0.1, 0.5, 2.5
PITCH_STEP, PITCH_MIN, PITCH_MAX = 0.05, 0.7, 1.4
# Speaking rate at 1.0 used to estimate time left: about 15 characters a second for English.
CHARS_PER_SECOND = 15.0
# Sentences counted as a "page" when the document has no pages (a screenful, as in NVDA's browse mode).
SENTENCES_PER_PAGE = 20


@dataclass(frozen=True)
class ReadingEvent:
    """What happened: kind is one of position, state, message, error, timing, progress, notice."""

    kind: str
    message: str = ""
    sentence: int | None = None
    data: Any = None


class ReadingSession:
    def __init__(
        self,
        document: Document,
        settings: Settings,
        *,
        on_event: Callable[[ReadingEvent], None] | None = None,
        synthesizer: Any = None,
        player_factory: Callable[..., Any] | None = None,
        store: StateStore | None = None,
        self_voicing: bool = True,
    ) -> None:
        from reader.text.sentences import document_sentences

        self.document = document
        self.settings = settings
        self.on_event = on_event
        self.self_voicing = self_voicing
        self.sentences: list[Sentence] = document_sentences(document, max_tokens=settings.max_tokens)
        self.store = store or StateStore(settings.home)
        self.state: DocumentState = self.store.load(
            document_key(document.source, document.text), source=document.source, title=document.title
        )
        self.current = self.index_at(self.state.offset)
        self.status = "stopped"  # stopped | playing | paused
        self.word = 0  # the word cursor inside the current sentence (spell current word)
        self.lang = "auto"  # language detection: "auto" per sentence, or "en" / "zh" for all
        self._synth = synthesizer
        self._synth_lock = threading.Lock()
        self._player_factory = player_factory
        self._player: Any = None
        self._lock = threading.RLock()
        self._generation = 0
        self._feeder: threading.Thread | None = None
        self._reading = False  # the player holds document sentences (not an announcement)
        self._locked_voice_said = False

    # -- events ------------------------------------------------------------------------------------
    def _emit(self, kind: str, message: str = "", sentence: int | None = None, data: Any = None) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(ReadingEvent(kind, message, sentence, data))
        except Exception:  # a front end's bug must not stop the reading
            log.exception("event handler failed")

    def _set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self._emit("state", status)

    # -- the place ---------------------------------------------------------------------------------
    def index_at(self, offset: int) -> int:
        """The sentence that contains (or follows) a character offset."""
        for i, s in enumerate(self.sentences):
            if s.end > offset:
                return i
        return max(0, len(self.sentences) - 1)

    @property
    def sentence(self) -> Sentence | None:
        return self.sentences[self.current] if self.sentences else None

    def _save(self) -> None:
        s = self.sentence
        try:
            self.state = self.store.save(self.state.with_(offset=s.start if s else 0))
        except OSError as exc:
            self._emit("error", f"Could not save the reading position ({exc.strerror}); reading goes on.")

    def _place(self, index: int) -> None:
        if not self.sentences:
            return
        index = max(0, min(index, len(self.sentences) - 1))
        if index != self.current:
            self.word = 0
        self.current = index
        self._save()
        self._emit("position", sentence=index)

    def move_to(self, index: int) -> None:
        """Go to a sentence; while reading, reading goes on from there (like NVDA's say all)."""
        playing = self.status == "playing" and self._reading
        self._halt()
        self._place(index)
        if playing:
            self.play()
        elif self.status == "paused":
            self._set_status("stopped")

    def position_text(self) -> str:
        if not self.sentences:
            return "The document is empty."
        s = self.sentences[self.current]
        block = self.document.blocks[s.block]
        pct = round(100 * s.start / max(1, len(self.document.text)))
        parts = [f"Sentence {self.current + 1} of {len(self.sentences)}"]
        if block.page:
            pages = max((b.page or 0) for b in self.document.blocks)
            parts.append(f"page {block.page} of {pages}")
        if block.chapter:
            parts.append(f"chapter {block.chapter}")
        parts.append(f"{pct} percent")
        left = (len(self.document.text) - s.start) / (CHARS_PER_SECOND * self.state.rate)
        parts.append(_duration_text(left) + " left")
        return ", ".join(parts) + "."

    # -- moving ------------------------------------------------------------------------------------
    def next_sentence(self) -> None:
        if self.current + 1 >= len(self.sentences):
            self.announce("End of document.")
            return
        self.move_to(self.current + 1)

    def previous_sentence(self) -> None:
        if self.current == 0:
            self.announce("Start of document.")
            return
        self.move_to(self.current - 1)

    def first(self) -> None:
        self.move_to(0)

    def last(self) -> None:
        self.move_to(len(self.sentences) - 1)

    def _block_start(self, block: int) -> int | None:
        for i, s in enumerate(self.sentences):
            if s.block == block:
                return i
        return None

    def jump_block(self, step: int, kind: BlockKind | None = None) -> None:
        """Next/previous paragraph (any block) or heading."""
        if not self.sentences:
            return
        blocks = self.document.blocks
        b = self.sentences[self.current].block + step
        while 0 <= b < len(blocks) and (
            (kind is not None and blocks[b].kind is not kind) or self._block_start(b) is None
        ):
            b += step
        if not 0 <= b < len(blocks):
            what = "headings" if kind is BlockKind.HEADING else "paragraphs"
            self.announce(f"No more {what}.")
            return
        self.move_to(self._block_start(b))

    def jump_page(self, step: int) -> None:
        """Next/previous page of a PDF; elsewhere a screenful of sentences."""
        if not self.sentences:
            return
        page = self.document.blocks[self.sentences[self.current].block].page
        if page is None:
            target = self.current + step * SENTENCES_PER_PAGE
            if not 0 <= target < len(self.sentences):
                self.announce("No more pages.")
                return
            self.move_to(target)
            return
        want = page + step
        for i, s in enumerate(self.sentences):
            if self.document.blocks[s.block].page == want:
                self.move_to(i)
                return
        self.announce("No more pages.")

    def find(self, needle: str, *, forward: bool = True) -> bool:
        """Move to the next (or previous) sentence containing `needle`, case-insensitively."""
        needle = needle.strip().casefold()
        if not needle or not self.sentences:
            return False
        n = len(self.sentences)
        for k in range(1, n + 1):
            i = (self.current + (k if forward else -k)) % n
            if needle in self.sentences[i].text.casefold():
                self.move_to(i)
                return True
        self.announce(f"{needle} was not found.")
        return False

    # -- words -------------------------------------------------------------------------------------
    def _words(self) -> list[str]:
        s = self.sentence
        return s.text.split() if s else []

    def move_word(self, step: int) -> str:
        words = self._words()
        if not words:
            return ""
        self.word = max(0, min(self.word + step, len(words) - 1))
        word = words[self.word]
        self.announce(word)
        return word

    def spell_word(self) -> str:
        words = self._words()
        if not words:
            return ""
        word = words[min(self.word, len(words) - 1)].strip(".,;:!?\"'()[]“”‘’。，！？；：")
        spelled = " ".join(_letter_name(ch) for ch in word)
        self.announce(spelled)
        return spelled

    # -- bookmarks ---------------------------------------------------------------------------------
    def add_bookmark(self, label: str | None = None) -> Bookmark:
        s = self.sentence
        if s is None:
            raise ReaderError("The document is empty; there is nothing to bookmark.")
        label = label or " ".join(s.text.split()[:8])
        mark = Bookmark(offset=s.start, label=label, created=time.time())
        others = tuple(b for b in self.state.bookmarks if b.offset != s.start)
        marks = tuple(sorted(others + (mark,), key=lambda b: b.offset))
        self.state = self.state.with_(bookmarks=marks)
        self._save()
        self.announce(f"Bookmark added: {label}.")
        return mark

    def bookmarks(self) -> tuple[Bookmark, ...]:
        return self.state.bookmarks

    def jump_to_bookmark(self, mark: Bookmark) -> None:
        self.move_to(self.index_at(mark.offset))

    def remove_bookmark(self, mark: Bookmark) -> None:
        self.state = self.state.with_(bookmarks=tuple(b for b in self.state.bookmarks if b != mark))
        self._save()

    # -- voice and prosody -------------------------------------------------------------------------
    def _restart_if_playing(self) -> None:
        if self.status == "playing" and self._reading:
            self._halt()
            self.play()

    def _change(self, said: str | None = None, **changes: Any) -> None:
        """Change this document's reading state, save it, go on reading with it; when not reading, say
        `said` (a word of self-voicing: the new rate, pitch or punctuation)."""
        self.state = self.state.with_(**changes)
        self._save()
        self._restart_if_playing()
        if said is not None and self.status != "playing":
            self.announce(said)

    def change_rate(self, step: int) -> float:
        rate = round(min(RATE_MAX, max(RATE_MIN, self.state.rate + step * RATE_STEP)), 2)
        self._change(f"Rate {round(rate * 100)} percent.", rate=rate)
        return rate

    def change_pitch(self, step: int) -> float:
        pitch = round(min(PITCH_MAX, max(PITCH_MIN, self.state.pitch + step * PITCH_STEP)), 2)
        self._change(f"Pitch {round(pitch * 100)} percent.", pitch=pitch)
        return pitch

    def set_voice(self, voice: str | None) -> None:
        self._change(voice=voice)

    def cycle_punctuation(self) -> str:
        current = self.state.punctuation or self.settings.punctuation
        level = PUNCTUATION_LEVELS[(PUNCTUATION_LEVELS.index(current) + 1) % len(PUNCTUATION_LEVELS)]
        self._change(f"Punctuation {level}.", punctuation=level)
        return level

    @property
    def chosen_voice(self) -> str | None:
        """This document's voice, else the reading voice chosen with `reader voices use`."""
        return self.state.voice or getattr(self.settings, "voice", None)

    @property
    def voice(self) -> str | None:
        """The voice reading now: the chosen one, except an enrolled voice ("vault:ID") that has not been
        loaded from the unlocked vault (use_vault), which reads with the default voice until it is."""
        voice = self.chosen_voice
        if voice and voice.startswith(VAULT_PREFIX) and not self._enrolled_ready(voice):
            return None
        return voice

    @property
    def voice_label(self) -> str:
        """The voice as the status line shows it."""
        voice = self.chosen_voice
        if voice and voice.startswith(VAULT_PREFIX):
            label = self._synth.voice_label(voice) if self._enrolled_ready(voice) else None
            return label or "enrolled voice (locked; default voice reads)"
        return voice or "default voice"

    def _enrolled_ready(self, voice: str) -> bool:
        return self._synth is not None and self._synth.has_voice(voice)

    def use_vault(self, vault: Any) -> bool:
        """With the vault unlocked, the chosen enrolled voice can read: its preset's embedding is
        decrypted into memory and handed to the synthesizer (never written anywhere). Blocking (it may
        load a pack): call it from a worker thread. Returns whether the voice is ready now."""
        voice = self.chosen_voice
        if not voice or not voice.startswith(VAULT_PREFIX):
            return False
        if self._enrolled_ready(voice):
            return True
        from reader.voices.enroll import load_enrolled_voice

        try:
            label = load_enrolled_voice(voice, vault, self.synthesizer())
        except ReaderError as exc:
            self._emit("error", exc.message)
            return False
        self._emit("state")
        if self.status == "playing" and self._reading:
            self._restart_if_playing()
        else:
            self.announce(f"Reading with {label}.")
        return True

    def options(self, **changes: Any) -> Any:
        from reader.speech.synthesizer import SynthesisOptions

        values = {"voice": self.voice, "rate": self.state.rate, "pitch": self.state.pitch}
        return SynthesisOptions(**{**values, **changes})

    # -- speech ------------------------------------------------------------------------------------
    def synthesizer(self) -> Any:
        """The synthesizer, made on first use (it finds and verifies the packs; stages load lazily)."""
        with self._synth_lock:
            if self._synth is None:
                from reader.speech.synthesizer import Synthesizer

                punctuation = self.state.punctuation or self.settings.punctuation
                self._synth = Synthesizer.load(self.settings.with_(punctuation=punctuation),
                                               on_notice=lambda n: self._emit("notice", n.message, n.sentence_id))
            return self._synth

    def warm_up(self) -> None:
        """Load the voice in the background, so the first play is fast."""

        def work() -> None:
            try:
                self._emit("progress", "Loading the voice…", data=0.0)
                synth = self.synthesizer()
                name = synth.default_pack
                if name:
                    synth.pipeline(name).warm_up()
                self._emit("progress", "Voice ready.", data=1.0)
            except ReaderError as exc:
                self._emit("error", exc.message)
            except Exception as exc:  # pragma: no cover - shown, never raised into the UI
                log.exception("warm-up failed")
                self._emit("error", f"The voice could not be loaded ({exc}).")

        threading.Thread(target=work, name="voice-warm-up", daemon=True).start()

    def _ensure_player(self) -> Any:
        if self._player is None:
            from reader.audio.player import Player

            factory = self._player_factory or Player
            player = factory(on_position=self._on_position, on_error=self._on_player_error,
                             on_finished=self._on_finished)
            player.start()
            self._player = player
        return self._player

    def _speech_items(self, start: int, end: int | None = None) -> list[Any]:
        from reader.speech.synthesizer import SpeechText

        return [SpeechText(s.id, s.text, s.lang if self.lang == "auto" else self.lang)
                for s in self.sentences[start:end]]

    def play(self) -> None:
        """Read from the current sentence to the end (or resume after a pause)."""
        if not self.sentences:
            self.announce("The document is empty; there is nothing to read.")
            return
        if self.status == "paused" and self._reading and self._player is not None:
            try:
                self._player.resume()
            except ReaderError as exc:
                self._emit("error", exc.message)
                return
            self._set_status("playing")
            return
        self._start(self._speech_items(self.current), reading=True)

    def repeat(self) -> None:
        """Say the current sentence again, then stop."""
        if self.sentence is not None:
            self._start(self._speech_items(self.current, self.current + 1), reading=True)

    def toggle(self) -> None:
        if self.status == "playing":
            self.pause()
        else:
            self.play()

    def pause(self) -> None:
        if self.status == "playing" and self._player is not None:
            self._player.pause()
            self._set_status("paused")

    def stop(self) -> None:
        self._halt()
        self._set_status("stopped")

    def forget_voice(self, *specs: str | None) -> None:
        """A voice was deleted: drop its enrolled form from memory, and if this document reads with any of
        `specs` (its "vault:ID" or its blend spec), read with the default voice."""
        for spec in specs:
            if spec and self._synth is not None:
                self._synth.forget_voice(spec)
        if self.state.voice and self.state.voice in specs:
            self.set_voice(None)
        self._emit("state")

    def hush(self) -> None:
        """Silence the app's own speech and any reading (reading pauses): before recording from the
        microphone, which would otherwise record the reader's voice along with the person's."""
        was_reading = self.status == "playing"
        self._halt()
        if was_reading:
            self._set_status("paused")

    def _halt(self) -> None:
        """Silence now and abandon queued synthesis."""
        with self._lock:
            self._generation += 1
            if self._synth is not None:
                self._synth.cancel()
            if self._player is not None:
                self._player.stop()
            self._reading = False

    def announce(self, text: str) -> None:
        """The app's own speech (self-voicing): interrupts reading, which then waits for play."""
        self._emit("message", text)
        if not self.self_voicing or not text:
            return
        was_reading = self.status == "playing" and self._reading
        self._halt()
        if was_reading or self.status == "paused":
            self._set_status("paused" if was_reading else self.status)
        from reader.speech.synthesizer import SpeechText

        self._start([SpeechText(ANNOUNCE_ID, text, "auto")], reading=False)

    def _start(self, items: list[Any], *, reading: bool) -> None:
        with self._lock:
            self._halt()
            generation = self._generation
            self._reading = reading
        if reading:
            self._set_status("playing")
            voice = self.chosen_voice
            if voice and voice.startswith(VAULT_PREFIX) and not self._enrolled_ready(voice) \
                    and not self._locked_voice_said:
                self._locked_voice_said = True
                self._emit("message", ENROLLED_VOICE_LOCKED)
        options = self.options() if reading else self.options(rate=max(1.0, self.state.rate), pitch=1.0)
        self._feeder = threading.Thread(target=self._feed, args=(generation, items, options, reading),
                                        name="speech-feeder", daemon=True)
        self._feeder.start()

    def _feed(self, generation: int, items: list[Any], options: Any, reading: bool) -> None:
        try:
            synth = self.synthesizer()
            player = self._ensure_player()
            for chunk in synth.stream(items, options):
                with self._lock:
                    if generation != self._generation:
                        return
                    player.enqueue(chunk)
                if chunk.last and chunk.times is not None and chunk.sentence_id >= 0:
                    self._emit("timing", sentence=chunk.sentence_id,
                               data={"pack": chunk.pack, **chunk.times.as_dict(),
                                     "queue_s": player.queued_seconds()})
            with self._lock:
                if generation == self._generation:
                    player.end_of_stream()
        except ReaderError as exc:
            with self._lock:
                if generation != self._generation:
                    return
            if reading:
                self._set_status("stopped")
            self._emit("error", exc.message)
        except Exception as exc:  # pragma: no cover - shown to the user, logged for the debug panel
            log.exception("reading failed")
            self._set_status("stopped")
            self._emit("error", f"Reading stopped because of an internal error ({exc}).")

    # -- player callbacks (from the player's notifier thread) -------------------------------------
    def _on_position(self, position: Any) -> None:
        sid = position.sentence_id
        if sid is None or sid < 0 or not self._reading:
            return
        if sid != self.current:
            self._place(sid)

    def _on_finished(self) -> None:
        if self._reading and self.status == "playing":
            self._reading = False
            self._set_status("stopped")
            if self.current >= len(self.sentences) - 1:
                self._emit("message", "End of document.")

    def _on_player_error(self, error: Any) -> None:
        self._set_status("paused")
        self._emit("error", getattr(error, "message", str(error)))

    # -- export ------------------------------------------------------------------------------------
    def export(self, path: Path, *, start: int | None = None, end: int | None = None,
               cancel: threading.Event | None = None, progress: Callable[[float], None] | None = None) -> Path:
        """Write sentences start..end (default: all) to a WAV file; cancellable; returns the path."""
        from reader.audio.sink import WavSink

        start = 0 if start is None else start
        end = len(self.sentences) if end is None else end
        items = self._speech_items(start, end)
        if not items:
            raise ReaderError("There is nothing to export.")
        synth = self.synthesizer()
        sink = WavSink(path)
        done = 0
        try:
            for chunk in synth.stream(items, self.options()):
                if cancel is not None and cancel.is_set():
                    synth.cancel()
                    sink.abort()
                    raise ReaderError("Export cancelled; no file was written.")
                sink.write(chunk.samples, chunk.sample_rate)
                if chunk.last:
                    done += 1
                    if progress is not None:
                        progress(done / len(items))
        except BaseException:
            sink.abort()
            raise
        sink.close()
        return Path(path)

    def close(self) -> None:
        self._halt()
        if self._synth is not None:
            # Let the synthesis thread leave onnxruntime before the process may exit: a native thread
            # still running at interpreter exit aborts the process.
            self._synth.join(timeout=5.0)
        self._save()
        if self._player is not None:
            self._player.close()
            self._player = None


def _duration_text(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} hour{'s' if hours != 1 else ''} {minutes} minutes"


_SYMBOL_NAMES = {"-": "dash", "'": "apostrophe", "’": "apostrophe", "@": "at", ".": "dot", "_": "underscore",
                 "&": "and", "/": "slash"}


def _letter_name(ch: str) -> str:
    if ch.isupper():
        return f"capital {ch}"
    return _SYMBOL_NAMES.get(ch, ch)
