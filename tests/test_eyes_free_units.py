"""What a blind user hears, checked where it is decided: the app's speech calls (recorded, not faked:
the app runs for real, only the sound device is left out), the reading session's words and estimates,
and the keys of every screen."""

from __future__ import annotations

import asyncio
import json

import pytest

from reader.reading import ReadingSession
from reader.settings import Settings
from reader.state import DocumentState
from reader.text.extract import document_from_text, load_document
from reader.text.words import spell, split_words
from reader.tui.app import ReaderApp, make_app
from reader.tui.screens import ExportScreen, HelpScreen, OpenScreen
from tests.conftest import ROOT

SAMPLE = ROOT / "reader" / "data" / "sample.md"


class Heard:
    """Records what the app's voice was asked to say, in order, with whether it waited (queue)."""

    def __init__(self, app: ReaderApp) -> None:
        self.lines: list[tuple[str, bool]] = []
        app.channel.say = self.say
        app.channel.speak = self.speak

    def say(self, text, *, queue=False, rate=1.0):
        self.lines.append((text, queue))

    def speak(self, items, options, *, queue=False, **_):
        self.lines.extend((item.text, queue) for item in items)
        return 0

    def texts(self) -> list[str]:
        return [t for t, _ in self.lines]

    def clear(self) -> None:
        self.lines.clear()


def _app(home, **kwargs) -> ReaderApp:
    return make_app(Settings.load(home), warm_up=False, **kwargs)


def run(scenario):
    asyncio.run(scenario())


async def _settle(pilot, condition, tries: int = 100):
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the app never got there")


def test_a_first_run_opens_a_typed_path_without_crashing(reader_home, tmp_path):
    letter = tmp_path / "letter.txt"
    letter.write_text("Dear Ann. Thank you for the scarf.", encoding="utf-8")

    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(100, 30)) as pilot:
            heard = Heard(app)
            await _settle(pilot, lambda: isinstance(app.screen, OpenScreen))
            await pilot.pause()
            field = app.screen.query_one("#field")
            field.value = ""
            await pilot.pause()
            assert heard.texts()[-1] == "empty"
            heard.clear()
            for ch in str(letter):
                await pilot.press(ch)
            assert heard.texts()[:3] == ["slash", "t", "m"]  # each character echoed as typed
            await pilot.press("enter")
            await _settle(pilot, lambda: app.session is not None)
            assert not isinstance(app.screen, OpenScreen)
            assert app.session.sentences[0].text == "Dear Ann."
            assert any("letter" in t and "2 sentences" in t for t in heard.texts())

    run(scenario)


def test_a_first_run_speaks_the_welcome_and_the_dialog_before_any_document(reader_home):
    async def scenario():
        app = _app(reader_home)
        heard = Heard(app)
        async with app.run_test(size=(100, 30)) as pilot:
            await _settle(pilot, lambda: len(heard.lines) >= 2)
            (title, queued_title), (field, queued_field) = heard.lines[:2]
            assert title.startswith("Welcome to the reader") and "Open a file" in title and not queued_title
            assert field.startswith("path of the file, edit, ") and queued_field  # after the title, not over it
            heard.clear()
            await pilot.press("escape")
            await _settle(pilot, lambda: heard.lines)
            assert "No document is open" in heard.texts()[-1]
            await pilot.press("down")  # a reading key without a document is answered aloud
            assert "No document is open" in heard.texts()[-1]

    run(scenario)


def test_help_title_is_not_cut_off_by_the_first_item(reader_home):
    async def scenario():
        app = _app(reader_home, document=load_document(SAMPLE))
        async with app.run_test(size=(100, 40)) as pilot:
            heard = Heard(app)
            await pilot.press("f1")
            await _settle(pilot, lambda: len(heard.lines) >= 2)
            assert isinstance(app.screen, HelpScreen)
            assert heard.lines[0][0].startswith("Help.") and not heard.lines[0][1]
            assert "Play / pause" in heard.lines[1][0] and heard.lines[1][1]  # queued after the title
            await pilot.press("down")
            assert not heard.lines[-1][1]  # moving on interrupts, as in any menu
            heard.clear()
            await pilot.press("escape")
            await _settle(pilot, lambda: heard.lines)
            assert "Sentence 1 of" in heard.texts()[-1]  # Escape says where you are

    run(scenario)


