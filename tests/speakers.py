"""Test speakers made with the bundled voices (Piper's Joe, Kokoro's kumo and a Kokoro blend), and the
speech packs they come from: session fixtures, registered in conftest, for the voices and TUI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from reader.settings import Settings
from reader.speech import features, packs
from reader.speech.pipeline import Pipeline
from reader.speech.speaker import SpeakerStage

SR = features.SAMPLE_RATE
JOE_SENTENCES = (
    ("The little boat drifted slowly across the quiet lake at dawn.",
     "Please remember to water the tomatoes before you leave."),
    ("My grandmother kept every letter she ever received in a box.",
     "We walked along the river until the lights came on."),
    ("A cold wind blew through the open window all night long.",
     "He counted the coins twice and still could not believe it."),
    ("The children laughed as the puppy chased its own tail.",
     "Tomorrow we will bake bread and visit the old market."),
)
KOKORO_SENTENCE = "The old lighthouse keeper climbed the stairs every evening to light the lamp for the ships."
BLEND = "jf_alpha:0.5,jm_kumo:0.5"


def pack_dir(name: str) -> Path:
    for path, manifest in packs.find_packs(packs.default_pack_dirs()):
        if manifest.name == name:
            return path
    raise AssertionError(f"the default pack {name} is not built; run `make test` (it builds them)")


@pytest.fixture(scope="session")
def speech_settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("voices_speech_home"))


@pytest.fixture(scope="session")
def encoder(speech_settings) -> SpeakerStage:
    return SpeakerStage.load(packs.open_pack(pack_dir("ge2e-speaker")), threads=speech_settings.threads)


@pytest.fixture(scope="session")
def judge(speech_settings) -> SpeakerStage:
    return SpeakerStage.load(packs.open_pack(pack_dir("voicefilter-judge")), threads=speech_settings.threads)


@pytest.fixture(scope="session")
def kokoro(speech_settings) -> Pipeline:
    return Pipeline.load(packs.open_pack(pack_dir("kokoro-int8")), speech_settings)


@pytest.fixture(scope="session")
def speakers(speech_settings, kokoro) -> dict[str, list[np.ndarray]]:
    """Test speakers at 16 kHz: Piper's Joe (4 clips of two sentences), Kokoro's jm_kumo (1 clip) and a
    50/50 blend of jf_alpha and jm_kumo (2 clips). Made once per test session."""
    joe = Pipeline.load(packs.open_pack(pack_dir("piper-joe-en")), speech_settings)
    pause = np.zeros(int(0.3 * joe.sample_rate), np.float32)
    out: dict[str, list[np.ndarray]] = {"joe": []}
    for first, second in JOE_SENTENCES:
        a, _ = joe.render(first, lang="en", stream=False)
        b, _ = joe.render(second, lang="en", stream=False)
        out["joe"].append(features.to_16k(np.concatenate([a, pause, b]), joe.sample_rate))
    a, _ = kokoro.render(KOKORO_SENTENCE, lang="en", voice=kokoro.voice("jm_kumo"), stream=False)
    out["kumo"] = [features.to_16k(a, kokoro.sample_rate)]
    out["blend"] = []
    for text in (KOKORO_SENTENCE, "Please remember to water the tomatoes on the windowsill before you leave for work."):
        a, _ = kokoro.render(text, lang="en", voice=kokoro.voice(BLEND), stream=False)
        out["blend"].append(features.to_16k(a, kokoro.sample_rate))
    return out


def write_clip(path: Path, samples16k: np.ndarray, rate: int, **kw) -> Path:
    """Write a clip at another sample rate (soxr), as a user's file would be."""
    import soxr

    data = samples16k if rate == SR else soxr.resample(samples16k, SR, rate)
    soundfile.write(str(path), data, rate, **kw)
    return path


@pytest.fixture
def joe_files(speakers, tmp_path_factory) -> list[Path]:
    """Joe's clips as a 44.1 kHz WAV, a 22.05 kHz FLAC, a 48 kHz OGG, and a 16 kHz WAV for verifying."""
    folder = tmp_path_factory.mktemp("user_files")
    clips = speakers["joe"]
    return [write_clip(folder / "joe-1.wav", clips[0], 44_100, subtype="PCM_16"),
            write_clip(folder / "joe-2.flac", clips[1], 22_050),
            write_clip(folder / "joe-3.ogg", clips[2], 48_000),
            write_clip(folder / "joe-4.wav", clips[3], SR)]
