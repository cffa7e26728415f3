"""The speech channel: speech asked for while an older request is still loading the voice wins, and the
older one never starts afterwards (it used to, cancelling the newer stream: Space pressed during the
first greeting was then silent, with the status stuck on "playing")."""

from __future__ import annotations

import time

from reader.channel import SpeechChannel
from reader.settings import Settings
from reader.speech.synthesizer import SpeechText, SynthesisOptions
from tests.test_voice_picker import RecordingDevice

READING = [SpeechText(i, text, "en") for i, text in enumerate(
    ["The first sentence of the letter is here.", "Then a second one follows it.",
     "And a third closes the paragraph.", "A fourth begins the next one."])]


def _wait(predicate, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_request_given_up_on_never_cancels_the_newer_one(reader_home):
    device = RecordingDevice()
    channel = SpeechChannel(Settings.load(reader_home), player_factory=device.player)
    channel.synthesizer()  # loaded, so the newer request starts at once
    stale = channel.generation
    channel.speak(READING, SynthesisOptions())  # Space: the reading (it halts what came before)
    assert _wait(lambda: device.chunks())  # it is speaking
    # The greeting's feeder, asked for before Space, comes back from loading the voice only now.
    channel._feed(stale, [SpeechText(-1, "Hello, this is the greeting.", "en")], None, 1.0, None, None)
    assert _wait(lambda: {c[4] for c in device.chunks()} >= {0, 1, 2, 3}), device.log
    assert -1 not in {c[4] for c in device.chunks()}  # the given-up greeting was never spoken
    channel.close()
