"""The app's dialogs: help, voices, bookmarks, find, open and export. Each speaks the focused item."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.geometry import Offset
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from reader.errors import ReaderError
from reader.text.words import char_name

log = logging.getLogger(__name__)

Announce = Callable[..., None]  # announce(text, *, queue=False): show and speak a line


class _Dialog(ModalScreen):
    """A modal dialog that closes with Escape; when it opens, its title is spoken, then its focused item
    (queued after the title, never cutting it off); typing in its fields is echoed as screen readers do."""

    BINDINGS = [Binding("escape", "close", "Close")]
    spoken_title = ""
    closing_words = ""  # said when the dialog is closed with Escape, before where the user is then

    def __init__(self, announce: Announce) -> None:
        super().__init__()
        self.announce = announce
        self._typed: dict[str, str] = {}  # each field's text as last echoed
        self._opened = False  # the title and first focus were said; later focus moves are said as they come

    def on_mount(self) -> None:
        if self.spoken_title:
            self.announce(self.spoken_title)
        self.call_after_refresh(self._after_open)

    def _after_open(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            self._typed[focused.id or ""] = focused.value
            self.announce(_field_line(focused), queue=True)
        self._opened = True
        _place_cursor(self)

    def announce_focus(self) -> None:
        """Say where the user is in this dialog again (coming back to it with Escape)."""
        focused = self.focused
        line = self.spoken_title.split(".")[0] + "."
        if isinstance(focused, OptionList) and focused.highlighted is not None:
            line += " " + str(focused.get_option_at_index(focused.highlighted).prompt)
        elif isinstance(focused, Input):
            line += " " + _field_line(focused)
        self.announce(line)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Echo what was typed (a password as "star"), or what was deleted, like NVDA's typing echo."""
        key = event.input.id or ""
        if key not in self._typed:  # the field's first value, set when it was made: nothing was typed
            self._typed[key] = event.value
            return
        before, after = self._typed[key], event.value
        self._typed[key] = after
        if event.input.password:
            said = "star" if len(after) > len(before) else ("deleted" if len(after) < len(before) else "")
        elif len(after) == len(before) + 1 and after.startswith(before):
            said = char_name(after[-1])
        elif len(after) + 1 == len(before) and before.startswith(after):
            said = char_name(before[-1]) + " deleted"
        elif after != before:
            said = after or "empty"
        else:
            said = ""
        if said:
            self.announce(said)

    def on_descendant_focus(self, event) -> None:
        focused = self.focused
        if self._opened and isinstance(focused, Input):
            self._typed[focused.id or ""] = focused.value
            self.announce(_field_line(focused))

    def action_close(self) -> None:
        self.dismiss(None)

    def dismiss(self, result=None):
        done = super().dismiss(result)
        if result is None:  # cancelled: say where the user is now (a result is answered by its caller)
            where = getattr(self.app, "announce_where", None)
            if where is not None:
                self.app.call_later(where, self.closing_words)
        return done

    def _hint(self, text: str) -> None:
        """Show a line under the dialog's fields and speak it (self-voicing)."""
        if self.is_attached:
            try:
                self.query_one("#hint", Static).update(text)
            except NoMatches:
                pass
        self.announce(text)


def _field_line(field: Input) -> str:
    """How a text field is spoken when it gets focus: its name, then what it holds."""
    name = field.placeholder or "edit"
    if field.password:
        return f"{name}, password field, {len(field.value)} characters" if field.value else f"{name}, password field, empty"
    return f"{name}, edit, {field.value}" if field.value else f"{name}, edit, empty"


def _place_cursor(screen) -> None:
    """Put the terminal's real cursor on the focused item (an external screen reader or a braille
    display follows it); an Input places it itself at its caret."""
    focused = screen.focused
    if isinstance(focused, OptionList) and focused.highlighted is not None:
        region = focused.content_region
        line = focused.highlighted - focused.scroll_offset.y
        if region.height and 0 <= line < region.height:
            screen.app.cursor_position = Offset(region.x, region.y + line)


class _ListDialog(_Dialog):
    """A list that speaks the highlighted item, like a screen reader moving through a menu; the first
    one waits for the dialog's title."""

    _moved = False

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.announce(str(event.option.prompt), queue=not self._moved)
        self._moved = True
        self.call_after_refresh(_place_cursor, self)


