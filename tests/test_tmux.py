"""The app in a real terminal: started in tmux, keys sent with send-keys, the screen read with
capture-pane, and the sound it plays recorded from a paced PulseAudio null sink (no sound card here).

The paced device, not the unpaced ALSA file device: a callback stream on an unpaced device is called
flat out and starves the app's own thread, which no real sound card does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.audio_helpers import paced_device  # noqa: F401  (a fixture)
from tests.conftest import ROOT

SAMPLE = ROOT / "reader" / "data" / "sample.md"
READER = Path(sys.executable).parent / "reader"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by `make test`")


class Terminal:
    def __init__(self, name: str, env: dict[str, str], args: list[str]) -> None:
        self.name = name
        self.socket = ["-L", name]
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        command = f"env {exports} {READER} {' '.join(args)}; sleep 60"
        subprocess.run(["tmux", *self.socket, "new-session", "-d", "-s", name, "-x", "120", "-y", "36",
                        command], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", *self.socket, "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", *self.socket, "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def wait_for(self, text: str, timeout: float = 40.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in " ".join(screen.split()):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", *self.socket, "kill-server"], capture_output=True)


def _heard(device, mark: int, timeout: float = 40.0) -> bool:
    """Whether speech (not silence) reached the device after `mark`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples = device.recording_since(mark)
        if samples.size and float(np.sqrt(np.mean(samples**2))) > 0.005:
            return True
        time.sleep(0.5)
    return False


def test_reading_in_a_real_terminal(paced_device, reader_home):
    env = dict(paced_device.env)
    env.update({"READER_HOME": str(reader_home), "TERM": "xterm-256color", "PATH": os.environ["PATH"]})
    mark = paced_device.mark()
    term = Terminal(f"reader-{os.getpid()}", env, [str(SAMPLE)])
    try:
        term.wait_for("Sentence 1 of 24")
        # Self-voicing: the app says the document's title through the sound device.
        assert _heard(paced_device, mark), "the app did not speak its greeting"
        term.keys("Down", "Down", "Down")
        term.wait_for("Sentence 4 of 24")
        mark = paced_device.mark()
        term.keys("Space")
        term.wait_for("Playing")
        assert _heard(paced_device, mark), "pressing space played nothing"
        term.keys("Escape")
        screen = term.wait_for("Stopped")
        place = next(w for w in screen.split("|") if "Sentence" in w).split(",")[0].strip()
        term.keys("w")
        term.wait_for("percent")
        term.keys("q")
        time.sleep(1.0)
    finally:
        term.close()
    states = list((reader_home / "state").glob("*.json"))
    assert len(states) == 1
    assert json.loads(states[0].read_text())["offset"] > 0

    term = Terminal(f"reader2-{os.getpid()}", env, [str(SAMPLE)])
    try:
        term.wait_for("Resuming at sentence")
        term.wait_for(place)
    finally:
        term.close()
