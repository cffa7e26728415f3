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


_BORDERS = str.maketrans({c: " " for c in "┃│║▎▊"})


class Terminal:
    def __init__(self, name: str, env: dict[str, str], args: list[str], *, stdin: str | None = None) -> None:
        """`stdin`: a shell command whose output is piped into the reader (`cat letter.txt | reader -`)."""
        self.name = name
        self.socket = ["-L", name]
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        pipe = f"{stdin} | " if stdin else ""
        # The exit status is shown after the reader ends, so a crash is on the screen. The reader starts
        # half a second late: tmux sizes a detached session's pane just after starting its command, and
        # an app that read the size before that (80x24) and missed the SIGWINCH drew a partial screen.
        command = f"sleep 0.5; {pipe}env {exports} {READER} {' '.join(args)}; echo READER-EXIT-$?; sleep 60"
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
            # A dialog's text wraps inside its border: the border characters are not part of it.
            if text in " ".join(screen.split()) or text in " ".join(screen.translate(_BORDERS).split()):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def cursor(self) -> tuple[int, int]:
        """Where the terminal's real cursor is (x, y): what an external screen reader follows."""
        out = subprocess.run(["tmux", *self.socket, "display-message", "-p", "-t", self.name,
                              "#{cursor_x} #{cursor_y}"], capture_output=True, text=True).stdout.split()
        return int(out[0]), int(out[1])

    def type(self, text: str) -> None:
        """Type text literally (not as key names)."""
        subprocess.run(["tmux", *self.socket, "send-keys", "-t", self.name, "-l", text], check=True)
        time.sleep(0.15)

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


def _meter_seconds(screen: str) -> float:
    """The seconds recorded so far, from the level meter ("level [###...]  -23 dB   4.1 s")."""
    import re

    found = re.findall(r"dB +([0-9.]+) s", screen)
    return float(found[-1]) if found else 0.0


def _reader_with_a_vault(device, reader_home: Path, name: str) -> Terminal:
    """The reader in tmux on the sample, on the paced device, with an empty vault (passphrase "pass phrase")."""
    from reader.vault.crypto import KdfParams
    from reader.vault.store import Vault

    Vault.create(reader_home / "vault", "pass phrase", kdf_params=KdfParams(8 * 1024, 1, 1)).lock()
    from reader.settings import Settings

    Settings.load(reader_home).with_(fit_minutes=0.75).save()  # a voice's fit takes 45 s, not 3 minutes
    env = dict(device.env)
    env.update({"READER_HOME": str(reader_home), "TERM": "xterm-256color", "PATH": os.environ["PATH"]})
    term = Terminal(f"{name}-{os.getpid()}", env, [str(SAMPLE)])
    try:
        term.wait_for("Sentence 1 of 24")
    except BaseException:
        term.close()
        raise
    return term


def _unlock(term: Terminal, key: str, then: str) -> None:
    """Open a screen of the vault with `key`, and unlock it."""
    term.keys(key)
    term.wait_for("Unlock the voice vault")
    term.type("pass phrase")
    term.keys("Enter")
    term.wait_for(then)


def _record_take(term: Terminal, device, clip: Path | None, silence_seconds: float = 2.0) -> None:
    """Space starts recording; paplay plays `clip` into the sink the app records from (or nothing for
    `silence_seconds`); Space stops it once the meter counted all of it and a second more (the ALSA ->
    PulseAudio capture runs behind the clock)."""
    import soundfile

    term.keys("Space")
    term.wait_for("Recording")
    deadline = time.monotonic() + 30
    while _meter_seconds(term.screen()) <= 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    start = _meter_seconds(term.screen())
    length = silence_seconds
    if clip is not None:
        subprocess.run(["paplay", str(clip)], env={**os.environ, **device.env}, check=True, timeout=60)
        length = soundfile.info(str(clip)).duration
    deadline = time.monotonic() + 60
    while _meter_seconds(term.screen()) < start + length + 1.0 and time.monotonic() < deadline:
        time.sleep(0.1)
    term.keys("Space")


