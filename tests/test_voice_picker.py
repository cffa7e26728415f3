"""The voice picker (v) by ear: its language and gender filters and what they say, what each voice line
shows and says, Enter choosing the reading voice, and each voice's sample sentence synthesized in that
voice once the highlight rests on it, cut off by the next move.

The filter tests record what the app's voice was asked to say (tests.test_eyes_free_units.Heard). The
sample tests run the app's real speech channel and synthesizer on the built packs; only the sound card
is a recording one (RecordingDevice), which logs every chunk it is given and every stop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from textual import events
from textual.widgets import OptionList, Static

from reader.channel import ANNOUNCE_ID, SpeechChannel
from reader.settings import Settings
from reader.speech import packs
from reader.text.extract import load_document
from reader.tui import screens
from reader.tui.app import make_app
from reader.tui.screens import HelpScreen, VoiceScreen
from tests.conftest import ROOT
from tests.test_eyes_free_units import Heard

SAMPLE = ROOT / "reader" / "data" / "sample.md"
RICH = "kokoro-int8"


def run(scenario):
    asyncio.run(scenario())


async def _settle(pilot, condition, tries: int = 100, step: float = 0.05):
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(step)
    raise AssertionError("the app never got there")


def _app(home, **settings):
    return make_app(Settings.load(home).with_(**settings), document=load_document(SAMPLE), warm_up=False)


def _ids(screen: VoiceScreen) -> list[str]:
    return [o.id for o in screen.query_one("#voices", OptionList).options if o.id]


def _highlighted(screen: VoiceScreen) -> str | None:
    option = screen.query_one("#voices", OptionList).highlighted_option
    return option.id if option is not None else None


def _title(screen: VoiceScreen) -> str:
    return str(screen.query_one("#voice-title", Static).render())


def _rich_voices(lang: str | None = None, gender: str | None = None) -> list[str]:
    manifest = next(m for _, m in packs.find_packs() if m.name == RICH)
    return [v.id for v in manifest.voices if (lang is None or v.language.split("-")[0] == lang)
            and (gender is None or v.gender == gender)]


@pytest.fixture
def no_samples(monkeypatch):
    """For the tests of what is said and shown: the highlight never rests long enough for a sample, so
    no voice pack is loaded."""
    monkeypatch.setattr(screens, "SAMPLE_DELAY_S", 600.0)


# ------------------------------------------------------------------------------------- the filters

def test_the_filters_cycle_and_each_change_is_said_and_shown(reader_home, no_samples):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(120, 36)) as pilot:
            heard = Heard(app)
            await pilot.pause()
            heard.clear()
            await pilot.press("v")
            await _settle(pilot, lambda: len(heard.lines) >= 2)
            screen = app.screen
            assert isinstance(screen, VoiceScreen)
            # The document is English: English voices, all genders, the default (and current) one first.
            (title, queued_title), (first, queued_first) = heard.lines[:2]
            assert title.startswith("Choose a voice. English, all genders: 29 voices.") and not queued_title
            assert first == "Joe, American English, fast voice, default, current" and queued_first
            assert "English, all genders: 29 voices" in _title(screen)
            assert _ids(screen) == ["joe", *_rich_voices("en")]

            steps = [
                ("g", "English, female: 15 voices.", "Heart, American English, female"),
                ("g", "English, male: 13 voices.", "Adam, American English, male"),
                ("g", "English, all genders: 29 voices.", "Adam, American English, male"),  # the highlight stays
                ("l", "Mandarin, all genders: 8 voices.", "Yunxi, Mandarin, male, default"),
                ("G", "Mandarin, male: 4 voices.", "Yunxi, Mandarin, male, default"),  # the highlight stays
                ("l", "Spanish, not speakable yet, male: 2 voices. They read English and Mandarin with a "
                      "Spanish accent.", "Alex, Spanish, male, not speakable yet"),
                ("l", "French, not speakable yet, male: no voices. They read English and Mandarin with a "
                      "French accent.", None),
                ("G", "French, not speakable yet, female: 1 voice. They read English and Mandarin with a "
                      "French accent.", "Siwis, French, female, not speakable yet"),
            ]
            for key, filter_said, voice_said in steps:
                heard.clear()
                await pilot.press(key)
                await _settle(pilot, lambda: len(heard.lines) >= (2 if voice_said else 1))
                await pilot.pause(0.1)
                assert heard.lines[0] == (filter_said, False), key  # said at once, over what was said
                if voice_said:
                    assert heard.lines[1:] == [(voice_said, True)], key  # then the voice, after it
                else:
                    assert heard.lines[1:] == [], key
                shown = filter_said.split(".")[0].replace(", not speakable yet", " — not speakable yet")
                assert shown in _title(screen), key
            assert _ids(screen) == ["ff_siwis"]
            assert "not speakable yet" in str(screen.query_one("#voices", OptionList).options[0].prompt)
            assert "French accent" in str(screen.query_one("#hint", Static).render())

            # L goes back; the languages wrap around through "All languages" (55 voices: Joe and Kokoro's 54).
            for _ in range(4):
                await pilot.press("L")
            heard.clear()
            await pilot.press("G")  # from female back to all genders
            assert heard.texts()[0] == "All languages, all genders: 55 voices."
            assert _ids(screen) == ["joe", *_rich_voices("en"), *_rich_voices("zh"),
                                    *[v for v in _rich_voices() if v[0] not in "abz"]]
            await pilot.press("L")
            assert screen.language == "pt" and heard.texts()[-2].startswith("Portuguese, not speakable yet")
            assert "Brazilian Portuguese" in heard.texts()[-1]

    run(scenario)


def test_the_filter_starts_on_the_documents_language(reader_home, tmp_path, no_samples):
    letter = tmp_path / "letter.txt"
    letter.write_text("我们明天去北京看长城。然后我们回家吃饭。", encoding="utf-8")

    async def scenario():
        app = make_app(Settings.load(reader_home), document=load_document(letter), warm_up=False)
        async with app.run_test(size=(120, 36)) as pilot:
            heard = Heard(app)
            await pilot.pause()
            heard.clear()
            await pilot.press("v")
            await _settle(pilot, lambda: len(heard.lines) >= 2)
            assert heard.texts()[0].startswith("Choose a voice. Mandarin, all genders: 8 voices.")
            assert heard.texts()[1] == "Yunxi, Mandarin, male, default, current"
            assert _ids(app.screen) == _rich_voices("zh")

    run(scenario)


def test_each_line_shows_name_language_gender_pack_and_marks(reader_home, no_samples):
    async def scenario():
        app = _app(reader_home, self_voicing=False)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("v")
            await pilot.pause()
            prompts = {o.id: str(o.prompt) for o in app.screen.query_one("#voices", OptionList).options}
            assert prompts["joe"].split() == ["Joe", "American", "English", "fast", "default", "for", "English,",
                                              "current"]
            assert prompts["af_heart"].split() == ["Heart", "American", "English", "female", "rich"]
            assert prompts["am_fenrir"].split() == ["Fenrir", "American", "English", "male", "rich", "rich",
                                                    "default"]
            assert prompts["bm_george"].split() == ["George", "British", "English", "male", "rich"]
            lines = {line.entry.id: line for line in app.screen.lines}
            assert lines["pf_dora"].shown.split() == ["Dora", "Brazilian", "Portuguese", "female", "rich", "not",
                                                      "speakable", "yet"]
            assert lines["zm_yunxi"].spoken == "Yunxi, Mandarin, male, default"
            assert lines["zf_xiaoxiao"].spoken == "Xiaoxiao, Mandarin, female"
            assert lines["jm_kumo"].spoken == "Kumo, Japanese, male, not speakable yet"

    run(scenario)


def test_f1_in_the_picker_lists_its_own_keys(reader_home, no_samples):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(120, 36)) as pilot:
            heard = Heard(app)
            await pilot.press("v", "down")
            await pilot.press("f1")
            assert isinstance(app.screen, HelpScreen)
            items = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
            assert any(i.startswith("l ") and "next language" in i for i in items)
            assert any(i.startswith("G ") and "Previous gender" in i for i in items)
            assert any(i.startswith("Space ") and "sample" in i for i in items)
            heard.clear()
            await pilot.press("escape")  # back in the picker, on the same voice
            await _settle(pilot, lambda: heard.lines)
            assert isinstance(app.screen, VoiceScreen)
            assert heard.texts()[-1] == "Choose a voice. Heart, American English, female"

    run(scenario)


# ----------------------------------------------------------------------------------- choosing

def test_enter_reads_with_the_voice_for_all_documents_or_this_one(reader_home, no_samples):
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(120, 36)) as pilot:
            heard = Heard(app)
            await pilot.press("v", "down")  # Heart
            heard.clear()
            await pilot.press("enter")
            assert not isinstance(app.screen, VoiceScreen)
            assert app.session.chosen_voice == "af_heart"
            assert heard.texts()[-1] == "Voice Heart, American English, female. For all documents."
            assert Settings.load(reader_home).voice == "af_heart"

            await pilot.press("D")  # this document's own settings from here on
            await pilot.press("v")
            screen = app.screen
            assert _highlighted(screen) == "af_heart"  # the picker opens on the current voice
            assert "current" in str(screen.query_one("#voices", OptionList).highlighted_option.prompt)
            assert "reading with Heart" in _title(screen)
            await pilot.press("l", "G")  # Mandarin, male
            assert _highlighted(screen) == "zm_yunxi"  # the default first
            await pilot.press("down", "enter")
            assert app.session.chosen_voice == "zm_yunjian"
            assert app.session.state.voice == "zm_yunjian"
            assert Settings.load(reader_home).voice == "af_heart"  # every other document keeps Heart

            await pilot.press("v", "escape")  # Escape chooses nothing
            assert app.session.chosen_voice == "zm_yunjian"

    run(scenario)


def test_the_reading_keys_do_nothing_behind_an_open_dialog(reader_home, no_samples):
    """r (repeat), q (quit), m (app speech off) and the rest act on the hidden document only when no
    dialog is open (every dialog is a ModalScreen, which keeps the app's keys from it): in the voice list
    they are nothing, and the list stays where it was."""
    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(120, 36)) as pilot:
            heard = Heard(app)
            await pilot.press("v", "down")
            screen = app.screen
            place = app.session.current
            heard.clear()
            await pilot.press("r", "q", "m", "j", "h", "b", "plus")
            await pilot.pause(0.2)
            assert app.screen is screen and app.is_running
            assert heard.texts() == []
            assert app.self_voicing and app.session.current == place and app.session.rate == 1.0
            assert not app.session.bookmarks()
            await pilot.press("escape", "plus")  # the dialog closed: the keys work again
            await _settle(pilot, lambda: app.session.rate > 1.0)

    run(scenario)


# ------------------------------------------------------------------------------------ the samples

class RecordingDevice:
    """The sound card the app's player would write to, as a log: each chunk given to it (time, pack, voice,
    sentence id) and each stop. It implements what the speech channel uses of reader.audio.player.Player."""

    def __init__(self) -> None:
        self.log: list[tuple] = []
        self.lock = threading.Lock()

    def player(self, **callbacks) -> "RecordingDevice":
        return self

    def start(self) -> None:
        pass

    def enqueue(self, chunk) -> None:
        assert chunk.samples.size and float(abs(chunk.samples).max()) > 0.01  # speech, not silence
        with self.lock:
            self.log.append(("chunk", time.monotonic(), chunk.pack, chunk.voice, chunk.sentence_id))

    def end_of_stream(self) -> None:
        pass

    def stop(self) -> None:
        with self.lock:
            self.log.append(("stop", time.monotonic()))

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def close(self) -> None:
        pass

    def queued_seconds(self) -> float:
        return 0.0

    def mark(self) -> int:
        with self.lock:
            return len(self.log)

    def chunks(self, since: int = 0, voice: str | None = None) -> list[tuple]:
        with self.lock:
            return [e for e in self.log[since:] if e[0] == "chunk" and (voice is None or e[3] == voice)]

    def stops(self, since: int = 0) -> list[int]:
        with self.lock:
            return [i for i, e in enumerate(self.log) if i >= since and e[0] == "stop"]


class SpeechLog:
    """What the app asked its speech channel for, in order (the channel then does it as usual)."""

    def __init__(self, channel: SpeechChannel) -> None:
        self.said: list[str] = []
        self.spoken: list[tuple[str, str | None, str | None, bool]] = []  # text, voice, pack, queued
        say, speak = channel.say, channel.speak

        def logged_say(text, **kwargs):
            self.said.append(text)
            return say(text, **kwargs)

        def logged_speak(items, options, **kwargs):
            for item in items:
                self.spoken.append((item.text, getattr(options, "voice", None), getattr(options, "pack", None),
                                    kwargs.get("queue", False)))
            return speak(items, options, **kwargs)

        channel.say, channel.speak = logged_say, logged_speak

    def samples(self) -> list[tuple[str, str | None, str | None, bool]]:
        return [s for s in self.spoken if s[1] is not None]


def _press_at_once(app, *keys: str) -> None:
    """Keys as a terminal delivers a key held down: one after another, without waiting for the app
    (Pilot's press waits for the app to go idle, which takes up to a second while a voice synthesizes)."""
    for key in keys:
        app._driver.send_message(events.Key(key, None))


def test_resting_on_a_voice_speaks_its_sample_in_that_voice_and_moving_on_cuts_it_off(reader_home):
    sample_en = next(m for _, m in packs.find_packs() if m.name == RICH).voice_samples["en"]

    async def scenario():
        settings = Settings.load(reader_home)
        app = make_app(settings, document=load_document(SAMPLE), warm_up=False)
        device = RecordingDevice()
        app.channel = SpeechChannel(settings, player_factory=device.player)
        log = SpeechLog(app.channel)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            await pilot.press("v")  # on Joe, the default voice: his sample, queued after his name
            await _settle(pilot, lambda: log.samples(), tries=100, step=0.1)
            assert log.samples() == [(sample_en, "joe", "piper-joe-en", True)]
            assert "Joe, American English, fast voice, default, current" in log.said
            await pilot.press("down")  # Heart, on the rich pack, not loaded yet
            screen = app.screen
            assert _highlighted(screen) == "af_heart"
            await _settle(pilot, lambda: device.chunks(voice="af_heart"), tries=300, step=0.1)
            # Her name first, then (the pack loading for seconds) that said, then the sample in her voice.
            said = log.said
            assert said.index("Heart, American English, female") < said.index("Loading the rich voices…")
            assert log.samples()[1:] == [(sample_en, "af_heart", RICH, True)]
            heart = device.chunks(voice="af_heart")[0]
            assert heart[2] == RICH and heart[4] == ANNOUNCE_ID  # not a sentence of the document

            # Moving on cuts the sample off at once: stopped, and no more of it is synthesized.
            mark = device.mark()
            await pilot.press("down")  # Alloy
            await _settle(pilot, lambda: device.chunks(mark, voice="af_alloy"), tries=300, step=0.1)
            stops = device.stops(mark)
            assert stops, "the sample was not stopped"
            assert not device.chunks(mark, voice="af_heart")
            assert log.samples()[-1] == (sample_en, "af_alloy", RICH, True)

            # Arrowing through: each name is said, and only the voice the highlight rests on is sampled.
            mark, asked = device.mark(), len(log.samples())
            _press_at_once(app, "down", "down", "down")  # Aoede, Bella, Jessica
            await _settle(pilot, lambda: device.chunks(mark, voice="af_jessica"), tries=300, step=0.1)
            assert [s[1] for s in log.samples()[asked:]] == ["af_jessica"]
            assert {c[3] for c in device.chunks(mark) if c[2] == RICH} == {"af_jessica"}
            assert {"Aoede, American English, female", "Bella, American English, female"} <= set(log.said)

            # Escape closes the dialog and the sample with it.
            mark = device.mark()
            await pilot.press("escape")
            assert not isinstance(app.screen, VoiceScreen)
            await pilot.pause(1.0)
            assert device.stops(mark)
            assert not [c for c in device.chunks(mark) if c[2] == RICH]

    run(scenario)


def test_space_plays_the_sample_with_app_speech_off_and_nothing_plays_by_itself(reader_home):
    async def scenario():
        app = _app(reader_home, self_voicing=False)
        async with app.run_test(size=(120, 36)) as pilot:
            heard = Heard(app)
            await pilot.press("v")
            await pilot.pause(screens.SAMPLE_DELAY_S + 0.5)
            assert heard.lines == []  # app speech off: no name, and no sample unless asked
            await pilot.press("space")  # Joe, the interface's own voice: nothing to load
            await _settle(pilot, lambda: heard.lines)
            assert heard.texts() == [app.screen.samples["en"]]

    run(scenario)
