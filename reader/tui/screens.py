"""The app's dialogs: help, voices, bookmarks, find, open and export. Each speaks the focused item."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

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


class VoiceScreen(_ListDialog):
    spoken_title = "Choose a voice. Arrows to move, Enter to choose, Escape to cancel."

    def __init__(self, session, announce: Announce) -> None:
        super().__init__(announce)
        self.session = session

    def compose(self) -> ComposeResult:
        from reader.speech import packs
        from reader.speech.voices import voice_entries

        with Vertical(id="dialog"):
            yield Static("Voices — Enter chooses, Escape cancels", classes="title")
            try:
                entries = voice_entries(m for _, m in packs.find_packs())
            except ReaderError as exc:
                entries = []
                yield Static(exc.message)
            options = [
                Option(f"{e.title} ({e.pack}, {e.tier}, {e.language}): {e.note}", id=e.id)
                for e in entries if not e.can_clone
            ]
            if not options:
                options = [Option("No voice pack is installed; run `reader packs build`.", disabled=True)]
            yield OptionList(*options, id="voices")
            yield Static(
                "None of the installed packs can clone a voice: they choose or blend stock voices. "
                "A pack conditioned on a speaker embedding can; see the README.", classes="note",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


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

    def on_mount(self) -> None:
        super().on_mount()
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