def test_enrolling_a_voice_with_the_microphone_in_a_real_terminal(paced_device, reader_home, speakers, joe_files,
                                                                 tmp_path, run_cli):
    """The Voices screen's recording by keys, in tmux, on a real input stream: the paced device's monitor
    is the microphone, so what paplay plays into the sink is what the app records (and its own speech
    would be too, were it not silenced when recording starts). Joe reads the three prompts, a silent take
    is refused and read again, Joe records his consent, and the voice enrolled from the microphone verifies
    as Joe."""
    from tests.speakers import SR, write_clip

    passfile = tmp_path / "pass"
    passfile.write_text("pass phrase\n")
    takes = [write_clip(tmp_path / f"take-{i}.wav", clip, SR, subtype="PCM_16")
             for i, clip in enumerate(speakers["joe"])]  # three prompts, and the fourth as spoken consent
    term = _reader_with_a_vault(paced_device, reader_home, "reader-mic")

    def take(clip: Path | None, then: str) -> None:
        _record_take(term, paced_device, clip)
        term.wait_for(then)

    try:
        _unlock(term, "V", "Family voices")
        term.keys("R")
        term.wait_for("Record a voice")  # typed before the form is up, the letters would be keys of the list
        for value in ("grandpa", "Grandpa Joe", "reading letters aloud", ""):
            term.type(value)
            term.keys("Enter")
        term.wait_for("Sentence 1 of 3")
        take(takes[0], "Sentence 2 of 3")
        take(None, "Press Space to read sentence 2 again")
        take(takes[1], "Sentence 3 of 3")
        take(takes[2], "Spoken consent")
        take(takes[3], "Enrolled grandpa")
        term.wait_for("Closest available voice", timeout=300)
        term.keys("Escape")
        term.keys("q")
        time.sleep(1.0)
    finally:
        term.close()

    listed = run_cli("voices", "list", "--json", "--passphrase-file", str(passfile))
    assert listed.returncode == 0, listed.stderr.decode()
    (voice,) = [json.loads(line) for line in listed.stdout.decode().splitlines()]
    assert voice["name"] == "grandpa" and voice["clips"] == 3 and voice["preset"]["pack"] == "kokoro-int8"
    assert voice["consent"].endswith("spoken consent kept")
    verified = run_cli("voices", "verify", "grandpa", "--from", str(joe_files[3]), "--json",
                       "--passphrase-file", str(passfile))
    assert verified.returncode == 0 and json.loads(verified.stdout)["same_speaker"] is True


def test_recording_into_the_archive_in_a_real_terminal(paced_device, reader_home, tmp_path):
    """The archive screen's recording by keys, in tmux, on the paced device's monitor as the microphone:
    the description first (consent required), Space starts and stops, and the recording is archived."""
    import soundfile

    from reader.archive.store import RECORDED_HERE, ArchiveStore
    from reader.vault.store import Vault

    rate = 44_100
    t = np.arange(3 * rate) / rate
    clip = tmp_path / "grandma.wav"
    soundfile.write(clip, (0.4 * np.sin(2 * np.pi * (300 + 200 * t) * t)).astype(np.float32), rate, subtype="PCM_16")
    term = _reader_with_a_vault(paced_device, reader_home, "reader-arc")
    try:
        _unlock(term, "a", "Dialect archive")
        term.keys("R")
        term.wait_for("Record for the archive")
        for value in ("Sichuanese", "Grandma herself", "Grandma", "Chengdu", "the market"):
            term.type(value)
            term.keys("Enter")
        term.wait_for("Press Space to start")
        _record_take(term, paced_device, clip)
        term.wait_for("kept encrypted")
        term.keys("Escape")
        term.keys("q")
        time.sleep(1.0)
    finally:
        term.close()
    with Vault.open(reader_home / "vault", "pass phrase") as vault:
        (entry,) = ArchiveStore(vault).entries()
    assert (entry.original_file, entry.dialect_code, entry.speaker, entry.region, entry.topic) == (
        RECORDED_HERE, "sichuanese", "Grandma", "Chengdu", "the market")
    assert entry.duration_seconds >= 3.0


def test_choosing_the_microphone_in_a_real_terminal(paced_device, reader_home):
    """I on the Voices screen lists the input devices PortAudio sees (the paced device's among them);
    the one chosen is saved as the microphone setting."""
    from reader.settings import Settings

    term = _reader_with_a_vault(paced_device, reader_home, "reader-dev")
    try:
        _unlock(term, "V", "Family voices")
        term.keys("I")
        term.wait_for("the system's default input (in use)")
        term.wait_for("pulse (ALSA")
        term.keys("Down", "Enter")
        term.wait_for("Recording from pulse from now on")
        term.keys("I")
        screen = term.wait_for("(in use)")
        (in_use,) = [line for line in screen.splitlines() if "(in use)" in line]
        assert "pulse (ALSA" in in_use and "default input" not in in_use
        term.keys("Escape", "Escape", "q")
        time.sleep(1.0)
    finally:
        term.close()
    assert Settings.load(reader_home).microphone == "pulse"
