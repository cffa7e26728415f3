"""The Voices screen: family voices in the vault; enroll (files or microphone, consent first), verify, use,
delete. Long work (checks, embeddings, preset fitting) runs in workers; the screen speaks what it does."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import numpy as np
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from reader.errors import ReaderError
from reader.settings import Settings
from reader.tui.family import FieldsScreen
from reader.tui.screens import Announce, _Dialog, _duration, _ListDialog
from reader.voices.fit import MORE_S as FIT_MORE_S

HONEST_NOTE = ("The installed packs cannot clone a voice: a preset is the closest voice they can make, "
               "with its similarity. A pack conditioned on a speaker embedding would read in the voice itself.")
SPOKEN_CONSENT = ("Spoken consent, if the person wishes: press Space and say in your own words who you are, "
                  "that you agree to these recordings and what they are for, then Space again. Capital S skips it.")
CONSENT_FIELDS = [("consent_by", "who gives consent (the person recorded, or their guardian)"),
                  ("purpose", "what the recordings are for, e.g. reading letters aloud to the family"),
                  ("recorded_by", "who records (empty: the same person)")]


class VoicesScreen(_ListDialog):
    spoken_title = ("Family voices. i enrolls from files, capital R records with the microphone, capital I "
                    "chooses the microphone, capital C checks a recording against a voice, u uses the voice "
                    "for reading, capital F keeps improving its fitted voice, Delete deletes it, Escape closes "
                    "(or stops a fit that is running).")
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("i", "import_files", "Enroll from files (import)"),
        Binding("R", "record", "Record with the microphone"),
        Binding("C", "verify", "Check (verify) a recording"),
        Binding("u", "use", "Use for reading"),
        Binding("delete", "delete", "Delete, after you confirm"),
        Binding("I", "microphone", "Choose the microphone"),
        Binding("F", "improve", "Keep improving the fitted voice for 5 more minutes"),
        Binding("K", "app.lock_vault", "Lock the vault now (this screen closes)"),
    ]
    # The fit's progress is said when its phase changes and every this many seconds.
    SPEAK_PROGRESS_S = 30.0

    def __init__(self, vault, settings: Settings, announce: Announce) -> None:
        super().__init__(announce)
        from reader.voices.enroll import VoiceBook

        self.book = VoiceBook(vault)
        self.settings = settings
        self.names: list[str] = []
        self.fitting: threading.Event | None = None  # set to stop the running fit
        self._said: tuple[str, float] = ("", 0.0)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Family voices — i files, R record, I microphone, C check, u use, Delete delete, "
                         "Escape closes",
                         classes="title")
            yield OptionList(id="voices")
            yield Static(HONEST_NOTE, classes="note")
            yield Static("", id="hint")
            yield ProgressBar(total=100, show_eta=False, id="fit-bar")
            yield Static("", id="progress")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#fit-bar", ProgressBar).display = False
        self.refresh_list()

    def refresh_list(self, select: str | None = None) -> None:
        """Reread the voices; the highlight goes to `select`, else stays on the voice it was on, else the first."""
        options = self.query_one("#voices", OptionList)
        if select is None and options.highlighted is not None and options.highlighted < len(self.names):
            select = self.names[options.highlighted]
        options.clear_options()
        try:
            self.names = self.book.names()
            lines = []
            for name in self.names:
                s = self.book.summary(name)
                consent = s.consent.summary() if s.consent else "no consent record"
                lines.append(f"{name}: {s.clips} recordings, {s.seconds:.0f} s; {consent}; {s.preset_text()}")
        except ReaderError as exc:
            self.names, lines = [], []
            self._hint(exc.message)
        if lines:
            options.add_options([Option(line, id=name) for name, line in zip(self.names, lines)])
            options.highlighted = self.names.index(select) if select in self.names else 0
        else:
            options.add_option(Option("No voices yet. Press i to enroll from files, capital R to record.", disabled=True))
        options.focus()

    def _selected(self) -> str | None:
        options = self.query_one("#voices", OptionList)
        if options.highlighted is None or not self.names:
            self._hint("Choose a voice first with the arrow keys.")
            return None
        return self.names[options.highlighted]

    # -- enrolling ---------------------------------------------------------------------------------
    def action_import_files(self) -> None:
        fields = [("name", "the voice's name, e.g. grandma"),
                  ("files", "recordings (WAV, FLAC or OGG), paths separated by spaces"), LANG_FIELD, *CONSENT_FIELDS,
                  ("consent_audio", "a recording of the person saying they agree (optional)")]

        def chosen(values: dict | None) -> None:
            if values:
                self.enroll(values, None, None)

        self.app.push_screen(FieldsScreen("Enroll a voice — consent first", fields, self.announce), chosen)

    def action_record(self) -> None:
        fields = [("name", "the voice's name, e.g. grandma"), *CONSENT_FIELDS]

        def consented(values: dict | None) -> None:
            if not values:
                return

            def recorded(result: tuple | None) -> None:
                if result:
                    clips, consent_clip = result
                    self.enroll(values, clips, consent_clip)

            from reader.voices.consent import CONSENT_SENTENCE

            session = getattr(self.app, "session", None)
            example = CONSENT_SENTENCE.format(name=values.get("consent_by") or values.get("name", ""),
                                              purpose=(values.get("purpose") or "").rstrip("."))
            from reader.voices.capture import device_of

            self.app.push_screen(RecordScreen(self.announce, hush=None if session is None else session.hush,
                                              device=device_of(self.settings.microphone),
                                              consent_example=example), recorded)

        self.app.push_screen(FieldsScreen("Record a voice — consent first", fields, self.announce), consented)

    @work(thread=True, exclusive=True, group="voices")
    def enroll(self, values: dict, mic_clips: list | None, consent_clip=None) -> None:
        from reader.voices.commands import ENCODER_PACK, _encoder
        from reader.voices.consent import Consent
        from reader.voices.enroll import load_clip

        say = lambda text: self.app.call_from_thread(self._hint, text)  # noqa: E731
        name = values.get("name", "")
        try:
            lang = _lang_of(values.get("lang", ""))
            if not values.get("consent_by") or not values.get("purpose"):
                raise ReaderError("Enrollment needs consent first: say who consents and what the recordings are for.")
            consent = Consent.now(name, values["consent_by"], values["purpose"], values.get("recorded_by") or None)
            clips = mic_clips or [load_clip(Path(p).expanduser()) for p in values.get("files", "").split()]
            if consent_clip is None and values.get("consent_audio"):
                consent_clip = load_clip(Path(values["consent_audio"]).expanduser())
            say("Checking the recordings…")
            encoder = _encoder(ENCODER_PACK, self.settings)
            result = self.book.enroll(name, clips, consent, encoder, consent_audio=consent_clip)
        except ReaderError as exc:
            self.app.call_from_thread(self.refresh_list)
            say(exc.message)
            return
        self.app.call_from_thread(self.refresh_list, name)
        notes = " ".join(f"Note: {w}" for w in ([] if mic_clips else result.warnings()))
        say(f"Enrolled {name}: {result.clips} recordings, {result.seconds:.0f} s. {notes + ' ' if notes else ''}"
            f"Finding the closest voice the packs can make; this takes about "
            f"{_duration(self.settings.fit_minutes * 60)}. Escape stops it.")
        self._fit(name, self.book.recordings(name), lang, more=False, encoder=encoder)

    @work(thread=True, exclusive=True, group="voices")
    def improve(self, name: str) -> None:
        from reader.voices.fit import FIT_LANG, preset_entry

        try:
            preset = self.book.preset(name) or {}
            lang = preset_entry(preset).get("lang") or FIT_LANG
            clips = self.book.recordings(name)
        except ReaderError as exc:
            self.app.call_from_thread(self._hint, exc.message)
            return
        self._fit(name, clips, lang, more=True)

    def _fit(self, name: str, clips16k: list, lang: str, *, more: bool, encoder=None) -> None:
        """Fit (or keep improving) the voice's preset in this worker thread, showing and saying the
        progress; Escape sets self.fitting, which stops the search at once."""
        from reader.voices.commands import ENCODER_PACK, _encoder, fit_for
        from reader.voices.fit import FitCancelled

        self.fitting = stop = threading.Event()
        self._said = ("", 0.0)
        try:
            encoder = encoder or _encoder(ENCODER_PACK, self.settings)
            fit = fit_for(self.book, name, self.settings, argparse.Namespace(pack=None, minutes=None), encoder=encoder,
                          clips16k=clips16k, lang=lang, more=more, cancel=stop,
                          progress=lambda p: self.app.call_from_thread(self._show_progress, name, p))
            message = f"{name}: {fit.describe()}"
            if more:
                message += " Press capital F to keep improving it."
        except FitCancelled:
            message = f"The fit was stopped; {name}'s preset is as it was."
        except ReaderError as exc:
            message = exc.message
        finally:
            self.fitting = None
        self.app.call_from_thread(self._end_progress)
        self.app.call_from_thread(self.refresh_list)
        self.app.call_from_thread(self._hint, message)

    def _show_progress(self, name: str, p) -> None:
        import time

        if not self.is_attached:
            return
        bar = self.query_one("#fit-bar", ProgressBar)
        bar.display = True
        bar.update(progress=round(p.fraction * 100))
        line = f"Fitting {name}: {p.fraction * 100:.0f} %, about {_duration(p.seconds_left)} left. {p.message}"
        self.query_one("#progress", Static).update(line)
        phase, at = self._said
        now = time.monotonic()
        if p.phase != phase or now - at >= self.SPEAK_PROGRESS_S:
            self._said = (p.phase, now)
            if p.phase != "done":
                self.announce(f"{p.fraction * 100:.0f} percent, about {_duration(p.seconds_left)} left. {p.message}",
                              queue=True)

    def _end_progress(self) -> None:
        if self.is_attached:
            self.query_one("#fit-bar", ProgressBar).display = False
            self.query_one("#progress", Static).update("")

    def action_improve(self) -> None:
        name = self._selected()
        if name is None:
            return
        if self.fitting is not None:
            self._hint("A fit is running; Escape stops it.")
            return
        self._hint(f"Improving {name}'s voice for {_duration(FIT_MORE_S)} more. Escape stops it and keeps "
                   "the best voice found.")
        self.improve(name)

    def action_microphone(self) -> None:
        from reader.tui.family import choose_microphone

        def chosen(value: str | None) -> None:
            self.settings = self.settings.with_(microphone=value)

        choose_microphone(self, self.settings.microphone, chosen)

    # -- verify, use, delete -------------------------------------------------------------------------
    def action_verify(self) -> None:
        name = self._selected()
        if name is None:
            return

        def chosen(path: str | None) -> None:
            if path:
                self.verify(name, path)

        self.app.push_screen(FieldsScreen(f"Verify a recording against {name}", [("file", "path of the recording")],
                                          self.announce, single=True), chosen)

    @work(thread=True, exclusive=True, group="voices")
    def verify(self, name: str, path: str) -> None:
        from reader.voices.commands import ENCODER_PACK, _encoder
        from reader.voices.enroll import load_clip

        try:
            verdict = self.book.verify(name, load_clip(Path(path).expanduser()), _encoder(ENCODER_PACK, self.settings))
            message = f"{verdict.text.capitalize()}: similarity {verdict.similarity:.2f}, and " \
                      f"{verdict.threshold:.2f} or more counts as the same person."
        except ReaderError as exc:
            message = exc.message
        self.app.call_from_thread(self._hint, message)

    def action_use(self) -> None:
        name = self._selected()
        if name is None:
            return
        try:
            spec, what, locked = self.book.reading_spec(name)
            Settings.load(self.settings.home).with_(voice=spec).save()
            session = getattr(self.app, "session", None)
            if session is not None:
                session.set_voice(spec, label=name)
            self._hint(f"Reading with {what}.")
            if locked:
                self.app.use_enrolled_voice(self.book.vault)
        except ReaderError as exc:
            self._hint(exc.message)

    def action_delete(self) -> None:
        name = self._selected()
        if name is None:
            return

        def confirmed(answer: str | None) -> None:
            if (answer or "").strip().lower() != "yes":
                self._hint("Nothing was deleted.")
                return
            from reader.voices import PRESET_NAME, VAULT_PREFIX
            from reader.voices.commands import delete_voice

            try:
                preset = self.book.vault.find("preset", PRESET_NAME, self.book.group(name))
                preset_spec = (self.book.preset(name) or {}).get("spec") if preset is not None else None
                messages = delete_voice(self.book, name, self.settings)
                session = getattr(self.app, "session", None)
                if session is not None and preset is not None:
                    # The person's voice goes from memory too, and a document that read with it reads
                    # with the default voice.
                    session.forget_voice(VAULT_PREFIX + preset.id, preset_spec)
                self._hint(" ".join(messages))
            except ReaderError as exc:
                self._hint(exc.message)
            self.refresh_list()

        self.app.push_screen(FieldsScreen(f"Delete {name}'s recordings, embedding, preset and consent for good? "
                                          "Type yes", [("answer", "type yes to delete")], self.announce,
                                          single=True), confirmed)

    def action_close(self) -> None:
        if self.fitting is not None:  # the first Escape stops the fit; the dialog stays to say the result
            self.fitting.set()
            self._hint("Stopping the fit…")
            return
        self.dismiss(None)


LANG_FIELD = ("lang", "the language the voice will read: en for English, zh for Chinese (empty: English)")


def _lang_of(value: str) -> str:
    from reader.voices.fit import FIT_LANG, FIT_LANGS

    value = (value or "").strip().lower()
    aliases = {"english": "en", "chinese": "zh", "mandarin": "zh", "中文": "zh", "普通话": "zh"}
    lang = aliases.get(value, value.split("-")[0]) or FIT_LANG
    if lang not in FIT_LANGS:
        raise ReaderError(f"The voice can read English (en) or Chinese (zh), not {value!r}; "
                          "type en or zh, or leave it empty.")
    return lang


class RecordScreen(_Dialog):
    """Shows and speaks the prompts one at a time: Space starts and stops recording, with a level meter.
    Each take is checked at once (enough speech, not clipped, not too quiet, not noisy): a failed take is
    said and read again. The clips stay in memory (never a file) and are handed back for enrollment."""

    spoken_title = "Recording. Read each sentence aloud. Space starts and stops; Escape cancels."
    BINDINGS = [Binding("escape", "close", "Cancel"), Binding("space", "toggle", "Start / stop"),
                Binding("S", "skip", "Skip the spoken consent")]

    def __init__(self, announce: Announce, *, hush=None, device: int | str | None = None,
                 consent_example: str = "") -> None:
        super().__init__(announce)
        from reader.voices.commands import PROMPTS

        self.prompts = PROMPTS
        self.index = 0
        self.clips: list = []
        self.consenting = False  # after the prompts: the optional spoken consent
        self.consent_example = consent_example
        self.stop_event: threading.Event | None = None
        self.hush = hush  # silences the app's own speech before the microphone opens
        self.device = device

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Read this sentence aloud — Space starts and stops, Escape cancels", classes="title")
            yield Static(self._numbered(), id="prompt")
            yield Static("level [" + " " * 30 + "]", id="meter")
            yield Static("", id="hint")

    def _numbered(self) -> str:
        if self.consenting:
            return SPOKEN_CONSENT + (f" For example: {self.consent_example}" if self.consent_example else "")
        return f"Sentence {self.index + 1} of {len(self.prompts)}: {self.prompts[self.index]}"

    def on_mount(self) -> None:
        super().on_mount()
        self.announce(self._numbered())

    def action_toggle(self) -> None:
        if self.stop_event is None:
            if self.hush is not None:
                self.hush()
            self.stop_event = threading.Event()
            self.query_one("#hint", Static).update("Recording… Space stops.")  # shown, not spoken: it would be recorded
            self.record(self.stop_event)
        else:
            self.stop_event.set()

    @work(thread=True, exclusive=True, group="record")
    def record(self, stop: threading.Event) -> None:
        from reader.voices.capture import Microphone, meter_line

        def level(db: float, seconds: float, clipping: bool) -> None:
            self.app.call_from_thread(self.query_one("#meter", Static).update,
                                      meter_line(db, seconds, clipping=clipping))

        try:
            blocks = list(Microphone(self.device).blocks(stop, on_level=level))
        except ReaderError as exc:
            self.app.call_from_thread(self._done, None, exc.message)
            return
        self.app.call_from_thread(self._done, np.concatenate(blocks) if blocks else None, None)

    def _done(self, samples, error: str | None) -> None:
        from reader.voices import quality
        from reader.voices.commands import _mic_clip

        self.stop_event = None
        if error:
            self._hint(error)
            return
        if samples is None or not len(samples):
            self._hint("Nothing was recorded; press Space and read the sentence.")
            return
        report = quality.assess(samples)
        if not report.ok:
            again = "record the consent again, or capital S to skip it" if self.consenting else \
                f"read sentence {self.index + 1} again"
            self._hint(f"{report.problems[0][1]} Press Space to {again}.")
            return
        if self.consenting:
            from reader.voices.enroll import Clip

            self.dismiss((self.clips, Clip(samples, "The spoken consent", source="microphone")))
            return
        self.clips.append(_mic_clip(samples, self.index + 1))
        self.index += 1
        if self.index >= len(self.prompts):
            self.consenting = True
        self.query_one("#prompt", Static).update(self._numbered())
        self.query_one("#hint", Static).update("")
        but = " ".join(sentence for _, sentence in report.warnings)
        self.announce(f"Kept{', but: ' + but if but else '.'} {self._numbered()}")

    def action_skip(self) -> None:
        if self.consenting and self.stop_event is None:
            self.dismiss((self.clips, None))

    def action_close(self) -> None:
        if self.stop_event is not None:
            self.stop_event.set()
        self.dismiss(None)
