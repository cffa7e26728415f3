"""Pilot tests: press keys in the running app and check the place, the highlight and what is saved."""

from __future__ import annotations

import asyncio
import json

from reader.settings import Settings
from reader.text.extract import load_document
from reader.tui.app import BlockView, make_app
from reader.tui.screens import BookmarksScreen, FindScreen, HelpScreen
from tests.conftest import ROOT

SAMPLE = ROOT / "reader" / "data" / "sample.md"


def _settings(home) -> Settings:
    # App speech off: these tests check the screen and the saved state, not the sound.
    return Settings.load(home).with_(self_voicing=False)


def _app(home, **kwargs):
    return make_app(_settings(home), document=load_document(SAMPLE), **kwargs)


def _text(widget) -> str:
    return str(widget.render())


def _highlighted(app) -> list[str]:
    spans = []
    for view in app.query(BlockView):
        rendered = view.render()
        spans += [rendered.plain[s.start:s.end] for s in rendered.spans if "yellow" in str(s.style)]
    return spans


def run(scenario):
    asyncio.run(scenario())


def test_moves_by_sentence_paragraph_heading_and_keeps_the_highlight(reader_home):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.pause()
            s = app.session
            assert s.current == 0
            assert "Sentence 1 of " in _text(app.query_one("#status"))
            await pilot.press("down", "down")
            assert s.current == 2
            await pilot.press("up")
            assert s.current == 1
            await pilot.press("h")
            block = app.document.blocks[s.sentence.block]
            assert block.kind.value == "heading" and block.text == "Moving around"
            await pilot.press("p")
            assert app.document.blocks[s.sentence.block].text.startswith("Press the space bar")
            await pilot.press("P")
            assert app.document.blocks[s.sentence.block].text == "Moving around"
            await pilot.press("end")
            assert s.current == len(s.sentences) - 1
            await pilot.press("home")
            assert s.current == 0
            assert _highlighted(app) == [s.sentences[0].text]
            await pilot.press("down")
            assert _highlighted(app) == [s.sentences[1].text]

    run(scenario)


def test_position_and_bookmarks_survive_a_restart(reader_home):
    async def first_visit():
        app = _app(reader_home)
        async with app.run_test(size=(110, 40)) as pilot:
            for _ in range(5):
                await pilot.press("down")
            await pilot.press("b")
            for _ in range(3):
                await pilot.press("down")
            return app.session.current, app.session.sentences[5].start

    current, mark_offset = asyncio.run(first_visit())
    saved = list((reader_home / "state").glob("*.json"))
    assert len(saved) == 1
    data = json.loads(saved[0].read_text())
    assert [b["offset"] for b in data["bookmarks"]] == [mark_offset]

    async def second_visit():
        app = _app(reader_home)
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.pause()
            assert app.session.current == current
            await pilot.press("B")
            assert isinstance(app.screen, BookmarksScreen)
            await pilot.press("enter")
            assert app.session.current == 5

    run(second_visit)


def test_find_moves_to_the_matching_sentence(reader_home):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.press("slash")
            assert isinstance(app.screen, FindScreen)
            await pilot.press(*"scarf", "enter")
            assert "scarf" in app.session.sentence.text
            await pilot.press("home", "n")
            assert "scarf" in app.session.sentence.text

    run(scenario)


def test_rate_pitch_and_punctuation_are_kept_for_every_document_or_for_one(reader_home, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("Another document. It has two sentences.", encoding="utf-8")

    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.press("equals_sign", "equals_sign", "left_square_bracket", "ctrl+p")
            s = app.session
            assert (s.rate, s.pitch, s.punctuation) == (1.2, 0.95, "most")
            status = _text(app.query_one("#status"))
            assert "rate 120%" in status and "pitch 95%" in status and "punctuation most" in status
            # A new document starts with the preferences for every document.
            app._open_document(load_document(other))
            await pilot.pause()
            assert (app.session.rate, app.session.pitch, app.session.punctuation) == (1.2, 0.95, "most")
            # D: from now on this document only; the global rate stays.
            await pilot.press("D", "equals_sign", "equals_sign", "equals_sign")
            assert app.session.rate == 1.5 and app.session.state.rate == 1.5
            assert "this document's settings" in _text(app.query_one("#status"))

    run(scenario)
    saved = Settings.load(reader_home)
    assert (saved.rate, saved.pitch, saved.punctuation) == (1.2, 0.95, "most")

    async def reopened():
        app = _app(reader_home)
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.pause()
            assert app.session.rate == 1.2  # the sample follows the global rate
            app._open_document(load_document(other))
            await pilot.pause()
            assert app.session.rate == 1.5 and app.session.scope == "this document"

    run(reopened)


def test_help_screen_lists_every_key(reader_home):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(110, 50)) as pilot:
            await pilot.press("f1")
            assert isinstance(app.screen, HelpScreen)
            options = app.screen.query_one("#help")
            prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
            for action in ("Play / pause", "Stop", "Next sentence", "Next heading", "Say position",
                           "Spell current word", "Add bookmark", "Find text", "Change voice"):
                assert any(action in p for p in prompts), action
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)

    run(scenario)


def test_spoken_form_panel_shows_the_normalized_sentence(reader_home):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(110, 40)) as pilot:
            target = next(i for i, s in enumerate(app.session.sentences) if "$3.50" in s.text)
            for _ in range(target):
                await pilot.press("down")
            await pilot.press("t")
            assert "three dollars and fifty cents" in _text(app.query_one("#spoken"))

    run(scenario)


def test_a_bad_file_opened_in_the_app_gets_one_sentence(reader_home, tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Ty")

    async def scenario():
        app = make_app(_settings(reader_home), source=str(broken))
        async with app.run_test(size=(110, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            message = _text(app.query_one("#message"))
            assert "damaged" in message and "broken.pdf" in message
            assert app.session is None

    run(scenario)
