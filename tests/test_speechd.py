"""The speech-dispatcher output module (`reader-speechd`): its protocol spoken to it line by line, and the
real speech-dispatcher from Debian started in a temp HOME, with `spd-say -o reader` heard on the paced
device, `spd-say -S` stopping it, and `spd-say -L` listing the voices."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reader.speechd.module import _scale, char_text, key_text, ssml_parts
from tests.audio_helpers import shared_paced_device  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
RECORDING_RATE = 44100


def _loud_seconds(recording: np.ndarray) -> float:
    """How much of a recording is sound (not silence), in seconds."""
    return float((np.abs(recording) > 0.02).sum()) / RECORDING_RATE
MODULE = Path(sys.executable).parent / "reader-speechd"
LONG = " ".join(["This is a long message that a screen reader might send, and it goes on."] * 30)


# --- the parts ---------------------------------------------------------------------------------------

def test_ssml_is_cut_at_index_marks_and_entities_are_read():
    parts = ssml_parts('<speak>Hello <mark name="a"/>big &amp; <emphasis>small</emphasis> '
                       "world<mark name='b'/></speak>")
    assert parts == [{"text": "Hello", "mark": None}, {"text": "big & small world", "mark": "a"},
                     {"text": "", "mark": "b"}]


@pytest.mark.parametrize("broken", ["<speak>Hello <b>world", "Hello < world > again", "<<<>>>Hi", "</speak>"])
def test_broken_ssml_is_read_as_text(broken):
    text = " ".join(p["text"] for p in ssml_parts(broken))
    assert "<" not in text and ">" not in text


def test_keys_characters_and_scales():
    assert key_text("shift_a") == "shift a"
    assert key_text("control_alt_delete") == "control alt delete"
    assert key_text("kp-enter") == "enter"
    assert char_text(" ") == "space" and char_text("a") == "a" and char_text("?") == "question"
    assert _scale("0", 0.5, 3.5) == 1.0 and _scale("100", 0.5, 3.5) == 3.5 and _scale("-100", 0.5, 3.5) == 0.5
    assert _scale("NULL", 0.5, 3.5) is None


# --- the module, spoken to as speech-dispatcher does ----------------------------------------------------

class Module:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([str(MODULE), "reader.conf"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, bufsize=1)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, *lines: str) -> None:
        self.proc.stdin.write("".join(line + "\n" for line in lines))
        self.proc.stdin.flush()

    def expect(self, last: str, timeout: float = 90) -> list[str]:
        got = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {last!r} within {timeout} s; got {got}") from None
            got.append(line)
            if line.startswith(last):
                return got

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send("QUIT")
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _home() -> Path:
    return Path(tempfile.mkdtemp(prefix="sd", dir="/tmp"))  # short: the sockets' paths stay under 108 bytes


@pytest.fixture(scope="module")
def speech_home(shared_paced_device):
    home = _home()
    env = {**os.environ, **shared_paced_device.env, "READER_HOME": str(home / "r"), "PYTHONIOENCODING": "utf-8"}
    yield home, env
    subprocess.run([sys.executable, "-m", "reader", "serve", "--stop"], env=env, capture_output=True, timeout=60)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def module(speech_home):
    _, env = speech_home
    m = Module(env)
    m.send("INIT")
    assert m.expect("299 ") [-1] == "299 OK LOADED SUCCESSFULLY"
    yield m
    m.close()


def test_speak_reports_begin_marks_and_end(module, shared_paced_device):
    mark = shared_paced_device.mark()
    module.send("SET", "rate=0", "pitch=0", "punctuation_mode=some", "language=en", ".")
    assert module.expect("203 OK SETTINGS")[-1] == "203 OK SETTINGS RECEIVED"
    module.send("SPEAK")
    assert module.expect("202")[-1] == "202 OK RECEIVING MESSAGE"
    module.send('<speak>Good <mark name="one"/>morning. <mark name="two"/>How are you?</speak>', ".")
    got = module.expect("702 END")
    assert got[0] == "200 OK SPEAKING"
    assert got[1:] == ["701 BEGIN", "700-one", "700 INDEX MARK", "700-two", "700 INDEX MARK", "702 END"]
    heard = shared_paced_device.recording_since(mark)
    assert _loud_seconds(heard) > 0.5, "nothing was heard"


def test_stop_ends_speech_at_once_and_unknown_input_is_answered(module):
    module.send("BOGUS COMMAND")
    assert module.expect("300")[-1] == "300 ERR UNKNOWN COMMAND"
    module.send("CHAR")
    module.expect("202")
    module.send("a", "b", ".")  # two lines where one is allowed
    assert module.expect("305")[-1] == "305 DATA MORE THAN ONE LINE"
    module.send("SPEAK")
    module.expect("202")
    module.send(LONG, "..a line that started with a dot", ".")
    module.expect("701 BEGIN")
    sent = time.monotonic()
    module.send("STOP")
    module.expect("703 STOP", timeout=10)
    print(f"STOP to 703 STOP: {1000 * (time.monotonic() - sent):.0f} ms")
    module.send("KEY")
    module.expect("202")
    module.send("shift_a", ".")
    assert module.expect("702 END")[-1] == "702 END"
    module.send("SPEAK")
    module.expect("202")
    module.send("<speak>Broken <b>markup & stray < signs", ".")
    assert module.expect("70")[-1] in ("701 BEGIN",)
    assert module.expect("702 END")[-1] == "702 END"


def test_a_voice_type_picks_a_voice_of_that_gender(module):
    module.send("SET", "voice_type=FEMALE1", "synthesis_voice=NULL", ".")
    module.expect("203 OK SETTINGS RECEIVED")
    module.send("SPEAK")
    module.expect("202")
    module.send("Hello.", ".")
    assert module.expect("702 END")[-1] == "702 END"
    module.send("SET", "voice_type=MALE1", ".")
    module.expect("203 OK SETTINGS RECEIVED")


def test_list_voices(module):
    module.send("LIST VOICES")
    got = module.expect("200 OK VOICE LIST SENT")
    voices = {line[4:].split("\t")[0] for line in got[:-1]}
    assert {"af_heart", "bm_george", "zf_xiaoxiao"} <= voices
    assert all(len(line[4:].split("\t")) == 3 for line in got[:-1])


# --- the real speech-dispatcher ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def speechd(speech_home):
    if shutil.which("speech-dispatcher") is None or shutil.which("spd-say") is None:
        pytest.skip("speech-dispatcher is not installed (`make test` installs it as root: apt-get install "
                    "speech-dispatcher)")
    home, env = speech_home
    conf = home / "conf"
    conf.mkdir()
    sock = home / "spd.sock"
    (conf / "speechd.conf").write_text(
        f'CommunicationMethod "unix_socket"\nSocketPath "{sock}"\n'
        f'AddModule "reader" "{MODULE}" ""\nDefaultModule reader\nLogLevel 3\n')
    env = {**env, "HOME": str(home), "SPEECHD_ADDRESS": f"unix_socket:{sock}"}
    proc = subprocess.Popen(["speech-dispatcher", "-s", "-C", str(conf), "-S", str(sock), "-t", "0",
                             "-L", str(home)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not sock.exists():
        assert proc.poll() is None, "speech-dispatcher exited"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield env
    proc.terminate()
    proc.wait(timeout=20)


def test_spd_say_speaks_with_the_reader_and_stops(speechd, shared_paced_device):
    mark = shared_paced_device.mark()
    said = subprocess.run(["spd-say", "-o", "reader", "-w", "Hello from Orca's speech server."], env=speechd,
                          capture_output=True, text=True, timeout=120)
    assert said.returncode == 0, said.stderr
    heard = shared_paced_device.recording_since(mark)
    assert _loud_seconds(heard) > 0.5, "spd-say was not heard"
    subprocess.run(["spd-say", "-o", "reader", LONG], env=speechd, capture_output=True, timeout=60)
    time.sleep(4)
    subprocess.run(["spd-say", "-S"], env=speechd, capture_output=True, timeout=60)
    time.sleep(1.0)
    mark = shared_paced_device.mark()
    time.sleep(2.0)
    after = shared_paced_device.recording_since(mark)
    assert len(after) == 0 or np.abs(after).max() < 0.01, "speech went on after spd-say -S"


def test_spd_say_lists_the_voices(speechd):
    listed = subprocess.run(["spd-say", "-o", "reader", "-L"], env=speechd, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0
    assert "af_heart" in listed.stdout and "zf_xiaoxiao" in listed.stdout
