"""Mixed scripts: a sentence is cut into language runs; Chinese inside English is spoken by a voice that
reads Chinese, in the same sentence; a script no voice reads is named once, never dropped in silence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from reader.settings import Settings
from reader.speech.synthesizer import SpeechText, SynthesisOptions, Synthesizer
from reader.text.scripts import char_lang, language_runs
from tests.speakers import pack_dir

RUN_CASES = [
    ("one language", "The cat sat on the mat.", "en", [("The cat sat on the mat.", "en")]),
    ("Chinese names inside English", "Her name is 王秀英 and she lives in 北京.", "en",
     [("Her name is", "en"), ("王秀英", "zh"), ("and she lives in", "en"), ("北京.", "zh")]),
    ("English inside Chinese stays with the Chinese front end", "我喜欢Python 3.12版本。", "zh",
     [("我喜欢Python 3.12版本。", "zh")]),
    ("digits against Chinese go with it", "It costs 3元 today.", "en",
     [("It costs", "en"), ("3元", "zh"), ("today.", "en")]),
    ("Cyrillic inside English", "He said Привет, мир! and left.", "en",
     [("He said", "en"), ("Привет, мир!", "ru"), ("and left.", "en")]),
    ("Ukrainian letters", "Пишу українською.", "en", [("Пишу українською.", "uk")]),
    ("Persian letters", "کتاب پدر", "en", [("کتاب پدر", "fa")]),
    ("Arabic", "مرحبا بالعالم", "en", [("مرحبا بالعالم", "ar")]),
    ("Thai with its vowel marks", "สวัสดีครับ", "en", [("สวัสดีครับ", "th")]),
    ("Japanese kana makes its Han Japanese", "こんにちは、元気ですか？", "en", [("こんにちは、元気ですか？", "ja")]),
    ("Korean", "안녕하세요 friend", "en", [("안녕하세요", "ko"), ("friend", "en")]),
    ("accented Latin is English's run", "Café crème, naïve résumé.", "en", [("Café crème, naïve résumé.", "en")]),
    ("marks only", "... 123 !", "en", [("... 123 !", "en")]),
]


@pytest.mark.parametrize("text, lang, expected", [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES])
def test_language_runs(text: str, lang: str, expected: list[tuple[str, str]]) -> None:
    runs = language_runs(text, lang)
    assert [(text[r.start:r.end].strip(), r.lang) for r in runs] == expected
    # The runs cover the sentence exactly, in order.
    assert runs[0].start == 0 and runs[-1].end == len(text)
    assert all(a.end == b.start for a, b in itertools.pairwise(runs))


def test_char_lang_ignores_digits_and_marks() -> None:
    assert [char_lang(c) for c in "a7.,王—"] == ["en", None, None, None, "zh", None]


# --- Heard: the real default packs -----------------------------------------------------------------

MIXED = "My grandmother's name is 王秀英 and she lives in 北京 near the river."


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Synthesizer:
    pack_dir("kokoro-int8")  # fails with the reason when the packs are not built
    return Synthesizer.load(Settings(home=tmp_path_factory.mktemp("home")))


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


def test_chinese_inside_english_is_spoken_by_a_chinese_voice_in_the_same_sentence(synth) -> None:
    chunks = list(synth.stream([SpeechText(0, MIXED, "auto")], SynthesisOptions()))
    # Consecutive chunks of one voice are one run.
    groups = [(voice, list(group)) for voice, group in itertools.groupby(chunks, key=lambda c: (c.pack, c.voice))]
    langs = ["zh" if synth.pipeline(pack).voice_languages.get(voice) == "zh" else "en" for (pack, voice), _ in groups]
    assert langs == ["en", "zh", "en", "zh", "en"]
    for ((pack, voice), group), lang in zip(groups, langs):
        audio = np.concatenate([c.samples for c in group])
        seconds = len(audio) / group[0].sample_rate
        assert _rms(audio) > 0.02, f"the {lang} run by {voice} is nearly silent"
        assert seconds > 0.35, f"the {lang} run by {voice} is only {seconds:.2f} s"
    assert all(c.sentence_id == 0 for c in chunks)
    assert [c.last for c in chunks].count(True) == 1 and chunks[-1].last  # one sentence end, at the end


def test_a_script_no_voice_reads_is_named_once_and_the_rest_is_spoken(synth) -> None:
    said = []
    synth.on_notice = said.append
    try:
        chunks = list(synth.stream(
            [SpeechText(0, "He said Привет and left.", "auto"), SpeechText(1, "Она сказала да.", "auto"),
             SpeechText(2, "Then he smiled.", "auto")], SynthesisOptions()))
    finally:
        synth.on_notice = None
    unspoken = [n for n in said if n.kind == "unspoken"]
    assert [n.message for n in unspoken] == ["Russian text, not spoken: no installed voice reads Russian."]
    assert unspoken[0].sentence_id == 0
    # Every sentence is heard: the Russian is named where it stands, by the English voice.
    by_sentence = {sid: np.concatenate([c.samples for c in chunks if c.sentence_id == sid]) for sid in (0, 1, 2)}
    assert all(_rms(audio) > 0.02 for audio in by_sentence.values())
    assert {c.pack for c in chunks} == {synth.default_pack_for("en")}


def test_what_is_said_for_text_no_voice_reads() -> None:
    from reader.speech.synthesizer import _unspoken

    assert _unspoken("ru", "en", True) == "Russian text, not spoken."
    assert _unspoken("ru", "en", False) == "Russian text."
    assert _unspoken("th", "zh", True) == "泰文，无法朗读。"
