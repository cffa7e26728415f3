"""A first run as a blind person makes it: keys only, in a real terminal (tmux), listening to the paced
device, never reading the screen to know what happened. Each step checks that sound reached the device
within a few seconds of the key, after the app had fallen silent."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from tests.audio_helpers import paced_device  # noqa: F401  (a fixture)
from tests.conftest import ROOT
from tests.test_tmux import Terminal

SAMPLE = ROOT / "reader" / "data" / "sample.md"
SPEECH_RMS = 0.005

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by `make test`")


class Ear:
    """Listens at the paced device: waits for silence, then for speech after a key."""

    def __init__(self, device) -> None:
        self.device = device

    def _rms_since(self, mark: int) -> float:
        samples = self.device.recording_since(mark)
        return float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0

    def quiet(self, timeout: float = 60.0) -> None:
        """Wait until nothing has been heard for 0.8 s (the app finished speaking)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mark = self.device.mark()
            time.sleep(0.8)
            if self._rms_since(mark) < SPEECH_RMS / 2:
                return
        raise AssertionError("the app never fell silent")

    def heard_since(self, mark: int, term: Terminal, *, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._rms_since(mark) > SPEECH_RMS:
                return
            time.sleep(0.3)
        raise AssertionError(f"nothing was heard after {what}; the screen was:\n{term.screen()}")

    def heard_after(self, term: Terminal, *keys: str, text: str | None = None, what: str,
                    timeout: float = 20.0) -> None:
        """Press `keys` (or type `text`) after silence; speech must follow within `timeout`."""
        self.quiet()
        mark = self.device.mark()
        if text is not None:
            term.type(text)
        if keys:
            term.keys(*keys)
        self.heard_since(mark, term, what=what, timeout=timeout)


def _env(device, home: Path) -> dict[str, str]:
    env = dict(device.env)
    env.update({"READER_HOME": str(home), "TERM": "xterm-256color", "PATH": os.environ["PATH"]})
    return env


def _no_crash(term: Terminal) -> None:
    screen = term.screen()
    assert "Traceback" not in screen and "READER-EXIT" not in screen, screen


def test_a_first_run_is_heard_from_the_first_frame(paced_device, reader_home, tmp_path):
    ear = Ear(paced_device)
    letter = tmp_path / "letter.md"
    letter.write_text("# A letter\n\nDear Ann. Thank you for the scarf. It is warm.\n\n"
                      "## News\n\nThe garden is green. The cat is well.\n\n- Apples\n- Pears\n", encoding="utf-8")
    mark = paced_device.mark()
    term = Terminal(f"eyes-{os.getpid()}", _env(paced_device, reader_home), [])
    try:
        # No document on a first run: the welcome and the Open dialog are heard, not only shown.
        term.wait_for("Open a file")
        ear.heard_since(mark, term, what="the first frame")
        # Typing a path is echoed, character by character.
        term.keys("C-u")
        ear.heard_after(term, text="/", what="typing a slash in the Open dialog")
        term.type(str(letter)[1:])
        ear.heard_after(term, "Enter", what="opening the file")
        term.wait_for("Sentence 1 of")
        # Moving while stopped speaks the new sentence, as NVDA and Orca do.
        ear.heard_after(term, "Down", what="Down while stopped")
        term.wait_for("Sentence 2 of")
        ear.heard_after(term, "p", what="p (next paragraph) while stopped")
        ear.heard_after(term, "h", what="h (next heading) while stopped")
        ear.heard_after(term, "Home", what="Home while stopped")
        term.wait_for("Sentence 1 of")
        # Help: its title, then the first key.
        ear.heard_after(term, "F1", what="F1")
        term.wait_for("Keys (Escape closes this help)")
        ear.heard_after(term, "Escape", what="closing help")
        # An error is heard: a path that does not exist.
        term.keys("o")
        term.wait_for("Open a file")
        term.keys("C-u")
        term.type("/no/such/file.txt")
        term.wait_for("/no/such/file.txt")
        ear.heard_after(term, "Enter", what="a missing file in the Open dialog")
        term.wait_for("There is no file /no/such/file.txt")
        ear.heard_after(term, "Escape", what="closing the Open dialog")
        # An export started and cancelled: both heard, and the app goes on.
        ear.heard_after(term, "e", what="starting an export")
        term.wait_for("Exporting from the current sentence")
        ear.heard_after(term, "Escape", what="cancelling the export")
        time.sleep(1.0)
        _no_crash(term)
        ear.heard_after(term, "Down", what="Down after the export was cancelled")
        # The real cursor sits on the sentence being read, for an external screen reader or braille.
        cursor = term.cursor()
        line = term.screen().splitlines()[cursor[1]]
        assert "Thank you for the scarf" in line[cursor[0]:], (cursor, line)
        term.keys("q")
        term.wait_for("READER-EXIT-0")
    finally:
        term.close()


def test_piped_text_is_read_and_keys_come_from_the_terminal(paced_device, reader_home, tmp_path):
    ear = Ear(paced_device)
    letter = tmp_path / "letter.txt"
    letter.write_text("Dear Ann. Thank you for the scarf. It is warm.", encoding="utf-8")
    mark = paced_device.mark()
    term = Terminal(f"pipe-{os.getpid()}", _env(paced_device, reader_home), ["-"], stdin=f"cat {letter}")
    try:
        term.wait_for("Sentence 1 of 3")
        ear.heard_since(mark, term, what="the greeting")
        ear.heard_after(term, "Down", what="Down, a key from the terminal")
        term.wait_for("Sentence 2 of 3")
        term.keys("q")
        term.wait_for("READER-EXIT-0")
    finally:
        term.close()
