"""The reader's terminal app: the document with the current sentence highlighted, keyboard only."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Header, Static

from reader.settings import Settings
from reader.text.document import BlockKind, Document, Sentence

HIGHLIGHT = "bold black on yellow"


class BlockView(Static):
    """One block of the document; re-rendered with a highlight when it holds the current sentence."""

    def __init__(self, doc: Document, index: int) -> None:
        self.doc = doc
        self.index = index
        super().__init__(self._render_text(None), classes=f"block {doc.blocks[index].kind.value}")

    def _render_text(self, sentence: Sentence | None) -> Text:
        block = self.doc.blocks[self.index]
        text = Text(block.text)
        if block.kind is BlockKind.HEADING:
            text.stylize("bold underline")
        if block.kind is BlockKind.LIST_ITEM:
            text = Text("• ") + text
        if sentence is not None and sentence.block == self.index:
            offset = 2 if block.kind is BlockKind.LIST_ITEM else 0
            text.stylize(HIGHLIGHT, sentence.start - block.start + offset, sentence.end - block.start + offset)
        return text

    def show(self, sentence: Sentence | None) -> None:
        self.update(self._render_text(sentence))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close help")]

    def compose(self) -> ComposeResult:
        lines = ["Keys", ""]
        for binding in ReaderApp.BINDINGS:
            if isinstance(binding, Binding):
                lines.append(f"{binding.key:<24} {binding.description}")
        yield Static("\n".join(lines), id="help")


class ReaderApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Reader"
    BINDINGS = [
        Binding("down,j", "next_sentence", "Next sentence"),
        Binding("up,k", "previous_sentence", "Previous sentence"),
        Binding("pagedown,n", "next_paragraph", "Next paragraph"),
        Binding("pageup,p", "previous_paragraph", "Previous paragraph"),
        Binding("h", "next_heading", "Next heading"),
        Binding("H", "previous_heading", "Previous heading"),
        Binding("home", "first", "Start of document"),
        Binding("end", "last", "End of document"),
        Binding("s", "say_position", "Say position"),
        Binding("v", "toggle_spoken", "Show spoken form"),
        Binding("f1,question_mark", "help", "Help"),
        Binding("q,ctrl+q", "quit", "Quit"),
    ]

    def __init__(self, settings: Settings, document: Document | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.document = document
        self.sentences: list[Sentence] = []
        self.current = 0
        self.show_spoken = False

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="document"):
            if self.document is not None:
                for i in range(len(self.document.blocks)):
                    yield BlockView(self.document, i)
            else:
                yield Static("No document is open. Run `reader FILE` to open one.", id="empty")
        yield Static("", id="spoken")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        if self.document is None:
            return
        from reader.text.sentences import document_sentences

        self.title = self.document.title
        self.sentences = document_sentences(self.document, max_tokens=self.settings.max_tokens)
        self._move_to(0)

    # -- navigation -------------------------------------------------------------------------------
    def _views(self) -> list[BlockView]:
        return list(self.query(BlockView))

    def _move_to(self, index: int) -> None:
        if not self.sentences:
            self._status("The document has no text to read.")
            return
        index = max(0, min(index, len(self.sentences) - 1))
        old = self.sentences[self.current]
        self.current = index
        new = self.sentences[index]
        views = self._views()
        views[old.block].show(None)
        views[new.block].show(new)
        views[new.block].scroll_visible(animate=False)
        self._update_spoken()
        self._status(self._position_text())

    def _position_text(self) -> str:
        s = self.sentences[self.current]
        block = self.document.blocks[s.block]
        pct = round(100 * (self.current + 1) / len(self.sentences))
        where = f"page {block.page}, " if block.page else ""
        return f"Sentence {self.current + 1} of {len(self.sentences)}, {where}{pct}%"

    def _status(self, message: str) -> None:
        self.query_one("#status", Static).update(message)

    def _update_spoken(self) -> None:
        panel = self.query_one("#spoken", Static)
        panel.display = self.show_spoken
        if not self.show_spoken:
            return
        from reader.text.dictionary import PronunciationDictionary
        from reader.text.normalize import normalize

        s = self.sentences[self.current]
        dictionary = PronunciationDictionary.load(self.settings.dictionary_file)
        panel.update("Spoken: " + normalize(s.text, punctuation=self.settings.punctuation, dictionary=dictionary).text)

    def _jump_block(self, step: int, kind: BlockKind | None = None) -> None:
        if not self.sentences:
            return
        block = self.sentences[self.current].block
        blocks = self.document.blocks
        b = block + step
        while 0 <= b < len(blocks) and kind is not None and blocks[b].kind is not kind:
            b += step
        if not 0 <= b < len(blocks):
            self._status("No more headings." if kind else "No more paragraphs.")
            return
        for i, s in enumerate(self.sentences):
            if s.block == b:
                self._move_to(i)
                return

    def action_next_sentence(self) -> None:
        self._move_to(self.current + 1)

    def action_previous_sentence(self) -> None:
        self._move_to(self.current - 1)

    def action_next_paragraph(self) -> None:
        self._jump_block(1)

    def action_previous_paragraph(self) -> None:
        self._jump_block(-1)

    def action_next_heading(self) -> None:
        self._jump_block(1, BlockKind.HEADING)

    def action_previous_heading(self) -> None:
        self._jump_block(-1, BlockKind.HEADING)

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(len(self.sentences) - 1)

    def action_say_position(self) -> None:
        if self.sentences:
            self._status(self._position_text())

    def action_toggle_spoken(self) -> None:
        self.show_spoken = not self.show_spoken
        self._update_spoken()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


def make_app(settings: Settings, document: Document | None = None) -> ReaderApp:
    """The one factory shared by the CLI and the tests."""
    return ReaderApp(settings, document)
