"""Pilot tests: press keys in the running app and check the highlighted sentence and the status line."""

from __future__ import annotations

import asyncio

from reader.settings import Settings
from reader.text.extract import load_document
from reader.tui.app import BlockView, HelpScreen, make_app
from tests.conftest import ROOT

SAMPLE = ROOT / "reader" / "data" / "sample.md"


def _app(reader_home):
    return make_app(Settings.load(reader_home), document=load_document(SAMPLE))


def _status(app) -> str:
    return str(app.query_one("#status").render())


def test_moves_by_sentence_paragraph_and_heading(reader_home):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            assert app.current == 0
            assert _status(app).startswith("Sentence 1 of ")
            await pilot.press("down", "down")
            assert app.current == 2
            await pilot.press("up")
            assert app.current == 1
            await pilot.press("h")  # next heading
            heading = app.document.blocks[app.sentences[app.current].block]
            assert heading.kind.value == "heading" and heading.text == "Moving around"
            await pilot.press("pagedown")
            assert app.document.blocks[app.sentences[app.current].block].text.startswith("Press the space bar")
            await pilot.press("end")
            assert app.current == len(app.sentences) - 1
            await pilot.press("home")
            assert app.current == 0
            # The highlighted span in the view is exactly the current sentence's original text.
            view = list(app.query(BlockView))[0]
            rendered = view.render()
            spans = [rendered.plain[s.start:s.end] for s in rendered.spans if "yellow" in str(s.style)]
            assert spans == [app.sentences[0].text]

    asyncio.run(scenario())


def test_help_screen_lists_the_keys(reader_home):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press("f1")
            assert isinstance(app.screen, HelpScreen)
            text = str(app.screen.query_one("#help").render())
            assert "Next sentence" in text and "Say position" in text
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)

    asyncio.run(scenario())


def test_spoken_form_panel_shows_the_normalized_sentence(reader_home):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(100, 40)) as pilot:
            target = next(i for i, s in enumerate(app.sentences) if "$3.50" in s.text)
            for _ in range(target):
                await pilot.press("down")
            await pilot.press("v")
            assert "three dollars and fifty cents" in str(app.query_one("#spoken").render())

    asyncio.run(scenario())
