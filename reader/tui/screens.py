"""The app's dialogs: help, voices, bookmarks, find, open and export. Each speaks the focused item."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from reader.errors import ReaderError

Announce = Callable[[str], None]


class _Dialog(ModalScreen):
    """A modal dialog that closes with Escape and speaks its title when it opens."""

    BINDINGS = [Binding("escape", "close", "Close")]
    spoken_title = ""

    def __init__(self, announce: Announce) -> None:
        super().__init__()
        self.announce = announce

    def on_mount(self) -> None:
        if self.spoken_title:
            self.announce(self.spoken_title)

    def action_close(self) -> None:
        self.dismiss(None)

    def _hint(self, text: str) -> None:
        """Show a line under the dialog's fields and speak it (self-voicing)."""
        self.query_one("#hint", Static).update(text)
        self.announce(text)


class _ListDialog(_Dialog):
    """A list that speaks the highlighted item, like a screen reader moving through a menu."""

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.announce(str(event.option.prompt))


class HelpScreen(_ListDialog):
    spoken_title = "Help. Every key, one a line. Arrows to move, Escape to close."
    BINDINGS = [Binding("escape,f1,q", "close", "Close help")]

    def __init__(self, bindings, announce: Announce) -> None:
        super().__init__(announce)
        self.bindings = bindings

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

    def __init__(self, value: str, announce: Announce) -> None:
        super().__init__(announce)
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.prompt, classes="title")
            yield Input(value=self.value, id="field")
            yield Static("", id="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class FindScreen(_InputDialog):
    prompt = "Find text — type it, Enter searches, Escape cancels"
    spoken_title = "Find. Type the text, then Enter."


class OpenScreen(_InputDialog):
    prompt = "Open a file — type its path (Tab completes), Enter opens, Escape cancels"
    spoken_title = "Open a file. Type its path; Tab completes; Enter opens."
    BINDINGS = [Binding("escape", "close", "Close"), Binding("tab", "complete", "Complete the path")]

    def __init__(self, announce: Announce) -> None:
        super().__init__(str(Path.cwd()) + "/", announce)

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
            field.value = str(match) + ("/" if match.is_dir() else "")
            field.cursor_position = len(field.value)
            self.announce(match.name + (" folder" if match.is_dir() else ""))
        elif matches:
            names = ", ".join(m.name for m in matches[:12])
            self.query_one("#hint", Static).update(names)
            self.announce(f"{len(matches)} matches: {names}")
        else:
            self.announce("No match.")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if value and Path(value).expanduser().is_file():
            self.dismiss(str(Path(value).expanduser()))
        elif value:
            self._hint(f"There is no file {value}; check the path (Tab completes).")


class ExportScreen(_Dialog):
    """Export the document from the current sentence to a WAV file, with progress; Escape cancels."""

    spoken_title = "Exporting to a WAV file. Escape cancels."
    BINDINGS = [Binding("escape", "close", "Cancel")]

    def __init__(self, session, folder: Path) -> None:
        super().__init__(session.announce)
        self.session = session
        self.folder = folder
        self.cancel = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Exporting from the current sentence to the end — Escape cancels", classes="title")
            yield ProgressBar(total=100, id="export-progress", show_eta=True)
            yield Static("", id="hint")

    def on_mount(self) -> None:
        super().on_mount()
        self.folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in self.session.document.title).strip()
        self.export(self.folder / f"{safe or 'document'}.wav")

    @work(thread=True, exclusive=True, group="export")
    def export(self, path: Path) -> None:
        def progress(fraction: float) -> None:
            self.app.call_from_thread(self.query_one(ProgressBar).update, progress=round(fraction * 100))

        try:
            done = self.session.export(path, start=self.session.current, cancel=self.cancel, progress=progress)
            message = f"Exported to {done}."
        except ReaderError as exc:
            message = exc.message
        self.app.call_from_thread(self._finished, message)

    def _finished(self, message: str) -> None:
        self._hint(message + " Press Escape to close.")
        self.cancel.set()

    def action_close(self) -> None:
        self.cancel.set()
        self.dismiss(None)