class HelpScreen(_ListDialog):
    spoken_title = "Help. Every key, one a line. Arrows to move, Escape to close."
    BINDINGS = [Binding("escape", "close", "Close help"), Binding("f1", "help", "Close help")]

    def __init__(self, bindings, announce: Announce) -> None:
        super().__init__(announce)
        self.bindings = bindings

    def action_help(self) -> None:  # F1 again closes the help it opened
        self.action_close()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Keys (Escape closes this help)", classes="title")
            options = [
                Option(f"{_keys(b.key):<26} {b.description}") for b in self.bindings if isinstance(b, Binding)
            ]
            yield OptionList(*options, id="help")


def _keys(spec: str) -> str:
    names = {"equals_sign": "=", "plus": "+", "minus": "-", "left_square_bracket": "[",
             "right_square_bracket": "]", "slash": "/", "question_mark": "?", "space": "Space",
             "escape": "Escape", "enter": "Enter"}
    return ", ".join(names.get(k, k) for k in spec.split(","))


# A voice's sample starts once the highlight has rested on it this long, so arrowing through the list
# queues no synthesis (the name is said at once, as any list item is).
SAMPLE_DELAY_S = 0.3
# A voice pack's first sentence pays for loading it (Kokoro: about 2 s here, more on a busy machine);
# when the sample is not ready after this long, that is said rather than left as silence.
LOADING_SAY_S = 0.25
# Mandarin's first sample loads its dictionaries too: 10 s on an idle 2-core machine, 20 s on a busy one.
# A load still going after this long is said once more, so the wait is never a long silence.
STILL_LOADING_S = 8.0
GENDERS = (None, "female", "male")  # the gender filter's steps; None: all genders
# Accents named where a voice's manifest gives none (Piper's Joe is en-US).
_REGIONS = {"en-US": "American", "en-GB": "British", "pt-BR": "Brazilian"}
_FILTER_NAMES = {"zh": "Mandarin"}  # the voices are Mandarin (zh-CN); the other names are the catalogue's

# Pipelines already warmed up for a sample, per synthesizer: (pack, language). A second warm-up would
# cost a short synthesis each time a voice is sampled.
_warmed: "weakref.WeakKeyDictionary[Any, set[tuple[str, str]]]" = weakref.WeakKeyDictionary()
_warm_lock = threading.Lock()


def _language_label(lang: str | None) -> str:
    from reader.speech.voices import language_name

    return "All languages" if lang is None else _FILTER_NAMES.get(lang) or language_name(lang)


def _columns(name: str, language: str, gender: str, pack: str, notes: str) -> str:
    return f"{name:<11} {language:<21} {gender:<7} {pack:<5} {notes}".rstrip()


@dataclass(frozen=True)
class VoiceLine:
    """One voice of the picker: what the line shows and what is said when it is highlighted."""

    entry: Any  # reader.speech.voices.VoiceEntry
    lang: str  # its base language ("en", "zh", "es")
    marks: tuple[str, ...] = ()  # "default", "rich default", "current", as shown

    @property
    def language(self) -> str:
        """"American English", "British English", "Mandarin", "Brazilian Portuguese", "Spanish"."""
        e = self.entry
        accent = e.accent or _REGIONS.get(e.language)
        name = _language_label(self.lang)
        return f"{accent} {name}" if accent else name

    @property
    def shown(self) -> str:
        e = self.entry
        marks = list(self.marks) + ([] if e.speakable else ["not speakable yet"])
        return _columns(e.title, self.language, e.gender or "", e.tier, ", ".join(marks))

    @property
    def name_said(self) -> str:
        """The voice alone, as said when it is chosen: "Heart, American English, female"."""
        e = self.entry
        return ", ".join(w for w in (e.title, self.language, e.gender or "") if w)

    @property
    def spoken(self) -> str:
        """Short: "Heart, American English, female, rich default"."""
        e = self.entry
        words = [e.title, self.language, e.gender or "", "fast voice" if e.tier == "fast" else ""]
        words += [m.split(" for ")[0] for m in self.marks]  # "default for English": the language was said
        words.append("" if e.speakable else "not speakable yet")
        return ", ".join(w for w in words if w)


