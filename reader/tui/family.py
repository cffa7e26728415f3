"""The family screens: unlocking the vault and the dialect archive (list, filter, play, add, export).

Everything here goes through the encrypted vault; nothing about a voice is shown before it is unlocked.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from reader.errors import ReaderError
from reader.tui.screens import Announce, _Dialog, _ListDialog

SEEK_STEP_S = 5.0


class PassphraseScreen(_Dialog):
    """A password field; with `create`, a second field to confirm. Dismisses with the unlocked vault."""

    def __init__(self, folder: Path, announce: Announce, *, create: bool = False) -> None:
        super().__init__(announce)
        self.folder = folder
        self.create = create
        self.spoken_title = (
            "There is no vault yet. Choose a passphrase, then type it again to confirm."
            if create else "The vault is locked. Type its passphrase, then Enter."
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            title = "Create the voice vault — choose a passphrase" if self.create else "Unlock the voice vault"
            yield Static(title + " (Escape cancels)", classes="title")
            yield Input(password=True, placeholder="passphrase", id="passphrase")
            if self.create:
                yield Input(password=True, placeholder="the same passphrase again", id="confirm")
            yield Static("", id="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        passphrase = self.query_one("#passphrase", Input).value
        if self.create and event.input.id == "passphrase":
            self.query_one("#confirm", Input).focus()
            return
        if not passphrase:
            self._hint("The passphrase is empty; type one.")
            return
        if self.create and self.query_one("#confirm", Input).value != passphrase:
            self._hint("The two passphrases differ; type them again.")
            return
        self._hint("Unlocking…")
        self.unlock(passphrase)

    @work(thread=True, exclusive=True, group="unlock")
    def unlock(self, passphrase: str) -> None:
        # Argon2id takes a noticeable fraction of a second: never on the UI thread.
        from reader.vault.store import Vault

        try:
            vault = Vault.create(self.folder, passphrase) if self.create else Vault.open(self.folder, passphrase)
        except ReaderError as exc:
            self.app.call_from_thread(self._failed, exc.message)
            return
        self.app.call_from_thread(self.dismiss, vault)

    def _failed(self, message: str) -> None:
        for field in self.query(Input):
            field.value = ""
        self.query_one("#passphrase", Input).focus()
        self._hint(message)


def _entry_line(e) -> str:
    dialect = e.dialect + (f" ({e.dialect_zh})" if e.dialect_zh else "")
    parts = [e.id, e.date, dialect, e.speaker or "unknown speaker", e.topic or "", f"{e.duration_seconds:.0f} s"]
    return ", ".join(p for p in parts if p)


class ArchiveScreen(_ListDialog):
    """The dialect archive: Enter or Space plays or pauses, Left/Right seek, Escape stops (then closes),
    f filters, i imports a file, R records, I chooses the microphone, e exports. The keys mean the same
    on every screen (e exports, i imports, R records, I is the input device, Delete deletes)."""

    spoken_title = ("Dialect archive. Arrows move, Enter or Space plays or pauses, Left and Right seek, "
                    "Escape stops, f filters by dialect, i imports a recording from a file, capital R records "
                    "one with the microphone, capital I chooses the microphone, e exports, Escape closes.")
    BINDINGS = [
        Binding("escape", "close", "Stop, then close"),
        Binding("space", "play_pause", "Play / pause"),
        Binding("left", "seek(-1)", "Back 5 s"),
        Binding("right", "seek(1)", "Forward 5 s"),
        Binding("f", "filter", "Filter by dialect"),
        Binding("i", "import_files", "Import a recording from a file"),
        Binding("R", "record", "Record with the microphone"),
        Binding("I", "microphone", "Choose the microphone"),
        Binding("e", "export", "Export (encrypted)"),
        Binding("K", "app.lock_vault", "Lock the vault now (this screen closes)"),
    ]

    def __init__(self, vault, announce: Announce, player_factory=None, microphone: str | None = None) -> None:
        super().__init__(announce)
        self.microphone = microphone  # the microphone setting
        from reader.archive.store import ArchiveStore

        self.store = ArchiveStore(vault)
        self.player_factory = player_factory
        self._playback = None  # made at the first play: opening the audio device can fail
        self.dialect: str | None = None
        self.entries: list = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Dialect archive — Enter/Space play/pause, ←/→ seek, Escape stop/close, f filter, "
                         "i import, R record, I microphone, e export",
                         classes="title")
            yield OptionList(id="archive")
            yield Static("", id="hint")

    def on_mount(self) -> None:
        super().on_mount()
        self.refresh_list()

    def refresh_list(self) -> None:
        try:
            listing = self.store.scan(self.dialect)
            self.entries = listing.entries
            if listing.damaged:
                self._hint(listing.warning())
        except ReaderError as exc:
            self.entries = []
            self._hint(exc.message)
        options = self.query_one("#archive", OptionList)
        options.clear_options()
        if self.entries:
            options.add_options([Option(_entry_line(e), id=e.id) for e in self.entries])
        else:
            what = f" in {self.dialect}" if self.dialect else ""
            options.add_option(Option(f"No recordings{what} yet. Press i to import one, capital R to record.", disabled=True))
        options.focus()

    @property
    def playback(self):
        """The archive's playback through the reading player (AudioError when there is no device)."""
        if self._playback is None:
            from reader.archive.playback import ArchivePlayback

            player = self.player_factory() if self.player_factory is not None else None
            self._playback = ArchivePlayback(self.store, player=player, on_error=self._playback_failed)
        return self._playback

    def _playback_failed(self, error: ReaderError) -> None:
        """From the feeder thread: the recording could not be read on (damaged, or the vault locked)."""
        try:
            self.app.call_from_thread(self._hint, error.message)
        except RuntimeError:  # the app is closing
            pass

    def _selected(self):
        options = self.query_one("#archive", OptionList)
        if options.highlighted is None or not self.entries:
            return None
        return self.entries[options.highlighted]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_play_pause()

    def action_play_pause(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        try:
            playing = self.playback.entry
            if playing is not None and playing.id == entry.id and not self.playback.is_paused:
                self.playback.pause()
                self._hint(f"Paused at {self.playback.position_seconds():.0f} seconds.")
            elif playing is not None and playing.id == entry.id:
                self.playback.resume()
                self._hint("Playing.")
            else:
                self._hint(f"Opening {entry.id}…")
                self.play(entry.id)
        except ReaderError as exc:
            self._hint(exc.message)

    @work(thread=True, exclusive=True, group="archive-play")
    def play(self, entry_id: str) -> None:
        # Decrypting and decoding a long recording takes a moment: not on the UI thread.
        try:
            self.playback.play(entry_id)
            message = f"Playing {entry_id}."
        except ReaderError as exc:
            message = exc.message
        self.app.call_from_thread(self._hint, message)

    def action_stop(self) -> None:
        if self._playback is not None:
            self._playback.stop()
        self._hint("Stopped.")

    def action_seek(self, direction: int) -> None:
        if self._playback is None or self._playback.entry is None:
            return
        self.playback.seek(max(0.0, self.playback.position_seconds() + direction * SEEK_STEP_S))
        self._hint(f"{self.playback.position_seconds():.0f} seconds.")

    def action_filter(self) -> None:
        def chosen(value: str | None) -> None:
            self.dialect = value or None
            self.refresh_list()
            self._hint(f"Showing {value}." if value else "Showing every dialect.")

        self.app.push_screen(FieldsScreen("Filter by dialect (empty shows all)", [("dialect", "dialect")],
                                          self.announce, single=True), chosen)

    def action_import_files(self) -> None:
        fields = [("file", "path of the recording (WAV, FLAC or OGG)"), ("dialect", "dialect, e.g. Cantonese or 粤语"),
                  ("consent_by", "who agreed to the recording (required)"), ("speaker", "speaker"),
                  ("region", "region"), ("topic", "topic"), ("transcript", "transcript")]

        def chosen(values: dict | None) -> None:
            if values:
                self.add(values)

        self.app.push_screen(FieldsScreen("Add a recording to the archive", fields, self.announce), chosen)

    @work(thread=True, exclusive=True, group="archive-add")
    def add(self, values: dict) -> None:
        try:
            entry = self.store.add(Path(values.pop("file", "")).expanduser(), dialect=values.pop("dialect", ""),
                                   **{k: v or None for k, v in values.items()})
            message = f"Added {entry.id}: {entry.dialect}, {entry.duration_seconds:.0f} seconds."
        except ReaderError as exc:
            message = exc.message
        self.app.call_from_thread(self.refresh_list)
        self.app.call_from_thread(self._hint, message)

    def action_record(self) -> None:
        fields = [("dialect", "dialect, e.g. Cantonese or 粤语"), ("consent_by", "who agreed to the recording (required)"),
                  ("speaker", "speaker"), ("region", "region"), ("topic", "topic")]

        def described(values: dict | None) -> None:
            if not values:
                return
            try:  # consent and the dialect first: nothing is recorded without them
                self.store.describe(**{k: v or None for k, v in values.items()})
            except ReaderError as exc:
                self._hint(exc.message)
                return
            if self._playback is not None:
                self._playback.stop()  # the microphone must not hear the archive playing

            def recorded(audio) -> None:
                if audio is not None:
                    self.add_recording(audio, values)

            from reader.voices.capture import device_of

            session = getattr(self.app, "session", None)
            self.app.push_screen(ArchiveRecordScreen(self.announce, hush=None if session is None else session.hush,
                                                     device=device_of(self.microphone)), recorded)

        self.app.push_screen(FieldsScreen("Record for the archive — who agreed, and what is recorded", fields,
                                          self.announce), described)

    def action_microphone(self) -> None:
        choose_microphone(self, self.microphone, lambda value: setattr(self, "microphone", value))

    @work(thread=True, exclusive=True, group="archive-add")
    def add_recording(self, audio, values: dict) -> None:
        try:
            entry = self.store.add_recording(audio, **{k: v or None for k, v in values.items()})
            message = f"Added {entry.id}: {entry.dialect}, {entry.duration_seconds:.0f} seconds, kept encrypted."
        except ReaderError as exc:
            message = exc.message
        self.app.call_from_thread(self.refresh_list)
        self.app.call_from_thread(self._hint, message)

    def action_export(self) -> None:
        fields = [("folder", "folder to write the encrypted bundle into"), ("passphrase", "a passphrase for the bundle")]

        def chosen(values: dict | None) -> None:
            if values:
                self.export(values)

        self.app.push_screen(FieldsScreen("Export the archive as an encrypted bundle "
                                          "(plaintext export: `reader archive export DIR --plaintext`)",
                                          fields, self.announce, secret={"passphrase"}), chosen)

    @work(thread=True, exclusive=True, group="archive-export")
    def export(self, values: dict) -> None:
        from reader.archive.export import export_bundle

        try:
            if not values.get("passphrase"):
                raise ReaderError("The bundle needs a passphrase; type one.")
            listing = self.store.scan(self.dialect)
            done = export_bundle(self.store, Path(values.get("folder") or ".").expanduser(), values["passphrase"],
                                 listing.entries)
            message = f"Exported to {done.path}; open it with `reader vault import`."
            if listing.damaged:
                message += f" {listing.warning()} The export holds the others."
        except ReaderError as exc:
            message = exc.message
        self.app.call_from_thread(self._hint, message)

    def action_close(self) -> None:
        """Escape goes back one step: a playing recording stops first; then the archive closes."""
        playback = self._playback
        if playback is not None and (playback.is_playing or playback.is_paused) and not playback.finished:
            self.action_stop()
            return
        if playback is not None:
            playback.stop()
        self.dismiss(None)


class ArchiveRecordScreen(_Dialog):
    """Records one archive recording: Space starts and stops, the level meter and the time show, Escape
    cancels (nothing is kept). Dismisses with the recording (FLAC in memory) or None."""

    spoken_title = "Recording for the archive. Space starts and stops; Escape cancels."
    BINDINGS = [Binding("escape", "close", "Cancel"), Binding("space", "toggle", "Start / stop")]

    def __init__(self, announce: Announce, *, hush=None, device: int | str | None = None) -> None:
        super().__init__(announce)
        self.hush = hush
        self.device = device
        self.stop_event = None
        self.cancelled = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Record for the archive — Space starts and stops, Escape cancels", classes="title")
            yield Static("level [" + " " * 30 + "]", id="meter")
            yield Static("Press Space to start.", id="hint")

    def action_toggle(self) -> None:
        import threading

        if self.stop_event is None:
            if self.hush is not None:
                self.hush()  # the app's own speech would be recorded too
            self.stop_event = threading.Event()
            self.query_one("#hint", Static).update("Recording… Space stops.")  # shown, not spoken
            self.record(self.stop_event)
        else:
            self.stop_event.set()

    @work(thread=True, exclusive=True, group="archive-record")
    def record(self, stop) -> None:
        from reader.archive.recording import ArchiveRecording
        from reader.voices.capture import meter_line

        def level(db: float, seconds: float, clipping: bool) -> None:
            self.app.call_from_thread(self.query_one("#meter", Static).update,
                                      meter_line(db, seconds, clipping=clipping))

        try:
            audio = ArchiveRecording(self.device).run(stop, on_level=level)
        except ReaderError as exc:
            self.app.call_from_thread(self._failed, exc.message)
            return
        if not self.cancelled:
            self.app.call_from_thread(self.dismiss, audio)

    def _failed(self, message: str) -> None:
        self.stop_event = None
        if not self.cancelled:
            self._hint(f"{message} Press Space to record again, Escape to cancel.")

    def action_close(self) -> None:
        self.cancelled = True
        if self.stop_event is not None:
            self.stop_event.set()
        self.dismiss(None)


class MicrophoneScreen(_ListDialog):
    """The input devices PortAudio sees, the system's default first; Enter chooses, Escape keeps the
    current one. Dismisses with the chosen setting value ("" for the default) or None."""

    spoken_title = "Choose the microphone. Arrows move, Enter chooses, Escape keeps the current one."

    def __init__(self, current: str | None, announce: Announce) -> None:
        super().__init__(announce)
        self.current = current or ""
        self.values: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Microphone — Enter chooses, Escape keeps the current one", classes="title")
            yield OptionList(id="devices")
            yield Static("", id="hint")

    def on_mount(self) -> None:
        from reader.voices.capture import input_devices

        super().on_mount()
        options = self.query_one("#devices", OptionList)
        try:
            devices = input_devices()
        except ReaderError as exc:
            devices = []
            self._hint(exc.message)
        choices = [("", "the system's default input"), *devices]
        self.values = [value for value, _ in choices]
        mark = lambda value: "  (in use)" if value == self.current else ""  # noqa: E731
        options.add_options([Option(label + mark(value)) for value, label in choices])
        options.highlighted = self.values.index(self.current) if self.current in self.values else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.values[event.option_index])


