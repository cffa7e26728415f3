"""The reader's terminal app: the document with the sentence being heard highlighted, keyboard only.

It speaks its own interface (self-voicing) through the reading session; all blocking work happens in the
session's threads or in Textual workers, so a key press always answers at once.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Offset
from textual.widgets import Footer, Header, ProgressBar, RichLog, Static

from reader import offline
from reader.channel import SpeechChannel
from reader.errors import ReaderError
from reader.reading import ReadingEvent, ReadingSession
from reader.settings import Settings
from reader.text.document import BlockKind, Document, Sentence
from reader.tui.screens import (
    BookmarksScreen, ExportScreen, FindScreen, HelpScreen, OpenScreen, VoiceScreen,
)
from reader.voices import VAULT_PREFIX

log = logging.getLogger(__name__)

# High contrast: black on yellow is the pairing low-vision users pick most often, and it does not
# depend on colour alone: the sentence is also shown in bold and underlined.
HIGHLIGHT = "bold underline black on yellow"
LANG_MODES = ("auto", "en", "zh")


class BlockView(Static):
    """One block of the document; re-rendered with a highlight when it holds the current sentence."""

    def __init__(self, doc: Document, index: int) -> None:
        self.doc = doc
        self.index = index
        super().__init__(self._render_text(None), classes=f"block {doc.blocks[index].kind.value}")

    def _prefix(self) -> str:
        block = self.doc.blocks[self.index]
        if block.kind is BlockKind.LIST_ITEM:
            return "" if block.number else "• "  # a numbered item's number starts its text
        if block.kind is BlockKind.HEADING:
            return "#" * (block.level or 1) + " "  # the heading level in text, not only in style
        return ""

    def _render_text(self, sentence: Sentence | None) -> Text:
        block = self.doc.blocks[self.index]
        prefix = self._prefix()
        text = Text(prefix + block.text)
        if block.kind is BlockKind.HEADING:
            text.stylize("bold")
        for span in block.spans:  # links underlined, image descriptions in italics, as in a browser
            text.stylize("underline" if span.kind == "link" else "italic", span.start + len(prefix),
                         span.end + len(prefix))
        if sentence is not None and sentence.block == self.index:
            start = sentence.start - block.start + len(prefix)
            text.stylize(HIGHLIGHT, start, start + len(sentence.text))
        return text

    def show(self, sentence: Sentence | None) -> None:
        self.update(self._render_text(sentence))

    def cell_of(self, offset: int, width: int) -> tuple[int, int]:
        """The (row, column) at which character `offset` of the block's text is drawn, wrapped at
        `width` cells (a Chinese character takes two)."""
        from rich.cells import cell_len

        text = self._render_text(None)
        plain = text.plain
        pos = min(len(plain), offset + len(self._prefix()))
        start = 0
        lines = text.wrap(self.app.console, width)
        for row, line in enumerate(lines):
            piece = line.plain.rstrip()
            at = plain.find(piece, start) if piece else start
            at = start if at < 0 else at
            end = at + len(piece)
            if pos <= end or row == len(lines) - 1:
                return row, min(width - 1, cell_len(plain[at:max(at, pos)]))
            start = end
        return 0, 0


class _LogToPanel(logging.Handler):
    """Sends the core's log records to the debug panel (the app decides where logs go, not the core)."""

    def __init__(self, app: "ReaderApp") -> None:
        super().__init__(logging.INFO)
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.app.post_log(self.format(record))
        except Exception:  # never let logging break the app
            pass


class ReaderApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Reader"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("space", "toggle_play", "Play / pause"),
        Binding("escape", "stop", "Stop"),
        Binding("enter", "read_from_cursor", "Read from here"),
        Binding("down,j", "next_sentence", "Next sentence"),
        Binding("up,k", "previous_sentence", "Previous sentence"),
        Binding("right", "next_word", "Next word"),
        Binding("left", "previous_word", "Previous word"),
        Binding("p,ctrl+down", "next_paragraph", "Next paragraph"),
        Binding("P,ctrl+up", "previous_paragraph", "Previous paragraph"),
        Binding("h", "next_heading", "Next heading"),
        Binding("H", "previous_heading", "Previous heading"),
        Binding("pagedown", "next_page", "Next page"),
        Binding("pageup", "previous_page", "Previous page"),
        Binding("home,ctrl+home", "first", "Start of document"),
        Binding("end,ctrl+end", "last", "End of document"),
        Binding("r", "repeat", "Repeat sentence"),
        Binding("s", "spell", "Spell current word"),
        Binding("w", "say_position", "Say position (where am I), reading goes on"),
        Binding("equals_sign,plus", "rate_up", "Faster"),
        Binding("minus", "rate_down", "Slower"),
        Binding("right_square_bracket", "pitch_up", "Higher pitch"),
        Binding("left_square_bracket", "pitch_down", "Lower pitch"),
        Binding("v", "voices", "Change voice"),
        Binding("ctrl+p", "punctuation", "Punctuation level"),
        Binding("ctrl+d", "structure", "Structure announcements (off, headings, all)"),
        Binding("ctrl+l", "redraw", "Redraw the screen"),
        Binding("D", "scope", "Settings for all documents or this one"),
        Binding("l", "language", "Language detection"),
        Binding("b", "add_bookmark", "Add bookmark"),
        Binding("B", "bookmarks", "List bookmarks"),
        Binding("slash,ctrl+f", "find", "Find text"),
        Binding("n,f3", "find_next", "Find next"),
        Binding("N", "find_previous", "Find previous"),
        Binding("o", "open", "Open file"),
        Binding("c", "clipboard", "Read clipboard"),
        Binding("e", "export", "Export to WAV"),
        Binding("t", "toggle_spoken", "Show spoken form"),
        Binding("m", "toggle_self_voicing", "App speech on / off"),
        Binding("a", "archive", "Dialect archive"),
        Binding("V", "family_voices", "Family voices"),
        Binding("K", "lock_vault", "Lock the vault now (names and recordings leave the screen)"),
        Binding("f12,d", "toggle_debug", "Debug panel"),
        Binding("f1,question_mark", "help", "Help"),
        Binding("q,ctrl+q", "quit", "Quit"),
    ]

    def __init__(self, settings: Settings, document: Document | None = None, *, source: str | None = None,
                 password: str | None = None, session_factory=ReadingSession, warm_up: bool = True) -> None:
        super().__init__()
        self.warm_up = warm_up  # load the voice as soon as a document opens, so the first play is fast
        self.settings = settings
        self.document = document
        self.source = source
        self.password = password
        self.session_factory = session_factory
        self.session: ReadingSession | None = None
        self.show_spoken = False
        self.last_find = ""
        self.lang_mode = "auto"
        self.self_voicing = settings.self_voicing
        # The app's voice, from the first frame: with or without a document, every message is heard.
        self.channel = SpeechChannel(settings, on_event=self._on_channel_event, self_voicing=self.self_voicing)
        self._log_handler = _LogToPanel(self)
        self._main_thread = threading.get_ident()
        self.vault = None  # unlocked only in memory, locked again after settings.vault_idle_lock_s idle
        self._autolock = None

    # -- layout ------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="main"):
            # Not focusable: the arrow keys move the reading place, not the scroll position.
            yield VerticalScroll(id="document", can_focus=False)
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="spoken")
            with Vertical(id="debug"):
                yield Static("", id="timing")
                log_view = RichLog(id="log", max_lines=500, wrap=True)
                log_view.can_focus = False  # the arrow keys belong to the reading place
                yield log_view
        yield Static("", id="message")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        logging.getLogger("reader").addHandler(self._log_handler)
        self.post_log(offline.status())
        self._show_cursor()
        if self.warm_up and self.self_voicing:
            self.channel.warm_up()
        self.query_one("#progress").display = False
        self.query_one("#debug").display = False
        self.query_one("#spoken").display = False
        if self.document is not None:
            self._open_document(self.document)
        elif self.source is not None:
            self.load_source(self.source, self.password)
        else:
            last = self.session_store_last()
            if last:
                self.load_source(last, None)
            else:
                self._message("No document is open.")
                self._redraw_soon()  # opening a document redraws in _open_document
                # After the first frame: a screen pushed before it sometimes never got its full paint
                # (only the Open field was drawn, over a blank terminal).
                self.call_after_refresh(self.action_open, intro="Welcome to the reader. No document is open "
                                        "yet. Press Escape, then c to read the clipboard, or F1 for help; or "
                                        "open a file now.")

    def on_unmount(self) -> None:
        logging.getLogger("reader").removeHandler(self._log_handler)
        if self._autolock is not None:
            self._autolock.stop()
        if self.vault is not None:
            self.vault.lock()
        if self.session is not None:
            self.session.close()
        self.channel.close()

    def session_store_last(self) -> str | None:
        from reader.state import StateStore

        return StateStore(self.settings.home).last_source()

    # -- documents ---------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load")
    def load_source(self, source: str, password: str | None) -> None:
        """Extract a document in a worker, with a progress bar, so the app answers keys meanwhile."""
        self.call_from_thread(self._progress, "Opening " + Path(source).name + "…", None)
        from reader.text import extract

        try:
            if source == "clipboard":
                text = extract.read_clipboard()
                doc = extract.document_from_text(text, source="clipboard", title="Clipboard")
            else:
                doc = extract.load_document(source, password=password)
        except ReaderError as exc:
            self.call_from_thread(self._progress_done)
            after = "" if self.session is not None else " Press o to open another file, or F1 for help."
            self.call_from_thread(self._say_error, exc.message + after)
            return
        self.call_from_thread(self._progress_done)
        self.call_from_thread(self._open_document, doc)

    def _open_document(self, doc: Document) -> None:
        if self.session is not None:
            self.settings = self.session.settings  # preferences changed while reading the last one
            self.session.close()
        self.document = doc
        self.title = doc.title
        view = self.query_one("#document", VerticalScroll)
        view.remove_children()
        view.mount_all([BlockView(doc, i) for i in range(len(doc.blocks))])
        self.session = self.session_factory(doc, self.settings, on_event=self._on_session_event,
                                            self_voicing=self.self_voicing, channel=self.channel)
        self._highlight(None, self.session.current)
        self._status()
        own = " This document has its own reading settings." if self.session.state.has_overrides else ""
        if not self.session.sentences:
            self._say(f"{doc.title}. The document is empty; press o to open another.")
        elif self.session.current > 0:
            self._say(f"{doc.title}. Resuming at sentence {self.session.current + 1} of "
                      f"{len(self.session.sentences)}.{own} Press space to read.")
        else:
            self._say(f"{doc.title}, {len(self.session.sentences)} sentences.{own} Press space to read.")
        if self.session.sentences:
            self.session.preview(queue=True)  # then where the reading starts, as a screen reader would
        if self.warm_up:
            self.session.warm_up()
        self._redraw_soon()

    def _redraw_soon(self) -> None:
        """Draw the whole screen again shortly. On a loaded machine a frame built while a document or
        dialog was mounted was sometimes never fully painted in tmux (only one field or the text drawn,
        the status line missing), and a screen reader or braille display following the terminal would
        read a half-empty screen. The cause is not pinned down; a second full paint is cheap."""
        self.set_timer(0.4, self.action_redraw)

    def action_redraw(self) -> None:
        """Ctrl+L, as in most terminal programs: draw everything again."""
        self.refresh(layout=True)  # the current screen, all of it

    # -- events from the session (any thread) ------------------------------------------------------
    def _on_session_event(self, event: ReadingEvent) -> None:
        if threading.get_ident() == self._main_thread:
            self._handle_event(event)
        else:
            try:
                self.call_from_thread(self._handle_event, event)
            except RuntimeError:  # the app is closing
                pass

    def _handle_event(self, event: ReadingEvent) -> None:
        if event.kind == "position":
            self._highlight(self._shown, event.sentence)
            self._status()
        elif event.kind == "state":
            self._status()
        elif event.kind in ("message", "error", "notice"):
            self._message(event.message, error=event.kind == "error")
            if event.kind != "message":
                self.post_log(f"{event.kind}: {event.message}")
            if event.kind == "error":  # heard, not only shown
                self.channel.say(event.message)
        elif event.kind == "settings":
            self.settings = event.data
            self._status()
        elif event.kind == "timing":
            self._timing(event.sentence, event.data)
        elif event.kind == "progress":
            if event.data is not None and event.data >= 1.0:
                self._progress_done()  # the message line keeps what was said last (a greeting, an error)
                self.post_log(event.message)
            else:
                # Only the bar: the message line keeps the greeting or the answer the user is reading.
                self._progress(event.message, event.data, quiet=True)

    # -- display -----------------------------------------------------------------------------------
    _shown: int | None = None

    def _highlight(self, old: int | None, new: int | None) -> None:
        if self.session is None or not self.session.sentences:
            return
        views = list(self.query(BlockView))
        if old is not None and old < len(self.session.sentences):
            views[self.session.sentences[old].block].show(None)
        if new is None:
            return
        sentence = self.session.sentences[new]
        views[sentence.block].show(sentence)
        views[sentence.block].scroll_visible(animate=False)
        self._shown = new
        self._update_spoken()
        self.call_after_refresh(self._cursor_to_sentence)

    def _show_cursor(self) -> None:
        """Show the terminal's real cursor (Textual hides it): Orca, NVDA, Speakup and braille displays
        follow it, so it sits on the sentence being read, or on the focused item of a dialog."""
        driver = getattr(self, "_driver", None)
        if driver is not None and not self.is_headless:
            driver.write("\x1b[?25h")

    def _cursor_to_sentence(self) -> None:
        if self.session is None or self.session.sentence is None or self.screen is not self.screen_stack[0]:
            return
        sentence = self.session.sentence
        views = list(self.query(BlockView))
        if sentence.block >= len(views):
            return
        view = views[sentence.block]
        region = view.content_region
        if not region.width or not region.height:
            return
        row, col = view.cell_of(sentence.start - self.document.blocks[sentence.block].start, region.width)
        y = region.y + row - view.scroll_offset.y
        top = self.query_one("#document").content_region
        if top.y <= y < top.bottom:
            self.cursor_position = Offset(region.x + col, y)
            self.refresh()

    def _status(self) -> None:
        s = self.session
        if s is None:
            self.query_one("#status", Static).update("No document.")
            return
        voice = s.voice_label
        scope = " | this document's settings" if s.scope != "all documents" else ""
        text = (f"{s.status.capitalize()} | {s.position_text()} | {voice} | rate {round(s.rate * 100)}% "
                f"| pitch {round(s.pitch * 100)}% | punctuation {s.punctuation} | language {self.lang_mode}"
                f"{scope}{'' if self.self_voicing else ' | app speech off'}")
        self.query_one("#status", Static).update(text)

    def _message(self, text: str, *, error: bool = False) -> None:
        widget = self.query_one("#message", Static)
        widget.update(("Error: " if error else "") + text)
        widget.set_class(error, "error")

    def _say(self, text: str, *, queue: bool = False) -> None:
        """Show a message and, with self-voicing on, speak it (with or without a document)."""
        if self.session is not None:
            self.session.announce(text, queue=queue)  # emits the message event too
        else:
            self._message(text)
            self.channel.say(text, queue=queue)

    say = _say  # what the dialogs are given to speak with: say(text, queue=False)

    def _say_error(self, text: str) -> None:
        """An error: shown as one, and spoken (self-voicing)."""
        self._say(text)
        self._message(text, error=True)
        self.post_log(f"error: {text}")

    def _on_channel_event(self, kind: str, message: str) -> None:
        """The app's voice failed (no pack, no audio device) or has a notice, with no document open."""
        if threading.get_ident() != self._main_thread:
            try:
                self.call_from_thread(self._on_channel_event, kind, message)
            except RuntimeError:
                pass
            return
        self._message(message, error=kind == "error")
        self.post_log(f"{kind}: {message}")

    def announce_where(self, before: str = "") -> None:
        """After a dialog closed with Escape: say where the user is now (the dialog under it, or the
        document and the sentence)."""
        top = self.screen
        from reader.tui.screens import _Dialog

        if isinstance(top, _Dialog):
            if before:
                self._say(before)
            top.announce_focus() if not before else self.call_later(top.announce_focus)
            return
        if self.session is None:
            where = "No document is open. Press o to open a file, c to read the clipboard, F1 for help."
        else:
            where = f"{self.document.title}, {self.session.position_text()}"
        self._say(" ".join(p for p in (before, where) if p))
        self.call_after_refresh(self._cursor_to_sentence)

    def _progress(self, label: str, fraction: float | None, *, quiet: bool = False) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.display = True
        if fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=round(fraction * 100))
        if quiet:
            self.post_log(label)
        else:
            self._message(label)

    def _progress_done(self) -> None:
        self.query_one("#progress", ProgressBar).display = False

    def _timing(self, sentence: int | None, data: dict) -> None:
        line = (f"#{(sentence or 0) + 1} {data.get('pack', '')}: speaker {data['speaker_ms']:.0f} ms, "
                f"acoustic {data['acoustic_ms']:.0f} ms, vocoder {data['vocoder_ms']:.0f} ms, "
                f"RTF {data['rtf']:.2f}, queue {data.get('queue_s', 0):.1f} s")
        self.query_one("#timing", Static).update(line)
        self.post_log(line)

    def post_log(self, line: str) -> None:
        if threading.get_ident() != self._main_thread:
            try:
                self.call_from_thread(self.post_log, line)
            except RuntimeError:
                pass
            return
        try:
            self.query_one("#log", RichLog).write(line)
        except Exception:  # before mount or after unmount
            pass

    def _update_spoken(self) -> None:
        panel = self.query_one("#spoken", Static)
        panel.display = self.show_spoken
        if not self.show_spoken or self.session is None or self.session.sentence is None:
            return
        from reader.text.dictionary import PronunciationDictionary
        from reader.text.normalize import normalize

        s = self.session.sentence
        punctuation = self.session.state.punctuation or self.settings.punctuation
        try:
            dictionary = PronunciationDictionary.load(self.settings.dictionary_file)
        except ReaderError as exc:
            self._message(exc.message, error=True)
            dictionary = None
        spoken = normalize(s.text, lang=self.lang_mode, punctuation=punctuation, dictionary=dictionary)
        panel.update("Spoken form: " + spoken.text)

    # -- actions -----------------------------------------------------------------------------------
    def _with_session(self, fn):
        if self.session is None:
            self._say("No document is open. Press o to open a file, or c to read the clipboard.")
            return None
        return fn()

    def action_toggle_play(self) -> None:
        self._with_session(lambda: self.session.toggle())

    def action_stop(self) -> None:
        def stop() -> None:
            was = self.session.status
            self.session.stop()
            if was != "stopped":
                self._say(f"Stopped at sentence {self.session.current + 1}.")

        self._with_session(stop)

    def action_read_from_cursor(self) -> None:
        self._with_session(lambda: self.session.play())

    def action_next_sentence(self) -> None:
        self._with_session(lambda: self.session.next_sentence())

    def action_previous_sentence(self) -> None:
        self._with_session(lambda: self.session.previous_sentence())

    def action_next_word(self) -> None:
        self._with_session(lambda: self.session.move_word(1))

    def action_previous_word(self) -> None:
        self._with_session(lambda: self.session.move_word(-1))

    def action_next_paragraph(self) -> None:
        self._with_session(lambda: self.session.jump_block(1))

    def action_previous_paragraph(self) -> None:
        self._with_session(lambda: self.session.jump_block(-1))

    def action_next_heading(self) -> None:
        self._with_session(lambda: self.session.jump_block(1, BlockKind.HEADING))

    def action_previous_heading(self) -> None:
        self._with_session(lambda: self.session.jump_block(-1, BlockKind.HEADING))

    def action_next_page(self) -> None:
        self._with_session(lambda: self.session.jump_page(1))

    def action_previous_page(self) -> None:
        self._with_session(lambda: self.session.jump_page(-1))

    def action_first(self) -> None:
        self._with_session(lambda: self.session.first())

    def action_last(self) -> None:
        self._with_session(lambda: self.session.last())

    def action_repeat(self) -> None:
        self._with_session(lambda: self.session.repeat())

    def action_spell(self) -> None:
        self._with_session(lambda: self.session.spell_word())

    def action_say_position(self) -> None:
        self._with_session(lambda: self.session.say_over(self.session.position_text()))

    def action_rate_up(self) -> None:
        self._with_session(lambda: (self.session.change_rate(1), self._status()))

    def action_rate_down(self) -> None:
        self._with_session(lambda: (self.session.change_rate(-1), self._status()))

    def action_pitch_up(self) -> None:
        self._with_session(lambda: (self.session.change_pitch(1), self._status()))

    def action_pitch_down(self) -> None:
        self._with_session(lambda: (self.session.change_pitch(-1), self._status()))

    def action_punctuation(self) -> None:
        self._with_session(lambda: (self.session.cycle_punctuation(), self._status(), self._update_spoken()))

    def action_structure(self) -> None:
        self._with_session(lambda: self.session.cycle_structure())

    def action_scope(self) -> None:
        self._with_session(lambda: (self.session.toggle_scope(), self._status()))

    def action_language(self) -> None:
        self.lang_mode = LANG_MODES[(LANG_MODES.index(self.lang_mode) + 1) % len(LANG_MODES)]
        names = {"auto": "automatic", "en": "always English", "zh": "always Chinese"}
        if self.session is not None:
            self.session.lang = self.lang_mode
        self._status()
        self._update_spoken()
        self._say(f"Language detection: {names[self.lang_mode]}.")

    def action_add_bookmark(self) -> None:
        self._with_session(lambda: self.session.add_bookmark())

    def action_bookmarks(self) -> None:
        if self._with_session(lambda: True) is None:
            return
        marks = self.session.bookmarks()
        if not marks:
            self._say("No bookmarks yet. Press b to add one.")
            return

        def chosen(mark) -> None:
            if mark is not None:
                self.session.jump_to_bookmark(mark)

        self.push_screen(BookmarksScreen(marks, self.say), chosen)

    def action_find(self) -> None:
        if self._with_session(lambda: True) is None:
            return

        def found(text: str | None) -> None:
            if text:
                self.last_find = text
                self.session.find(text)

        self.push_screen(FindScreen(self.last_find, self.say), found)

    def action_find_next(self) -> None:
        if self._with_session(lambda: True) is None:
            return
        if self.last_find:
            self.session.find(self.last_find)
        else:
            self.action_find()

    def action_find_previous(self) -> None:
        if self._with_session(lambda: True) is None:
            return
        if self.last_find:
            self.session.find(self.last_find, forward=False)
        else:
            self.action_find()

    def action_open(self, intro: str = "") -> None:
        def chosen(path: str | None) -> None:
            if path:
                self._say(f"Opening {Path(path).name}.")
                self.load_source(path, None)

        self.push_screen(OpenScreen(self.say, intro=intro), chosen)

    def action_clipboard(self) -> None:
        self.load_source("clipboard", None)

    def action_voices(self) -> None:
        if self._with_session(lambda: True) is None:
            return

        screen = VoiceScreen(self.session, self.say)

        def chosen(voice: str | None) -> None:
            if voice:
                line = screen.by_id.get(voice)
                self.session.set_voice(voice, label=line.name_said if line else None)
                self._status()

        self.push_screen(screen, chosen)

    def action_export(self) -> None:
        if self._with_session(lambda: True) is None:
            return
        self.session.stop()
        self.push_screen(ExportScreen(self.session, self.settings.home / "exports", self.say))

    def action_toggle_spoken(self) -> None:
        self.show_spoken = not self.show_spoken
        self._update_spoken()

    def action_toggle_self_voicing(self) -> None:
        """App speech on or off, kept for every later session (settings.json)."""
        self.self_voicing = not self.self_voicing
        self.channel.self_voicing = True  # "App speech off" is itself heard
        self._say("App speech on." if self.self_voicing else "App speech off; the cursor follows the sentence "
                  "for your screen reader.")
        self.channel.self_voicing = self.self_voicing
        self.settings = (self.session.settings if self.session else self.settings).with_(self_voicing=self.self_voicing)
        if self.session is not None:
            self.session.settings = self.settings
        try:
            self.settings.save()
        except OSError as exc:
            self._message(f"Could not save the settings ({exc.strerror}); the change holds until you quit.", error=True)
        self._status()

    def action_toggle_debug(self) -> None:
        panel = self.query_one("#debug")
        panel.display = not panel.display

    # -- the vault -----------------------------------------------------------------------------------
    def with_vault(self, then) -> None:
        """Run `then(vault)` with the vault unlocked, asking for the passphrase first when it is locked."""
        from reader.tui.family import PassphraseScreen
        from reader.vault.store import AutoLock, Vault

        if self.vault is not None and not self.vault.locked:
            self.vault.touch()
            then(self.vault)
            return
        folder = self.settings.home / "vault"
        announce = self.say

        def unlocked(vault) -> None:
            if vault is None:
                return
            self.vault = vault
            # The timer thread locks; the screens showing the vault's names close on the UI thread.
            self._autolock = AutoLock(vault, self.settings.vault_idle_lock_s,
                                      on_lock=lambda: self.call_from_thread(
                                          self._vault_locked, "The vault locked itself after idle time."))
            self._autolock.start()
            self.use_enrolled_voice(vault)
            then(vault)

        self.push_screen(PassphraseScreen(folder, announce, create=not Vault.exists(folder)), unlocked)

    def action_lock_vault(self) -> None:
        if self.vault is None or self.vault.locked:
            self.say("The vault is already locked.")
            return
        if self._autolock is not None:
            self._autolock.stop()
        self.vault.lock()
        self._vault_locked("Vault locked.")

    def _vault_locked(self, what: str) -> None:
        """After a lock: close every screen that shows the vault's names or recordings (the archive, the
        voices and the dialogs above them), so nothing decrypted stays on the screen."""
        from reader.tui.family import ArchiveScreen
        from reader.tui.voices import VoicesScreen

        stack = self.screen_stack
        first = next((i for i, screen in enumerate(stack) if isinstance(screen, (ArchiveScreen, VoicesScreen))), None)
        if first is not None:
            if self.session is not None:
                self.session.stop()  # an archive recording playing from the vault stops with it
            for _ in range(len(stack) - first):
                self.pop_screen()
        self.post_log(what)
        self.say(f"{what} Press capital V or a and the passphrase to open it again.")

    def use_enrolled_voice(self, vault) -> None:
        """If the reading voice is an enrolled one, load it from the just unlocked vault (in a thread:
        it may load a voice pack)."""
        session = self.session
        voice = session.chosen_voice if session is not None else None
        if voice and voice.startswith(VAULT_PREFIX):
            self.run_worker(lambda: session.use_vault(vault), thread=True, group="enrolled-voice")

    def action_archive(self) -> None:
        from reader.tui.family import ArchiveScreen

        announce = self.say
        if self.session is not None:
            self.session.stop()  # one sound at a time: the archive plays through the same player

        def show(vault) -> None:
            factory = self.session._ensure_player if self.session is not None else None
            self.push_screen(ArchiveScreen(vault, announce, player_factory=factory,
                                           microphone=self.settings.microphone))

        self.with_vault(show)

    def action_family_voices(self) -> None:
        from reader.tui.voices import VoicesScreen

        announce = self.say
        self.with_vault(lambda vault: self.push_screen(VoicesScreen(vault, self.settings, announce)))

    def action_help(self) -> None:
        announce = self.say
        self.push_screen(HelpScreen(self.BINDINGS, announce))


def make_app(settings: Settings, document: Document | None = None, *, source: str | None = None,
             password: str | None = None, **kwargs) -> ReaderApp:
    """The one factory shared by the CLI and the tests."""
    return ReaderApp(settings, document, source=source, password=password, **kwargs)