class VoiceScreen(_Dialog):
    """The voices of every installed pack, filtered by language (l / L) and gender (g / G); each voice
    is said as it is highlighted, then, once the highlight rests on it, its pack's sample sentence in
    that voice (cut off by the next move). Enter reads with the voice; Escape cancels."""

    BINDINGS = [
        Binding("escape", "close", "Close the voice list"),
        Binding("l", "language", "Voices of the next language (all, English, Mandarin, ...)"),
        Binding("L", "language(-1)", "Voices of the previous language"),
        Binding("g", "gender", "Next gender: all, female, male"),
        Binding("G", "gender(-1)", "Previous gender"),
        Binding("space", "sample", "Hear the highlighted voice's sample (again)"),
        Binding("f1,question_mark", "help", "The keys of the voice list"),
    ]
    KEYS = "l / L language · g / G gender · Space sample · Enter reads with it · Escape cancels · F1 keys"

    def __init__(self, session, announce: Announce) -> None:
        super().__init__(announce)
        self.session = session
        self.error: str | None = None
        self.samples: dict[str, str] = {}  # language -> the packs' sample sentence for it
        self.lines = self._voice_lines()
        self.by_id = {line.entry.id: line for line in self.lines}
        self.languages: list[str | None] = [None, *dict.fromkeys(line.lang for line in self.lines)]
        start = self._document_lang()
        self.lang_at = self.languages.index(start) if start in self.languages else 0
        self.gender_at = 0
        self.spoken_title = (f"Choose a voice. {self.filter_text(spoken=True)}. l changes the language, "
                             "g the gender; Enter chooses; Escape cancels.")
        self._moved = False  # the first highlight waits for the title
        self._queue_next = False  # the next highlight waits for the filter just said
        self._token = 0  # which highlight a pending sample belongs to; a move makes the old one stale
        self._rest_timer = None
        self._loading_timer = None
        self._ready = -1  # the token whose voice is loaded
        self._loading_said: set[tuple[str, str, bool]] = set()
        self._sample_generation: int | None = None  # the channel's generation the sample plays in

    # -- the list --------------------------------------------------------------------------------------
    def _voice_lines(self) -> list[VoiceLine]:
        from reader.speech import packs
        from reader.speech.synthesizer import Synthesizer
        from reader.speech.voices import FRONT_END_LANGUAGES, voice_entries

        try:
            manifests = [m for _, m in packs.find_packs()]
        except ReaderError as exc:
            self.error = exc.message
            return []
        speaking = [m for m in manifests if "acoustic" in m.stages and "vocoder" in m.stages]
        for m in speaking:
            for lang, text in (getattr(m, "voice_samples", None) or {}).items():
                self.samples.setdefault(lang, text)
        # Who reads each language when nobody chose a voice, by the synthesizer's own rule (no pack loaded).
        rules = Synthesizer(available=speaking)
        defaults = {}
        for lang in FRONT_END_LANGUAGES:
            pack = rules.default_pack_for(lang)
            if pack:
                defaults[(pack, rules.default_voice_for(lang, pack))] = lang
        chosen = self.session.chosen_voice
        if not chosen:
            doc = self._document_lang()
            pack = rules.default_pack_for(doc)
            chosen = rules.default_voice_for(doc, pack) if pack else None
        lines, seen = [], set()
        for e in voice_entries(speaking):
            if e.can_clone or e.id in seen:
                continue
            seen.add(e.id)
            marks = []
            if (e.pack, e.id) in defaults:
                marks.append(f"default for {_language_label(defaults[e.pack, e.id])}")
            elif e.default_for:
                marks.append("rich default" if e.tier == "rich" else f"{e.tier} default")
            if e.id == chosen:
                marks.append("current")
            lines.append(VoiceLine(e, e.language.split("-")[0], tuple(marks)))
        # The languages the reader speaks first, then the others as the catalogue lists them; in each,
        # its default voice first.
        first: dict[str, int] = {}
        for i, line in enumerate(lines):
            first.setdefault(line.lang, i)
        rank = {lang: (lang not in FRONT_END_LANGUAGES, FRONT_END_LANGUAGES.index(lang)
                       if lang in FRONT_END_LANGUAGES else at) for lang, at in first.items()}
        return sorted(lines, key=lambda line: (rank[line.lang], not any(m.startswith("default ") for m in line.marks)))

    def _document_lang(self) -> str:
        """The document's main language (by characters), or the one the user fixed with l; else the
        interface's."""
        from reader.channel import INTERFACE_LANG

        if self.session.lang != "auto":
            return self.session.lang
        counts: dict[str, int] = {}
        for s in self.session.sentences:
            counts[s.lang] = counts.get(s.lang, 0) + len(s.text)
        return max(counts, key=counts.get) if counts else INTERFACE_LANG

    @property
    def language(self) -> str | None:
        return self.languages[self.lang_at]

    @property
    def gender(self) -> str | None:
        return GENDERS[self.gender_at]

    def visible(self) -> list[VoiceLine]:
        return [line for line in self.lines if (self.language is None or line.lang == self.language)
                and (self.gender is None or line.entry.gender == self.gender)]

    def speakable(self, lang: str | None) -> bool:
        return lang is None or any(line.entry.speakable for line in self.lines if line.lang == lang)

    def filter_text(self, *, spoken: bool = False) -> str:
        """"English, female: 15 voices"; on screen a language the reader cannot speak yet is
        "Spanish — not speakable yet"."""
        lang = _language_label(self.language)
        if not self.speakable(self.language):
            lang += (", " if spoken else " — ") + "not speakable yet"
        n = len(self.visible())
        count = "no voices" if n == 0 else f"{n} voice{'s' if n != 1 else ''}"
        return f"{lang}, {self.gender or 'all genders'}: {count}"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self._title(), id="voice-title", classes="title")
            yield Static(self.KEYS, classes="keys")
            if self.error:
                yield Static(self.error)
            # Column names over the lines (which start two cells in, past the list's border).
            yield Static("  " + _columns("Name", "Language", "Gender", "Pack", "Notes"), classes="columns")
            voices = OptionList(id="voices")
            voices.styles.max_height = 20  # room for the hint and the note under it on a 36-line screen
            yield voices
            yield Static("", id="hint")
            yield Static(
                "None of the installed packs can clone a voice: they choose or blend stock voices. "
                "A pack conditioned on a speaker embedding can; see the README.", classes="note",
            )

    def _title(self) -> str:
        line = self.by_id.get(self.session.chosen_voice or "")
        if line is not None:
            current = line.entry.title
        else:
            current = self.session.voice_label if self.session.chosen_voice else "the default voices"
        return f"Voices — {self.filter_text()} · reading with {current}"

    def on_mount(self) -> None:  # then _Dialog.on_mount says the title (Textual calls both)
        current = next((line.entry.id for line in self.lines if "current" in line.marks), None)
        self._fill(keep=current)

    def _fill(self, keep: str | None) -> None:
        """Show the voices of the filter, the highlight on `keep` when it is one of them."""
        voices = self.query_one("#voices", OptionList)
        shown = self.visible()
        if not self.lines:
            options = [Option("No voice pack is installed; run `reader packs build`.", disabled=True)]
        elif not shown:
            options = [Option(f"No {self.filter_text().split(':')[0]} voice; press l or g to change the "
                              "filter.", disabled=True)]
        else:
            options = [Option(line.shown, id=line.entry.id) for line in shown]
        voices.set_options(options)
        if shown:
            ids = [line.entry.id for line in shown]
            voices.highlighted = ids.index(keep) if keep in ids else 0
        else:
            self._queue_next = False
        self.query_one("#voice-title", Static).update(self._title())

    def _highlighted(self) -> VoiceLine | None:
        voices = self.query_one("#voices", OptionList)
        option = voices.highlighted_option
        return self.by_id.get(option.id) if option is not None and option.id else None

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        line = self.by_id.get(event.option.id or "")
        if line is None:
            return
        self._stop_sample()
        self.announce(line.spoken, queue=not self._moved or self._queue_next)
        self._moved, self._queue_next = True, False
        self.call_after_refresh(_place_cursor, self)
        if self.session.self_voicing:  # with app speech off, Space plays a sample on request
            token = self._token
            self._rest_timer = self.set_timer(SAMPLE_DELAY_S, lambda: self._rested(token))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def announce_focus(self) -> None:
        line = self._highlighted()
        self.announce("Choose a voice. " + (line.spoken if line else self.filter_text(spoken=True) + "."))

    # -- the filters -----------------------------------------------------------------------------------
    def action_language(self, step: int = 1) -> None:
        """l and L: the voices of the next or previous language (the same key changes the reading
        language on the main screen)."""
        self.lang_at = (self.lang_at + step) % len(self.languages)
        self._filter_changed()

    def action_gender(self, step: int = 1) -> None:
        self.gender_at = (self.gender_at + step) % len(GENDERS)
        self._filter_changed()

    def _filter_note(self) -> str:
        """Under the list: what the voices of a language the reader cannot speak yet do."""
        if self.speakable(self.language):
            return ""
        return f"They read English and Mandarin with a {_language_label(self.language)} accent."

    def _filter_changed(self) -> None:
        said = self.filter_text(spoken=True) + "."
        if self._filter_note():
            said += " " + self._filter_note()
        elif not self.visible():
            said += " Press l or g to change the filter."
        line = self._highlighted()
        self._stop_sample()
        self._show_hint(self._filter_note())
        self.announce(said)
        self._queue_next = True  # the highlighted voice is said after the filter
        self._fill(keep=line.entry.id if line else None)

    # -- the samples -----------------------------------------------------------------------------------
    def _stop_sample(self) -> None:
        """The highlight moved or the dialog closes: a sample waiting to start is dropped, one playing
        is cut off."""
        self._token += 1
        for timer in (self._rest_timer, self._loading_timer):
            if timer is not None:
                timer.stop()
        self._rest_timer = self._loading_timer = None
        channel = self.session.channel
        if self._sample_generation is not None and channel.generation == self._sample_generation:
            channel.halt()
        self._sample_generation = None

    def _rested(self, token: int) -> None:
        line = self._highlighted()
        if token == self._token and line is not None:
            self._start_sample(line, queue=True)

    def action_sample(self) -> None:
        """Space: the highlighted voice's sample, now (also with app speech off)."""
        line = self._highlighted()
        if line is None:
            self.announce("No voice is highlighted.")
            return
        self._stop_sample()
        if self.session.status == "playing":
            self.session.hush()  # reading pauses; the sample is heard, not queued behind the document
        self._start_sample(line, queue=False)

    def _sample_of(self, line: VoiceLine) -> tuple[str, str] | None:
        """(text, language) of a voice's sample: its language's sample sentence; a voice the reader
        cannot speak yet reads the document's language with its accent, as it would read the document."""
        lang = line.lang if line.entry.speakable else self._document_lang()
        text = self.samples.get(lang)
        return (text, lang) if text else None

    def _start_sample(self, line: VoiceLine, *, queue: bool) -> None:
        sample = self._sample_of(line)
        if sample is None:
            self._hint(f"There is no sample sentence for {line.language}.")
            return
        token = self._token
        self._loading_timer = self.set_timer(LOADING_SAY_S, lambda: self._say_loading(token, line, sample[1]))
        self._load_voice(token, line, sample, queue)

    @work(thread=True, exclusive=True, group="voice-sample", exit_on_error=False)
    def _load_voice(self, token: int, line: VoiceLine, sample: tuple[str, str], queue: bool) -> None:
        """Load the voice's pack (its first use takes seconds) in a worker, then speak the sample."""
        from reader.channel import INTERFACE_LANG

        pack, lang = line.entry.pack, sample[1]
        try:
            synth = self.session.channel.synthesizer()
            with _warm_lock:
                done = _warmed.setdefault(synth, set())
                # The interface's own voice is loaded by the app's first words; any other pack loads here.
                if (pack, lang) not in done and pack != synth.interface_pack(INTERFACE_LANG):
                    synth.pipeline(pack).warm_up((lang,))
                    done.add((pack, lang))
        except ReaderError as exc:
            self._from_thread(self._sample_failed, token, exc.message)
            return
        except Exception as exc:  # shown and said, never raised into the UI
            log.exception("loading a voice for its sample failed")
            self._from_thread(self._sample_failed, token, f"The voice could not be loaded ({exc}).")
            return
        self._from_thread(self._speak_sample, token, line, sample, queue)

    def _from_thread(self, fn, *args) -> None:
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:  # the app is closing
            pass

    def _say_loading(self, token: int, line: VoiceLine, lang: str, *, again: bool = False) -> None:
        key = (line.entry.pack, lang, again)
        if token != self._token or self._ready == token or key in self._loading_said:
            return
        self._loading_said.add(key)
        words = "the rich voices" if line.entry.tier == "rich" else f"the {line.entry.tier} voice"
        self._hint(f"{'Still loading' if again else 'Loading'} {words}…", queue=True)
        if not again:
            self._loading_timer = self.set_timer(
                STILL_LOADING_S, lambda: self._say_loading(token, line, lang, again=True))

    def _sample_failed(self, token: int, message: str) -> None:
        if token == self._token and self.is_attached:
            self._hint(message)

    def _speak_sample(self, token: int, line: VoiceLine, sample: tuple[str, str], queue: bool) -> None:
        if token != self._token or not self.is_attached:
            return  # the highlight moved on, or the dialog closed, while the voice loaded
        self._ready = token
        if self._loading_timer is not None:
            self._loading_timer.stop()
        self._show_hint(self._filter_note())
        from reader.channel import ANNOUNCE_ID
        from reader.speech.synthesizer import SpeechText

        text, lang = sample
        options = self.session.options(voice=line.entry.id, pack=line.entry.pack, lang=lang,
                                       allow_downgrade=False, voice_per_language=False)
        self._sample_generation = self.session.channel.speak(
            [SpeechText(ANNOUNCE_ID, text, lang)], options, queue=queue,
            on_error=lambda exc: self._from_thread(self._sample_failed, token, exc.message))

    def _show_hint(self, text: str) -> None:
        try:
            self.query_one("#hint", Static).update(text)
        except NoMatches:
            pass

    def _hint(self, text: str, *, queue: bool = False) -> None:
        self._show_hint(text)
        if text:
            self.announce(text, queue=queue)

    # -- help and closing ------------------------------------------------------------------------------
    def action_help(self) -> None:
        self._stop_sample()
        keys = [Binding("up,down", "", "Move through the voices: each is said, then its sample in its voice"),
                Binding("enter", "", "Read with the highlighted voice")]
        self.app.push_screen(HelpScreen(keys + list(self.BINDINGS), self.announce))

    def dismiss(self, result=None):
        self._stop_sample()
        return super().dismiss(result)


