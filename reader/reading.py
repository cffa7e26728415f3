"""A reading session: one document, its sentences, the place and the reading preferences, read through
the app's speech channel (reader.channel: the synthesizer and the player).

The front ends (the TUI, tests) drive it with plain method calls and hear back through `on_event`; it
never imports a UI. Blocking work (loading packs, synthesis) runs in threads; every method returns at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from reader.channel import ANNOUNCE_ID, SpeechChannel
from reader.errors import ReaderError
from reader.settings import PUNCTUATION_LEVELS, STRUCTURE_LEVELS, Settings
from reader.speech.prosody import RATE_MAX, RATE_MIN, RATE_STEP
from reader.state import Bookmark, DocumentState, StateStore, document_key
from reader.text.document import BlockKind, Document, Sentence
from reader.text.words import spell, split_words
from reader.voices import VAULT_PREFIX

log = logging.getLogger(__name__)

ENROLLED_VOICE_LOCKED = ("The reading voice is an enrolled family voice: unlock the vault (press V) to read with "
                         "it; until then the default voice reads.")
PITCH_STEP, PITCH_MIN, PITCH_MAX = 0.05, 0.7, 1.4
# Speaking rate at 1.0 by language, until the voice has been measured reading this document: about 15
# characters a second for English and 4.5 for Mandarin (about 270 characters a minute).
CHARS_PER_SECOND = {"en": 15.0, "zh": 4.5}
# Sentences counted as a "page" when the document has no pages (a screenful, as in NVDA's browse mode).
SENTENCES_PER_PAGE = 20
# What each kind of block is called when it is entered (NVDA's document formatting), by language.
_KIND_NAMES = {
    "en": {BlockKind.HEADING: "Heading level {level}", BlockKind.LIST_ITEM: "List item",
           BlockKind.TABLE_ROW: "Table row", BlockKind.TABLE_CELL: "Table cell", BlockKind.CAPTION: "Caption"},
    "zh": {BlockKind.HEADING: "{level}级标题", BlockKind.LIST_ITEM: "列表项",
           BlockKind.TABLE_ROW: "表格行", BlockKind.TABLE_CELL: "表格", BlockKind.CAPTION: "图注"},
}
# Said before a link inside a sentence (structure verbosity "all"). Images are not here: the extractors
# write "image: ..." into the text, so that it is heard at every verbosity and not said twice.
_SPAN_NAMES = {"en": {"link": "link, "}, "zh": {"link": "链接，"}}
SCOPES = ("all documents", "this document")


def _spoken_lang(sentence: Any) -> str:
    """A sentence's language: its own, or its script's when it is "auto"."""
    from reader.text.sentences import detect_lang

    return sentence.lang if sentence.lang != "auto" else detect_lang(sentence.text)


@dataclass(frozen=True)
class ReadingEvent:
    """What happened: kind is one of position, state, message, error, timing, progress, notice, settings."""

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
        channel: SpeechChannel | None = None,
    ) -> None:
        from reader.text.sentences import document_sentences

        self.document = document
        self.settings = settings
        self.on_event = on_event
        self.sentences: list[Sentence] = document_sentences(document, max_tokens=settings.max_tokens)
        self.store = store or StateStore(settings.home)
        self.state: DocumentState = self.store.load(
            document_key(document.source, document.text), source=document.source, title=document.title
        )
        self.current = self.index_at(self.state.offset)
        self.status = "stopped"  # stopped | playing | paused
        self.word = 0  # the word cursor inside the current sentence (spell current word)
        self.lang = "auto"  # language detection: "auto" per sentence, or "en" / "zh" for all
        self._own_channel = channel is None
        self.channel = channel or SpeechChannel(settings, synthesizer=synthesizer, player_factory=player_factory,
                                                self_voicing=self_voicing)
        self.channel.self_voicing = self_voicing
        self.channel.listener = self
        self.channel.on_notice = lambda n: self._emit("notice", n.message, n.sentence_id)
        self._reading = False  # the player holds document sentences (not an announcement)
        self._locked_voice_said = False
        self._suffix: tuple[str, dict[str, list[int]]] | None = None
        self._spoken: dict[str, list[float]] = {}  # language -> [characters, seconds at rate 1] heard
        # Per-document overrides chosen with the scope "this document" (reopened documents keep theirs).
        self.scope = SCOPES[1] if self.state.has_overrides else SCOPES[0]

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

    @property
    def self_voicing(self) -> bool:
        return self.channel.self_voicing

    @self_voicing.setter
    def self_voicing(self, value: bool) -> None:
        self.channel.self_voicing = value

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

    def move_to(self, index: int, *, prefix: str = "") -> None:
        """Go to a sentence; while reading, reading goes on from there (like NVDA's say all); while
        stopped, the sentence is spoken at once (and cut off by the next key), as screen readers do."""
        playing = self.status == "playing" and self._reading
        if not prefix:  # the message line must not keep saying "Heading level 1." on sentence 22
            self._emit("message", "")
        self._halt()
        self._place(index)
        if playing:
            self.play()
            return
        if self.status == "paused":
            self._set_status("stopped")
        self._preview(self.current, prefix)

    def preview(self, *, queue: bool = False) -> None:
        """Say the current sentence without reading on (after the greeting, with `queue`)."""
        self._preview(self.current, self._entering(self.current), queue=queue)

    def _preview(self, index: int, prefix: str = "", *, queue: bool = False) -> None:
        """Say one sentence (with what kind of block it starts) without reading on, in the reading voice."""
        if not self.self_voicing or not self.sentences:
            if prefix:
                self._emit("message", prefix)
            return
        from reader.speech.synthesizer import SpeechText

        item = self._speech_items(index, index + 1, labels=False)[0]  # the prefix says what it starts
        if prefix:
            self._emit("message", prefix)
            item = SpeechText(item.id, f"{prefix} {item.text}", item.lang)
        self.channel.speak([item], self.options(rate=max(1.0, self.rate)), queue=queue, on_error=self._speech_error)

    def _speech_error(self, exc: ReaderError) -> None:
        self._emit("error", exc.message)

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
        parts.append(_duration_text(self.seconds_left()) + " left")
        return ", ".join(parts) + "."

    def chars_per_second(self, lang: str) -> float:
        """How fast the voice reads `lang` at rate 1: measured on this document's sentences as they are
        spoken, until then a typical figure for the language."""
        chars, seconds = self._spoken.get(lang, (0.0, 0.0))
        if seconds >= 3.0:
            return chars / seconds
        return CHARS_PER_SECOND.get(lang, CHARS_PER_SECOND["en"])

    def seconds_left(self) -> float:
        """Listening time from the current sentence to the end, per language at the current rate."""
        suffix = self._chars_from()
        total = sum(chars[self.current] / self.chars_per_second(lang) for lang, chars in suffix.items())
        return total / self.rate

    def _chars_from(self) -> dict[str, list[int]]:
        """For each language, the characters from each sentence to the end (made once per language
        mode: the status line asks on every move, and a book has tens of thousands of sentences)."""
        if self._suffix is not None and self._suffix[0] == self.lang:
            return self._suffix[1]
        n = len(self.sentences)
        langs = [self.lang if self.lang != "auto" else _spoken_lang(s) for s in self.sentences]
        suffix: dict[str, list[int]] = {lang: [0] * (n + 1) for lang in set(langs)}
        for i in range(n - 1, -1, -1):
            for lang, chars in suffix.items():
                chars[i] = chars[i + 1] + (len(self.sentences[i].text) if langs[i] == lang else 0)
        self._suffix = (self.lang, suffix)
        return suffix

    def _measured(self, chunk: Any, player: Any) -> None:
        """A sentence was synthesized: count its characters against its audio, for the time left."""
        sid = chunk.sentence_id
        if 0 <= sid < len(self.sentences) and chunk.times.audio_s > 0:
            s = self.sentences[sid]
            lang = _spoken_lang(s)
            counted = self._spoken.setdefault(lang, [0.0, 0.0])
            counted[0] += len(s.text)
            counted[1] += chunk.times.audio_s * self.rate
            self._emit("timing", sentence=sid, data={"pack": chunk.pack, **chunk.times.as_dict(),
                                                     "queue_s": player.queued_seconds()})

    # -- moving ------------------------------------------------------------------------------------
    def next_sentence(self) -> None:
        if self.current + 1 >= len(self.sentences):
            self.announce("End of document.")
            return
        self.move_to(self.current + 1, prefix=self._entering(self.current + 1))

    def previous_sentence(self) -> None:
        if self.current == 0:
            self.announce("Start of document.")
            return
        self.move_to(self.current - 1, prefix=self._entering(self.current - 1))

    def first(self) -> None:
        self.move_to(0, prefix="Start of document." if self.sentences else "")

    def last(self) -> None:
        self.move_to(len(self.sentences) - 1, prefix="End of document." if self.sentences else "")

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
        index = self._block_start(b)
        self.move_to(index, prefix=self._entering(index, force=kind is BlockKind.HEADING))

    def jump_page(self, step: int) -> None:
        """Next/previous page of a PDF; elsewhere a screenful of sentences."""
        if not self.sentences:
            return
        page = self.document.blocks[self.sentences[self.current].block].page
        if page is None:
            # A screenful on, or as far as the document goes: the last (first) sentence, as a screen reader's
            # Page Down in a short document goes to its end; only there is there no more.
            target = min(max(self.current + step * SENTENCES_PER_PAGE, 0), len(self.sentences) - 1)
            if target == self.current:
                self.announce("No more pages.")
                return
            self.move_to(target, prefix=self._entering(target))
            return
        want = page + step
        for i, s in enumerate(self.sentences):
            if self.document.blocks[s.block].page == want:
                self.move_to(i, prefix=f"Page {want}." + (" " + self._entering(i) if self._entering(i) else ""))
                return
        self.announce("No more pages.")

    def find(self, needle: str, *, forward: bool = True) -> bool:
        """Move to the next (or previous) sentence containing `needle`, case-insensitively; the hit is
        spoken, and passing the end says so ("Wrapped to the start.")."""
        needle = needle.strip().casefold()
        if not needle or not self.sentences:
            return False
        n = len(self.sentences)
        for k in range(1, n + 1):
            i = (self.current + (k if forward else -k)) % n
            if needle in self.sentences[i].text.casefold():
                wrapped = (i <= self.current) if forward else (i >= self.current)
                prefix = ""
                if wrapped and i == self.current:
                    prefix = "Only this match."
                elif wrapped:
                    prefix = "Wrapped to the start." if forward else "Wrapped to the end."
                self.move_to(i, prefix=" ".join(p for p in (prefix, self._entering(i)) if p))
                return True
        self.announce(f"{needle} was not found.")
        return False

    def _entering(self, index: int, *, force: bool = False) -> str:
        """What kind of block the sentence at `index` starts ("Heading level 2"), by the structure
        verbosity setting: "off", "headings" or "all"; "" inside a block or for a paragraph."""
        if not self.sentences or not 0 <= index < len(self.sentences):
            return ""
        s = self.sentences[index]
        if index > 0 and self.sentences[index - 1].block == s.block:
            return ""
        block = self.document.blocks[s.block]
        level = self.settings.structure
        if level == "off" and not force or (level == "headings" and block.kind is not BlockKind.HEADING):
            return ""
        lang = _spoken_lang(s)
        name = _KIND_NAMES.get(lang, _KIND_NAMES["en"]).get(block.kind)
        if name is None:
            return ""
        text = name.format(level=block.level or 1)
        return text + ("：" if lang == "zh" else ".")

    # -- words -------------------------------------------------------------------------------------
    def _words(self) -> list[str]:
        s = self.sentence
        return split_words(s.text) if s else []

    def move_word(self, step: int) -> str:
        words = self._words()
        if not words:
            return ""
        at_edge = not 0 <= self.word + step < len(words)
        self.word = max(0, min(self.word + step, len(words) - 1))
        word = words[self.word]
        self._say_content(word + (" " + ("End of sentence." if step > 0 else "Start of sentence.") if at_edge else ""))
        return word

    def spell_word(self) -> str:
        words = self._words()
        if not words:
            return ""
        spelled = spell(words[min(self.word, len(words) - 1)])
        self._say_content(spelled)
        return spelled

    def _say_content(self, text: str) -> None:
        """Say a piece of the document (a word, its spelling) in the reading voice, which speaks its
        language; reading, if it was going on, pauses."""
        self._emit("message", text)
        if not self.self_voicing:
            return
        from reader.speech.synthesizer import SpeechText

        self._interrupt_reading()
        self.channel.speak([SpeechText(ANNOUNCE_ID, text, self.lang)], self.options(rate=max(1.0, self.rate)),
                           on_error=self._speech_error)

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
        self.move_to(self.index_at(mark.offset), prefix="Bookmark.")

    def remove_bookmark(self, mark: Bookmark) -> None:
        self.state = self.state.with_(bookmarks=tuple(b for b in self.state.bookmarks if b != mark))
        self._save()

    # -- preferences: for every document, or for this one --------------------------------------------
    @property
    def rate(self) -> float:
        return self.state.rate if self.state.rate is not None else self.settings.rate

    @property
    def pitch(self) -> float:
        return self.state.pitch if self.state.pitch is not None else self.settings.pitch

    @property
    def punctuation(self) -> str:
        return self.state.punctuation or self.settings.punctuation

    def toggle_scope(self) -> str:
        """Whether rate, pitch, voice and punctuation changes apply to every document (saved in
        settings.json) or to this one only (saved with its place). Going back to every document drops
        this document's own choices."""
        if self.scope == SCOPES[0]:
            self.scope = SCOPES[1]
            self.state = self.state.with_(rate=self.rate, pitch=self.pitch, punctuation=self.punctuation,
                                          voice=self.state.voice or self.settings.voice)
            said = "Changes now apply to this document only."
        else:
            self.scope = SCOPES[0]
            self.state = self.state.with_(rate=None, pitch=None, punctuation=None, voice=None)
            said = "Changes now apply to all documents; this document's own settings are dropped."
        self._save()
        self._restart_if_playing()
        self._emit("state")
        self.announce(said)
        return self.scope

    def _restart_if_playing(self) -> None:
        if self.status == "playing" and self._reading:
            self._halt()
            self.play()

    def _change(self, said: str | None = None, **changes: Any) -> None:
        """Change a reading preference for the current scope, save it, go on reading with it; when not
        reading, say `said` and which documents it applies to."""
        if self.scope == SCOPES[1]:
            self.state = self.state.with_(**changes)
            self._save()
        else:
            self.settings = self.settings.with_(**changes)
            try:
                self.settings.save()
            except OSError as exc:
                self._emit("error", f"Could not save the settings ({exc.strerror}); the change holds until you quit.")
            self._emit("settings", data=self.settings)
        self._restart_if_playing()
        if said is not None and self.status != "playing":
            self.announce(f"{said} For {self.scope}.")

    def change_rate(self, step: int) -> float:
        rate = round(min(RATE_MAX, max(RATE_MIN, self.rate + step * RATE_STEP)), 2)
        self._change(f"Rate {round(rate * 100)} percent.", rate=rate)
        return rate

    def change_pitch(self, step: int) -> float:
        pitch = round(min(PITCH_MAX, max(PITCH_MIN, self.pitch + step * PITCH_STEP)), 2)
        self._change(f"Pitch {round(pitch * 100)} percent.", pitch=pitch)
        return pitch

    def set_voice(self, voice: str | None, label: str | None = None) -> None:
        """Read with `voice` (None: each language's default); `label` is what is said for it ("Heart,
        American English, female"), else its id."""
        self._change(f"Voice {label or voice or 'default'}.", voice=voice)

    def cycle_punctuation(self) -> str:
        current = self.punctuation
        level = PUNCTUATION_LEVELS[(PUNCTUATION_LEVELS.index(current) + 1) % len(PUNCTUATION_LEVELS)]
        self._change(f"Punctuation {level}.", punctuation=level)
        return level

    def cycle_structure(self) -> str:
        """How much of the document's structure is announced: off, headings, all (headings with their
        level, list items, table rows, captions and links)."""
        level = STRUCTURE_LEVELS[(STRUCTURE_LEVELS.index(self.settings.structure) + 1) % len(STRUCTURE_LEVELS)]
        self.settings = self.settings.with_(structure=level)
        try:
            self.settings.save()
        except OSError as exc:
            self._emit("error", f"Could not save the settings ({exc.strerror}); the change holds until you quit.")
        self._emit("settings", data=self.settings)
        names = {"off": "off", "headings": "headings only",
                 "all": "headings with their level, list items, table rows, captions and links"}
        self.announce(f"Structure announcements: {names[level]}.")
        return level

    @property
    def chosen_voice(self) -> str | None:
        """This document's voice, else the reading voice for every document (`reader voices use`)."""
        return self.state.voice or self.settings.voice

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
            label = self.channel.loaded.voice_label(voice) if self._enrolled_ready(voice) else None
            return label or "enrolled voice (locked; default voice reads)"
        return voice or "default voice"

    def _enrolled_ready(self, voice: str) -> bool:
        synth = self.channel.loaded
        return synth is not None and synth.has_voice(voice)

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

        values = {"voice": self.voice, "rate": self.rate, "pitch": self.pitch}
        return SynthesisOptions(**{**values, **changes})

    # -- speech ------------------------------------------------------------------------------------
    def synthesizer(self) -> Any:
        """The channel's synthesizer, made on first use (it finds and verifies the packs)."""
        return self.channel.synthesizer()

    def warm_up(self) -> None:
        """Load the voice of the document's first sentence in the background, so the first play is fast."""

        def work() -> None:
            try:
                self._emit("progress", "Loading the voice…", data=0.0)
                synth = self.synthesizer()
                s = self.sentence
                lang = _spoken_lang(s) if s else "en"
                name = synth.pack_for_voice(self.voice) if self.voice else None
                name = name or synth.default_pack_for(lang)
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
        return self.channel.player()

    def _speech_items(self, start: int, end: int | None = None, *, labels: bool = True) -> list[Any]:
        """The sentences as the voice gets them, each block's first sentence led by what kind of block
        it is ("Heading level 2. ...") and links named where they start ("link, Home"),
        when the structure verbosity says so."""
        from reader.speech.synthesizer import SpeechText

        items = []
        for i, s in enumerate(self.sentences[start:end], start):
            label = self._entering(i) if labels else ""
            text = self._with_spans(i)
            text = f"{label} {text}" if label else text
            items.append(SpeechText(s.id, text, s.lang if self.lang == "auto" else self.lang))
        return items

    def _with_spans(self, index: int) -> str:
        """The sentence's text with "link," said before each link in it, as NVDA does in browse mode
        (structure verbosity "all" only)."""
        s = self.sentences[index]
        block = self.document.blocks[s.block]
        if self.settings.structure != "all" or not block.spans:
            return s.text
        if self.document.text[s.start:s.end] != s.text:
            return s.text  # not a plain slice of the document: offsets would not line up
        names = _SPAN_NAMES.get(_spoken_lang(s), _SPAN_NAMES["en"])
        text = s.text
        # From the end (block.spans are in order of their start), so earlier offsets stay valid; a span
        # that began in an earlier sentence is named where this sentence starts.
        for span in reversed(block.spans):
            start, end = block.start + span.start, block.start + span.end
            if end <= s.start or start >= s.end or span.kind not in names:
                continue
            at = max(start, s.start) - s.start
            text = text[:at] + names[span.kind] + text[at:]
        return text

    def play(self) -> None:
        """Read from the current sentence to the end (or resume after a pause)."""
        if not self.sentences:
            self.announce("The document is empty; there is nothing to read.")
            return
        player = self.channel.has_player
        if self.status == "paused" and self._reading and player is not None:
            try:
                player.resume()
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
        player = self.channel.has_player
        if self.status == "playing" and player is not None:
            player.pause()
            self._set_status("paused")

    def stop(self) -> None:
        self._halt()
        self._set_status("stopped")

    def forget_voice(self, *specs: str | None) -> None:
        """A voice was deleted: drop its enrolled form from memory, and if this document reads with any of
        `specs` (its "vault:ID" or its blend spec), read with the default voice."""
        synth = self.channel.loaded
        for spec in specs:
            if spec and synth is not None:
                synth.forget_voice(spec)
        if self.state.voice and self.state.voice in specs:
            self.state = self.state.with_(voice=None)
            self._save()
        if self.settings.voice and self.settings.voice in specs:
            self.settings = self.settings.with_(voice=None)
            self._emit("settings", data=self.settings)
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
        self.channel.halt()
        self._reading = False

    def _interrupt_reading(self) -> None:
        """The app speaks over the reading: reading stops where it is and waits for play."""
        was_reading = self.status == "playing" and self._reading
        self._halt()
        if was_reading:
            self._set_status("paused")

    def announce(self, text: str, *, queue: bool = False) -> None:
        """The app's own speech (self-voicing) in the interface voice: interrupts reading, which then
        waits for play (`queue`: after the speech under way)."""
        self._emit("message", text)
        if not self.self_voicing or not text:
            return
        if not queue:
            self._interrupt_reading()
        self.channel.say(text, queue=queue, rate=self.rate)

    def say_over(self, text: str) -> None:
        """Say something without losing the reading (where am I, while reading): the answer is said in
        the interface voice, then reading goes on from the sentence it was in; when not reading, it is
        only said."""
        self._emit("message", text)
        if not self.self_voicing or not text:
            return
        if not (self.status == "playing" and self._reading):
            self.channel.say(text, rate=self.rate)
            return
        self.channel.say(text, rate=self.rate)  # halts the reading, which goes on right after it
        self._reading = True
        self.channel.speak(self._speech_items(self.current), self.options(), queue=True,
                           on_error=self._reading_error, on_timing=self._measured)

    def _start(self, items: list[Any], *, reading: bool) -> None:
        self._halt()
        self._reading = reading
        if reading:
            self._set_status("playing")
            voice = self.chosen_voice
            if voice and voice.startswith(VAULT_PREFIX) and not self._enrolled_ready(voice) \
                    and not self._locked_voice_said:
                self._locked_voice_said = True
                self._emit("message", ENROLLED_VOICE_LOCKED)
        options = self.options() if reading else self.options(rate=max(1.0, self.rate), pitch=1.0)
        self.channel.speak(items, options, on_error=self._reading_error if reading else self._speech_error,
                           on_timing=self._measured)

    def _reading_error(self, exc: ReaderError) -> None:
        self._set_status("stopped")
        self._emit("error", exc.message)

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
                self.announce("End of document.")

    def _on_player_error(self, error: Any) -> None:
        self._set_status("paused")
        self._emit("error", getattr(error, "message", str(error)))

    # -- export ------------------------------------------------------------------------------------
    def export(self, path: Path, *, start: int | None = None, end: int | None = None,
               cancel: threading.Event | None = None, progress: Callable[[float], None] | None = None) -> Path:
        """Write sentences start..end (default: all) to a WAV file; cancellable; returns the path. It
        uses a synthesizer of its own, so the app can go on speaking (progress, keys) meanwhile."""
        from reader.audio.sink import WavSink

        start = 0 if start is None else start
        end = len(self.sentences) if end is None else end
        items = self._speech_items(start, end)
        if not items:
            raise ReaderError("There is nothing to export.")
        synth = self.synthesizer().fork()
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
            synth.cancel()
            sink.abort()
            raise
        finally:
            synth.join(timeout=5.0)
        sink.close()
        return Path(path)

    def close(self) -> None:
        self._halt()
        if self.channel.listener is self:
            self.channel.listener = None
            self.channel.on_notice = None
        if self._own_channel:
            self.channel.close()
        self._save()


def _duration_text(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} hour{'s' if hours != 1 else ''} {minutes} minutes"