def test_moving_while_stopped_speaks_the_sentence_and_what_it_starts(reader_home):
    async def scenario():
        app = _app(reader_home, document=load_document(SAMPLE))
        async with app.run_test(size=(100, 40)) as pilot:
            heard = Heard(app)
            s = app.session
            await pilot.press("down")
            assert heard.texts()[-1] == s.sentences[1].text
            message = lambda: str(app.query_one("#message").render())  # noqa: E731
            assert "Heading level 1" not in message()  # the line says nothing stale about sentence 1
            await pilot.press("h")
            assert heard.texts()[-1].startswith("Heading level 2.") and s.sentence.text in heard.texts()[-1]
            assert "Heading level 2." in message()
            await pilot.press("home")
            assert heard.texts()[-1].startswith("Start of document.")
            await pilot.press("end")
            assert heard.texts()[-1].startswith("End of document.")
            await pilot.press("ctrl+d")  # structure: all -> off
            await pilot.press("home", "h")
            assert heard.texts()[-1].startswith("Heading level")  # h always names what it found

    run(scenario)


def test_find_speaks_the_hit_and_says_when_it_wrapped(reader_home):
    doc = document_from_text("The cat sat. A dog ran. The cat slept.", source="clipboard", title="Cats")
    said: list[str] = []
    session = ReadingSession(doc, Settings.load(), self_voicing=False,
                             on_event=lambda e: said.append(e.message) if e.kind == "message" else None)
    session.find("cat")
    assert session.current == 2 and not any("Wrapped" in m for m in said)
    session.find("cat")
    assert session.current == 0 and "Wrapped to the start." in said[-1]
    session.find("cat", forward=False)
    assert session.current == 2 and "Wrapped to the end." in said[-1]


def test_page_down_in_a_short_document_goes_to_its_end_and_then_says_no_more(reader_home):
    doc = document_from_text("One is here. Two is here. Three is here.", source="clipboard", title="Short")
    said: list[str] = []
    session = ReadingSession(doc, Settings.load(), self_voicing=False,
                             on_event=lambda e: said.append(e.message) if e.kind == "message" else None)
    session.jump_page(1)
    assert session.current == 2 and not any("No more" in m for m in said)
    session.jump_page(1)
    assert session.current == 2 and said[-1] == "No more pages."
    session.jump_page(-1)
    assert session.current == 0
    session.jump_page(-1)
    assert said[-1] == "No more pages."


def test_export_cancel_is_heard_and_does_not_crash(reader_home):
    async def scenario():
        app = _app(reader_home, document=load_document(SAMPLE))
        async with app.run_test(size=(100, 40)) as pilot:
            heard = Heard(app)
            await pilot.press("e")
            await _settle(pilot, lambda: isinstance(app.screen, ExportScreen))
            assert heard.texts()[0].startswith("Exporting")
            await pilot.press("space")
            assert heard.texts()[-1].startswith("Exporting,") and "percent" in heard.texts()[-1]
            await pilot.press("escape")
            await pilot.pause(1.0)
            assert not isinstance(app.screen, ExportScreen)
            assert any(t.startswith("Export cancelled; no file was written.") for t in heard.texts())
            await pilot.press("down")  # still running and answering keys
            assert app.session.current == 1
        assert not list((reader_home / "exports").glob("*.wav"))

    run(scenario)


def test_passphrase_typing_is_echoed_as_star(reader_home):
    async def scenario():
        app = _app(reader_home, document=load_document(SAMPLE))
        async with app.run_test(size=(100, 40)) as pilot:
            heard = Heard(app)
            await pilot.press("V")
            await pilot.pause()
            heard.clear()
            await pilot.press("s", "e", "c")
            assert heard.texts() == ["star", "star", "star"]

    run(scenario)


def test_app_speech_off_is_kept_for_the_next_session(reader_home):
    async def scenario():
        app = _app(reader_home, document=load_document(SAMPLE))
        async with app.run_test(size=(100, 40)) as pilot:
            Heard(app)
            await pilot.press("m")
            assert app.channel.self_voicing is False

    run(scenario)
    assert Settings.load(reader_home).self_voicing is False
    app = _app(reader_home)
    assert app.channel.self_voicing is False