class BookmarksScreen(_ListDialog):
    spoken_title = "Bookmarks. Enter jumps, Escape cancels."

    def __init__(self, marks, announce: Announce) -> None:
        super().__init__(announce)
        self.marks = list(marks)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Bookmarks — Enter jumps, Escape cancels", classes="title")
            yield OptionList(*[Option(m.label) for m in self.marks], id="bookmarks")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.marks[event.option_index])


class _InputDialog(_Dialog):
    prompt = ""
    placeholder = ""

    def __init__(self, value: str, announce: Announce) -> None:
        super().__init__(announce)
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.prompt, classes="title")
            yield Input(value=self.value, id="field", placeholder=self.placeholder)
            yield Static("", id="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # one handler answers: Textual also calls the handlers of the base classes
        self.submit(event.value.strip())

    def submit(self, value: str) -> None:
        self.dismiss(value or None)


class FindScreen(_InputDialog):
    prompt = "Find text — type it, Enter searches, Escape cancels"
    placeholder = "text to find"
    spoken_title = "Find. Type the text, then Enter."


class OpenScreen(_InputDialog):
    prompt = "Open a file — type its path (Tab completes), Enter opens, Escape cancels"
    placeholder = "path of the file"
    spoken_title = "Open a file. Type its path; Tab completes; Enter opens."
    BINDINGS = [Binding("escape", "close", "Close"), Binding("tab", "complete", "Complete the path")]

    def __init__(self, announce: Announce, intro: str = "") -> None:
        super().__init__(str(Path.cwd()) + "/", announce)
        self.spoken_title = " ".join(p for p in (intro, self.spoken_title) if p)

    def action_complete(self) -> None:
        field = self.query_one(Input)
        path = Path(field.value).expanduser()
        folder, stem = (path, "") if field.value.endswith("/") else (path.parent, path.name)
        try:
            matches = sorted(p for p in folder.iterdir() if p.name.startswith(stem) and not p.name.startswith("."))
        except OSError:
            matches = []
        if len(matches) == 1:
            match = matches[0]
            self._typed[field.id or ""] = str(match) + ("/" if match.is_dir() else "")  # said below, not echoed
            field.value = str(match) + ("/" if match.is_dir() else "")
            field.cursor_position = len(field.value)
            self.announce(match.name + (" folder" if match.is_dir() else ""))
        elif matches:
            names = ", ".join(m.name for m in matches[:12])
            self.query_one("#hint", Static).update(names)
            self.announce(f"{len(matches)} matches: {names}")
        else:
            self.announce("No match.")

    def submit(self, value: str) -> None:
        if value and Path(value).expanduser().is_file():
            self.dismiss(str(Path(value).expanduser()))
        elif value:
            self._hint(f"There is no file {value}; check the path (Tab completes).")
        else:
            self._hint("Type the path of a file first, or press Escape to go back.")


class ExportScreen(_Dialog):
    """Export the document from the current sentence to a WAV file, with progress spoken at the start,
    every quarter, on request (Space or w) and at the end with the file's name; Escape cancels."""

    spoken_title = "Exporting from the current sentence to a WAV file. Space says the progress; Escape cancels."
    BINDINGS = [Binding("escape", "close", "Cancel the export"),
                Binding("space,w", "say_position", "Say the export's progress")]

    def __init__(self, session, folder: Path, announce: Announce) -> None:
        super().__init__(announce)
        self.session = session
        self.folder = folder
        self.cancel = threading.Event()
        self.fraction = 0.0
        self.started = time.monotonic()
        self.done: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Exporting from the current sentence to the end — Space: progress, Escape cancels",
                         classes="title")
            yield ProgressBar(total=100, id="export-progress", show_eta=True)
            yield Static("", id="hint")

    def on_mount(self) -> None:  # _Dialog.on_mount says the title: Textual calls it too, after this one
        self.folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in self.session.document.title).strip()
        self.path = self.folder / f"{safe or 'document'}.wav"
        self.export(self.path)

    def progress_text(self) -> str:
        if self.done is not None:
            return self.done
        pct = int(self.fraction * 100)
        elapsed = time.monotonic() - self.started
        if self.fraction > 0.02 and elapsed > 1:
            left = elapsed * (1 - self.fraction) / self.fraction
            return f"Exporting, {pct} percent, about {_duration(left)} left."
        return f"Exporting, {pct} percent."

    def action_say_position(self) -> None:
        self.announce(self.progress_text())

    @work(thread=True, exclusive=True, group="export")
    def export(self, path: Path) -> None:
        def progress(fraction: float) -> None:
            before, self.fraction = self.fraction, fraction
            self.app.call_from_thread(self._progress, int(before * 4) != int(fraction * 4) and fraction < 1)

        try:
            done = self.session.export(path, start=self.session.current, cancel=self.cancel, progress=progress)
            message = f"Export finished: {done.name}, in the folder {done.parent}."
        except ReaderError as exc:
            message = exc.message
        self.app.call_from_thread(self._finished, message)

    def _progress(self, quarter: bool) -> None:
        if self.is_attached:
            self.query_one(ProgressBar).update(progress=round(self.fraction * 100))
        if quarter and not self.cancel.is_set():
            self.announce(self.progress_text())

    def _finished(self, message: str) -> None:
        self.done = message
        if self.cancel.is_set():
            return  # cancelled: the cancel was said already, and no file was written
        self._hint(message + " Press Escape to close.")
        self.cancel.set()

    def action_close(self) -> None:
        if not self.cancel.is_set():
            self.closing_words = "Export cancelled; no file was written."
        self.cancel.set()
        self.dismiss(None)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} seconds"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