def choose_microphone(screen: _Dialog, current: str | None, chosen) -> None:
    """Show MicrophoneScreen over `screen`; save the choice in the settings and call chosen(value)."""
    from reader.settings import Settings

    def picked(value: str | None) -> None:
        if value is None:
            return
        settings = getattr(screen.app, "settings", None)
        home = settings.home if settings is not None else None
        Settings.load(home).with_(microphone=value or None).save()
        if settings is not None:
            screen.app.settings = settings.with_(microphone=value or None)
        chosen(value or None)
        screen._hint(f"Recording from {value or 'the system default input'} from now on.")

    screen.app.push_screen(MicrophoneScreen(current, screen.announce), picked)


class FieldsScreen(_Dialog):
    """A small form: one labelled input a line; Enter moves to the next field and submits on the last."""

    def __init__(self, title: str, fields: list[tuple[str, str]], announce: Announce, *, single: bool = False,
                 secret: set[str] | None = None) -> None:
        super().__init__(announce)
        self.title_text = title
        self.fields = fields
        self.single = single
        self.secret = secret or set()
        self.spoken_title = f"{title}."  # then the first field, by its label (when it gets focus)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text + " — Enter goes to the next field, Escape cancels", classes="title")
            for name, label in self.fields:
                yield Static(label)
                yield Input(id=f"field-{name}", password=name in self.secret, placeholder=label)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()  # its label is said as it gets focus
            return
        values = {name: self.query_one(f"#field-{name}", Input).value.strip() for name, _ in self.fields}
        self.dismiss(values[self.fields[0][0]] if self.single else values)