def test_one_meaning_per_key_on_every_screen():
    """A key does one thing everywhere (x no longer exports on one screen and deletes on another);
    the keys every dialog gives its own sense (Escape goes back, arrows and Enter move and choose)
    are the exception."""
    from reader.tui import family, screens, voices

    general = {"escape", "enter", "space", "up", "down", "left", "right", "tab"}
    meanings: dict[str, set[str]] = {}
    classes = [ReaderApp] + [c for m in (screens, family, voices) for c in vars(m).values()
                             if isinstance(c, type) and issubclass(c, screens._Dialog)]
    for cls in classes:
        for binding in getattr(cls, "BINDINGS", []):
            for key in binding.key.split(","):
                if key not in general:
                    # "app.X" on a dialog is the app's own X: the same meaning.
                    meanings.setdefault(key, set()).add(binding.action.split("(")[0].removeprefix("app."))
    clashes = {k: v for k, v in meanings.items() if len(v) > 1}
    assert not clashes, clashes
    voices_keys = {b.key: b.action for b in voices.VoicesScreen.BINDINGS}
    assert voices_keys.get("delete") == "delete" and "x" not in voices_keys


def test_chinese_moves_by_words_and_spells_by_characters():
    assert split_words("我们明天去北京看长城。") == ["我们", "明天", "去", "北京", "看", "长城"]
    assert split_words("My grandmother lives in 北京 now.") == ["My", "grandmother", "lives", "in", "北京", "now."]
    assert spell("北京。") == "北，京"
    assert spell("Paris,") == "capital P, a, r, i, s"


def test_time_left_is_estimated_per_language(reader_home):
    # 324 Chinese characters: about 72 s of speech at 4.5 a second, not "less than a minute" at 15.
    text = "。".join(["我们明天早上一起去公园散步"] * 24) + "。"
    doc = document_from_text(text, source="clipboard", title="散步")
    session = ReadingSession(doc, Settings.load(), self_voicing=False)
    assert 65 <= session.seconds_left() <= 80
    assert "about 1 minute left" in session.position_text()
    english = document_from_text("Walk in the park. " * 24, source="clipboard", title="Walk")
    assert ReadingSession(english, Settings.load(), self_voicing=False).seconds_left() < 35


def test_old_reading_state_keeps_the_place_but_not_a_rate_nobody_chose():
    old = {"key": "k", "source": "s", "title": "t", "offset": 40, "rate": 1.0, "pitch": 1.0, "version": 1}
    state = DocumentState.from_json(old)
    assert state.offset == 40 and state.rate is None and state.pitch is None and not state.has_overrides
    chosen = DocumentState.from_json({**old, "rate": 1.5})
    assert chosen.rate == 1.5 and chosen.has_overrides
    assert json.loads(json.dumps(state.to_json()))["version"] == 2


def test_the_interface_and_english_are_read_by_a_native_voice(reader_home):
    """The pack that sorts first (Kokoro, Japanese voices) no longer reads English or the interface."""
    from reader.speech.synthesizer import Synthesizer

    synth = Synthesizer.load(Settings.load())
    assert synth.interface_pack("en") == "piper-joe-en"
    assert synth.default_pack_for("en") == "piper-joe-en"
    assert synth.default_pack_for("zh") == "kokoro-int8"  # the one pack that reads Chinese
    chunks = list(synth.stream(["Wrong passphrase.", "密码不对。"]))
    assert {c.sentence_id: c.pack for c in chunks if c.last} == {0: "piper-joe-en", 1: "kokoro-int8"}


LINKS_MD = ("# Links\n\nSee [the site](http://example.org) for more. Nothing here.\n\n"
            "![A red barn at dusk](barn.png)\n\n![](spacer.png)\n\n[Home](index.html)\n")


def test_links_and_images_are_named_where_they_start(reader_home, tmp_path):
    path = tmp_path / "links.md"
    path.write_text(LINKS_MD, encoding="utf-8")
    doc = load_document(str(path))
    texts = [b.text for b in doc.blocks]
    assert "" not in texts and len(doc.blocks) == 4  # the image without a description is left out

    async def scenario():
        app = _app(reader_home, document=doc)
        async with app.run_test(size=(100, 40)) as pilot:
            heard = Heard(app)
            await pilot.press("down")
            assert heard.texts()[-1] == "See link, the site for more."
            await pilot.press("down", "down")
            assert heard.texts()[-1] == "image: A red barn at dusk"  # named in the text, once
            await pilot.press("down")
            assert heard.texts()[-1] == "link, Home"
            await pilot.press("ctrl+d")  # all -> off: the text alone
            await pilot.press("home", "down")
            assert heard.texts()[-1] == "See the site for more."

    run(scenario)
