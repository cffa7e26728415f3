"""Real sound devices for the player tests on machines without a sound card, and the scenarios run on them.

Devices: ALSA's default PCM routed to a raw file (unpaced), a paced PulseAudio null sink recorded to
played.wav (../shared/audio/paced-device.sh), and a card that does not exist. PortAudio reads the ALSA
configuration when sounddevice is imported, so every scenario runs in a fresh interpreter started with the
device's HOME/env: `python -m tests.audio_helpers SCENARIO JSON_ARGS` prints one JSON line of results.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_AUDIO = ROOT.parent / "shared" / "audio"
PACED_SCRIPT = SHARED_AUDIO / "paced-device.sh"

# The same as ../shared/audio/asoundrc, for a checkout without shared/ beside it.
ASOUNDRC_TO_FILE = """pcm.!default {
    type file
    slave.pcm "null"
    file "OUTPUT.raw"
    format "raw"
}
pcm.null {
    type null
}
ctl.!default {
    type hw
    card 0
}
"""
# A default PCM on a card that is not there: what a machine without any sound device looks like.
ASOUNDRC_MISSING_CARD = "pcm.!default { type hw card 9 }\nctl.!default { type hw card 9 }\n"

# The rate the tests open the stream at; chunks at OTHER_RATE exercise the resampler.
STREAM_RATE = 22050
OTHER_RATE = 16000
# parec records the paced device's monitor at this rate, stereo, 16-bit, whatever the stream's rate.
RECORDING_RATE = 44100
# Below this a recorded sample counts as silence (-60 dBFS; the test signals are at -6 dBFS).
SILENCE = 1e-3
# parec's WAV header is the plain 44-byte one (RIFF, fmt, data); the data follows it.
WAV_HEADER_BYTES = 44
# parec writes in bursts up to ~0.5 s apart: the recording is complete once it has not grown for this long.
RECORDER_QUIET_SECONDS = 1.0
# Silent stretches shorter than this inside sound are zero crossings, not gaps.
MIN_GAP_SECONDS = 0.002
AMPLITUDE = 0.5


# ------------------------------------------------------------------------------------------ signals

def chirp(f0: float, f1: float, seconds: float, rate: int) -> np.ndarray:
    """A linear sweep from f0 to f1 Hz: any shift or repeat of its samples shows in a correlation.
    Starts at a peak (cosine), so its first sample is not zero."""
    t = np.arange(round(seconds * rate)) / rate
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    return (AMPLITUDE * np.cos(phase)).astype(np.float32)


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (AMPLITUDE * np.cos(2 * np.pi * freq * t)).astype(np.float32)


# (sentence id, kind, f0, f1, seconds, rate of the chunk). Sentence 3 comes in two chunks.
FILE_SENTENCES = [
    (0, "chirp", 200.0, 2000.0, 0.32, STREAM_RATE),
    (1, "chirp", 2000.0, 400.0, 0.32, STREAM_RATE),
    (2, "chirp", 300.0, 3000.0, 0.32, OTHER_RATE),
    (3, "tone", 880.0, 880.0, 0.16, STREAM_RATE),
    (3, "tone", 660.0, 660.0, 0.16, STREAM_RATE),
]
ORDER_TONES = [330.0, 440.0, 550.0, 660.0]
ORDER_SECONDS = 0.4


def make_signal(kind: str, f0: float, f1: float, seconds: float, rate: int) -> np.ndarray:
    return chirp(f0, f1, seconds, rate) if kind == "chirp" else tone(f0, seconds, rate)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n].astype(np.float64), b[:n].astype(np.float64))[0, 1])


def best_offset(reference: np.ndarray, piece: np.ndarray) -> int:
    """Where `piece` sits in `reference` (negative or past the end for partial overlaps): FFT
    cross-correlation, since np.correlate is quadratic."""
    n = 1 << int(np.ceil(np.log2(len(reference) + len(piece))))
    spectrum = np.fft.rfft(reference, n) * np.conj(np.fft.rfft(piece, n))
    lags = np.fft.irfft(spectrum, n)
    lag = int(np.argmax(lags))
    return lag if lag < n - len(piece) else lag - n


# ------------------------------------------------------------------------------------------ devices

def asoundrc_to_file(raw: Path) -> str:
    source = SHARED_AUDIO / "asoundrc"
    text = source.read_text() if source.exists() else ASOUNDRC_TO_FILE
    return text.replace("OUTPUT.raw", str(raw))


def file_device_env(folder: Path) -> tuple[dict[str, str], Path]:
    """An environment whose ALSA default writes every frame played to folder/out.raw."""
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    raw = folder / "out.raw"
    (home / ".asoundrc").write_text(asoundrc_to_file(raw))
    return {"HOME": str(home)}, raw


def missing_card_env(folder: Path) -> dict[str, str]:
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / ".asoundrc").write_text(ASOUNDRC_MISSING_CARD)
    return {"HOME": str(home)}


@dataclass(frozen=True)
class PacedDevice:
    folder: Path
    env: dict[str, str]

    @property
    def recording(self) -> Path:
        return self.folder / "played.wav"

    def stop(self) -> None:
        subprocess.run(["bash", str(PACED_SCRIPT), "stop", str(self.folder)], capture_output=True, timeout=30)

    def mark(self) -> int:
        """The recording's length in bytes now: pass it to recording_since() after playing something."""
        return self.recording.stat().st_size if self.recording.exists() else WAV_HEADER_BYTES

    def recording_since(self, mark: int) -> np.ndarray:
        """What was recorded after `mark`, as mono float in -1..1. The null sink records only while a
        stream is open, and parec writes in bursts: wait until the file stops growing."""
        size, since, deadline = -1, time.monotonic(), time.monotonic() + 10
        while time.monotonic() < deadline:
            now = self.mark()
            if now != size:
                size, since = now, time.monotonic()
            elif time.monotonic() - since >= RECORDER_QUIET_SECONDS:
                break
            time.sleep(0.05)
        # parec's header, whose sizes stay 0 until it stops: PCM, 2 channels, 44.1 kHz, 16 bits.
        header = self.recording.read_bytes()[:WAV_HEADER_BYTES]
        fmt, channels, rate = struct.unpack_from("<HHI", header, 20)
        bits = struct.unpack_from("<H", header, 34)[0]
        assert header[36:40] == b"data" and (fmt, channels, rate, bits) == (1, 2, RECORDING_RATE, 16), header
        frame = 4
        start = WAV_HEADER_BYTES + max(0, mark - WAV_HEADER_BYTES) // frame * frame
        data = self.recording.read_bytes()[start:]
        samples = np.frombuffer(data[: len(data) // frame * frame], dtype="<i2")
        return samples.reshape(-1, 2).mean(axis=1) / 32768.0


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        for word in line.removeprefix("export ").split():
            key, _, value = word.partition("=")
            env[key] = value
    return env


def start_paced_device() -> PacedDevice:
    """Start the paced device in a short temp folder (its Unix socket path must stay under 108 bytes).
    Skips when PulseAudio is missing and cannot be installed; any other failure is an error."""
    if not PACED_SCRIPT.exists():
        pytest.skip(f"the paced device script {PACED_SCRIPT} is not beside this checkout")
    folder = Path(tempfile.mkdtemp(prefix="pd", dir="/tmp"))
    result = subprocess.run(["bash", str(PACED_SCRIPT), "start", str(folder)], capture_output=True,
                            text=True, timeout=600)
    device = PacedDevice(folder, {})
    if result.returncode != 0:
        device.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if shutil.which("pulseaudio") is None or shutil.which("parec") is None:
            pytest.skip(f"PulseAudio is missing and could not be installed: {result.stderr.strip()[-300:]}")
        raise RuntimeError(f"the paced device did not start: {result.stderr.strip()[-500:]}")
    return PacedDevice(folder, read_env_file(folder / "env"))


def _running_paced_device():
    """A started paced device, stopped and removed when the generator is closed."""
    device = start_paced_device()
    try:
        yield device
    finally:
        device.stop()
        shutil.rmtree(device.folder, ignore_errors=True)


@pytest.fixture
def paced_device():
    """A paced device of the test's own (for a test that kills it); always stopped afterwards."""
    yield from _running_paced_device()


@pytest.fixture(scope="module")
def shared_paced_device():
    """One paced device for a module's tests (stopping one takes seconds): each test reads its own part
    of the recording with mark() and recording_since()."""
    yield from _running_paced_device()


class ChildOutput:
    """Collects a child's output stream as it comes (a level meter redraws one line with \\r)."""

    def __init__(self, stream) -> None:
        import threading

        self.text = ""
        self._stream = stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def join(self, timeout: float = 10) -> None:
        """Until the stream ended and all of it was read."""
        self._thread.join(timeout)

    def _read(self) -> None:
        while chunk := os.read(self._stream.fileno(), 4096):
            self.text += chunk.decode("utf-8", "replace")

    def wait_for(self, condition, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.text):
                return
            time.sleep(0.05)
        raise AssertionError(f"waited {timeout} s for {what}; the command printed:\n{self.text[-3000:]}")

    def recorded_seconds(self) -> float:
        """The seconds the level meter shows on its newest line ("level [###...] -23 dB   4.1 s")."""
        import re

        found = re.findall(r"dB +([0-9.]+) s", self.text)
        return float(found[-1]) if found else 0.0


class MicCommand:
    """`python -m reader ARGS` recording from the paced device's monitor (the default input), driven like
    a person at the keyboard: Enter starts a take, paplay plays what the microphone should hear, Enter
    stops it."""

    def __init__(self, args: list[str], env: dict[str, str], device: "PacedDevice") -> None:
        self.env = env
        self.device = device
        self.child = subprocess.Popen([sys.executable, "-m", "reader", *args], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        self.out = ChildOutput(self.child.stdout)
        self.err = ChildOutput(self.child.stderr)
        self.returncode: int | None = None

    def enter(self) -> None:
        self.child.stdin.write(b"\n")
        self.child.stdin.flush()

    def take(self, clip: Path | None, *, silence_seconds: float = 2.0) -> None:
        """Start, play `clip` into the sink (or nothing for `silence_seconds`), stop once it was recorded."""
        import soundfile

        meters = self.err.text.count("level [")
        self.enter()
        self.err.wait_for(lambda t: t.count("level [") > meters, "the level meter (the input stream delivering)")
        start = self.err.recorded_seconds()
        length = silence_seconds
        if clip is not None:
            subprocess.run(["paplay", str(clip)], env={**os.environ, **self.device.env}, check=True, timeout=120)
            length = soundfile.info(str(clip)).duration
        # The ALSA -> PulseAudio capture path runs behind the clock: stop once the meter has counted the
        # whole take and a second more, so its end is in the recording.
        self.err.wait_for(lambda t: self.err.recorded_seconds() >= start + length + 1.0, "the take to be recorded",
                          timeout=120)
        self.enter()

    def finish(self, timeout: float = 180) -> str:
        """Wait for the command to end; its standard output (standard error is in self.err)."""
        self.child.stdin.close()
        self.returncode = self.child.wait(timeout=timeout)
        self.out.join()
        self.err.join()
        return self.out.text

    def kill(self) -> None:
        if self.child.poll() is None:
            self.child.kill()


def sound_pieces(samples: np.ndarray, rate: int) -> list[tuple[int, int]]:
    """(start, end) of the stretches of sound, silent gaps shorter than MIN_GAP_SECONDS bridged."""
    loud = np.flatnonzero(np.abs(samples) > SILENCE)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) > MIN_GAP_SECONDS * rate)
    starts = np.concatenate([[loud[0]], loud[breaks + 1]])
    ends = np.concatenate([loud[breaks] + 1, [loud[-1] + 1]])
    return list(zip(starts.tolist(), ends.tolist()))


def run_scenario(name: str, env: dict[str, str], timeout: float = 40, **args) -> dict:
    """Run a scenario below in a fresh interpreter with `env` over ours; its JSON result."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "tests.audio_helpers", name, json.dumps(args)],
                            capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=timeout)
    assert result.returncode == 0, f"scenario {name} exited {result.returncode}:\n{result.stderr[-3000:]}"
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"scenario {name} printed no result:\n{result.stdout[-1000:]}\n{result.stderr[-3000:]}"
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------------ scenarios
# These run in the child interpreter: only there may sounddevice be imported.

@dataclass(frozen=True)
class Chunk:
    samples: np.ndarray
    sample_rate: int
    sentence_id: int


def _wait(condition, timeout: float, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def _warm(player) -> None:
    """Wait until the stream's callback runs steadily: the ALSA->PulseAudio path stalls ~1.5 s once after
    the first few blocks, which would make the first second of any timing meaningless."""
    _wait(lambda: player.stats().callbacks >= 40, timeout=10)


def _pos(position) -> dict:
    return {"sentence_id": position.sentence_id, "sample": position.sample_in_sentence,
            "seconds": position.seconds_in_sentence, "total": position.played_total_seconds}


class _Recorder:
    def __init__(self) -> None:
        self.positions: list[tuple[float, dict]] = []
        self.errors: list = []
        self.finished: list[float] = []

    def on_position(self, position) -> None:
        self.positions.append((time.monotonic(), _pos(position)))

    def on_error(self, error) -> None:
        self.errors.append(error)

    def on_finished(self) -> None:
        self.finished.append(time.monotonic())

    def player(self, **kwargs):
        from reader.audio.player import Player

        return Player(on_position=self.on_position, on_error=self.on_error, on_finished=self.on_finished,
                      **kwargs)


def scenario_file(args: dict) -> dict:
    """Play FILE_SENTENCES to the raw-file device; report what the player saw.

    The file device takes audio as fast as the callback makes it, so anything slower than a callback
    (resampling a chunk) would leave a gap of zeros: the player starts paused, and all is queued first."""
    rec = _Recorder()
    player = rec.player(samplerate=STREAM_RATE)
    player.pause()
    player.start()
    for sentence_id, kind, f0, f1, seconds, rate in FILE_SENTENCES:
        player.enqueue(Chunk(make_signal(kind, f0, f1, seconds, rate), rate, sentence_id))
    player.end_of_stream()
    player.resume()
    finished = _wait(lambda: rec.finished, timeout=10)
    stats = player.stats()
    player.close()
    return {"finished": finished, "rate": stats.samplerate, "channels": stats.channels,
            "blocksize": stats.blocksize, "reported": [p["sentence_id"] for _, p in rec.positions]}


def _errors_of(action) -> str | None:
    from reader.audio.player import AudioError

    try:
        action()
    except AudioError as exc:
        return exc.message
    return None


def _is_audio_error(error: object) -> bool:
    from reader.audio import AudioError
    from reader.errors import ReaderError

    return isinstance(error, AudioError) and isinstance(error, ReaderError)


def scenario_no_output(args: dict) -> dict:
    """available(), Player.start() and play_blocking() on a machine without a device or PortAudio."""
    if args.get("hide_portaudio"):
        sys.modules["sounddevice"] = None  # `import sounddevice` now raises ImportError
    from reader.audio.player import Player, available, play_blocking

    chunk = Chunk(tone(440, 0.1, STREAM_RATE), STREAM_RATE, 0)
    return {
        "available": available(),
        "start": _errors_of(lambda: Player().start()),
        "play_blocking": _errors_of(lambda: play_blocking([chunk])),
    }


def scenario_pause(args: dict) -> dict:
    """Pause mid-sentence, check the position holds, resume, play to the end."""
    rec = _Recorder()
    with rec.player(samplerate=STREAM_RATE) as player:
        _warm(player)
        player.enqueue(Chunk(chirp(300, 1500, 1.2, STREAM_RATE), STREAM_RATE, 0))
        player.enqueue(Chunk(chirp(1500, 500, 0.6, OTHER_RATE), OTHER_RATE, 1))
        player.end_of_stream()
        _wait(lambda: player.position().played_total_seconds >= 0.5, timeout=5)
        player.pause()
        time.sleep(0.4)  # what was already in the device's buffer plays out
        held = [_pos(player.position())]
        callbacks_paused = player.stats().callbacks
        for _ in range(5):
            time.sleep(0.1)
            held.append(_pos(player.position()))
        callbacks_later = player.stats().callbacks
        paused_flags = (player.is_paused, player.is_playing)
        player.resume()
        after = []
        for _ in range(10):
            time.sleep(0.01)
            after.append(_pos(player.position()))
        finished = _wait(lambda: rec.finished, timeout=10)
        time.sleep(0.2)
    return {"held": held, "after": after, "finished": finished, "paused_flags": paused_flags,
            "callbacks_while_paused": callbacks_later - callbacks_paused,
            "reported": [p["sentence_id"] for _, p in rec.positions]}


def scenario_stop(args: dict) -> dict:
    """Stop in the middle of a long sentence; report where the sound was when stop() was called."""
    from reader.audio.player import Player

    with Player(samplerate=STREAM_RATE) as player:
        _warm(player)
        player.enqueue(Chunk(chirp(300, 1500, 3.0, STREAM_RATE), STREAM_RATE, 0))
        player.enqueue(Chunk(chirp(300, 1500, 1.0, STREAM_RATE), STREAM_RATE, 1))
        _wait(lambda: player.position().played_total_seconds >= 0.8, timeout=5)
        heard = player.position().played_total_seconds
        # Test-only peek: the end of the sound the callback had handed to the device so far.
        _, _, length, segment, offset = player._runs[-1]
        written = (segment.list_offset + offset + length) / player.stats().samplerate
        player.stop()
        playing_after = player.is_playing
        queued_after = player.queued_seconds()
        time.sleep(0.6)
        stats = player.stats()
    return {"heard": heard, "written": written, "playing_after": playing_after, "queued_after": queued_after,
            "blocksize": stats.blocksize, "rate": stats.samplerate, "latency": stats.latency_seconds}


def scenario_order(args: dict) -> dict:
    """Four sentences enqueued at once: on_position must follow the sound, not the enqueueing."""
    rec = _Recorder()
    with rec.player(samplerate=STREAM_RATE) as player:
        _warm(player)
        enqueued_at = time.monotonic()
        for i, freq in enumerate(ORDER_TONES):
            player.enqueue(Chunk(tone(freq, ORDER_SECONDS, STREAM_RATE), STREAM_RATE, i))
        queued = player.queued_seconds()
        player.end_of_stream()
        finished = _wait(lambda: rec.finished, timeout=10)
        playing_after = player.is_playing
        time.sleep(0.2)
    return {"enqueued_at": enqueued_at, "queued": queued, "finished": finished,
            "finished_at": rec.finished, "playing_after": playing_after,
            "reported": [(t, p) for t, p in rec.positions]}


def scenario_lost(args: dict) -> dict:
    """The device disappears mid-sentence, comes back, and the reading resumes where it was."""
    script, folder = args["script"], args["folder"]
    rec = _Recorder()
    with rec.player(samplerate=STREAM_RATE) as player:
        _warm(player)
        for i, freq in enumerate(ORDER_TONES[:3]):
            player.enqueue(Chunk(tone(freq, 0.8, STREAM_RATE), STREAM_RATE, i))
        player.end_of_stream()
        _wait(lambda: player.position().sentence_id == 1 and player.position().seconds_in_sentence > 0.3, 6)
        # Pull the plug: kill the sound server we started (by its saved PID), as a USB device vanishes.
        os.kill(int(Path(folder, "pulse.pid").read_text()), signal.SIGKILL)
        got_error = _wait(lambda: rec.errors, timeout=5)
        error = rec.errors[0] if rec.errors else None
        at_error = _pos(player.position())
        state = (player.is_paused, player.is_playing)
        time.sleep(0.2)
        still = _pos(player.position())
        subprocess.run(["bash", script, "stop", folder], capture_output=True, timeout=30)  # the recorder
        subprocess.run(["bash", script, "start", folder], capture_output=True, timeout=60)
        reported_before = len(rec.positions)
        player.resume()
        finished = _wait(lambda: rec.finished, timeout=12)
    return {
        "got_error": got_error, "message": error.message if error else None,
        "error_sentence": getattr(error, "sentence_id", None), "type": type(error).__name__,
        "is_audio_error": _is_audio_error(error),
        "at_error": at_error, "still": still, "state_after_error": state, "finished": finished,
        "reported_after_resume": [p["sentence_id"] for _, p in rec.positions[reported_before:]],
        "first_after_resume": next((p for _, p in rec.positions[reported_before:]), None),
    }


def scenario_skip_seek(args: dict) -> dict:
    """skip_to() over a queued sentence, then a recording replayed with pause, seek and resume."""
    rec = _Recorder()
    with rec.player(samplerate=STREAM_RATE) as player:
        _warm(player)
        for i, freq in enumerate(ORDER_TONES):
            player.enqueue(Chunk(tone(freq, ORDER_SECONDS, STREAM_RATE), STREAM_RATE, i))
        player.end_of_stream()
        _wait(lambda: player.position().sentence_id == 1 and player.position().seconds_in_sentence > 0.1, 6)
        player.skip_to(3)
        skipped = _wait(lambda: rec.finished, timeout=6)
        reported_skip = [p["sentence_id"] for _, p in rec.positions]
        time.sleep(0.3)  # a silence in the recording between the two parts

        player.stop()
        rec.finished.clear()
        player.enqueue(Chunk(chirp(300, 1500, 0.8, STREAM_RATE), STREAM_RATE, 10))
        player.enqueue(Chunk(chirp(1500, 300, 0.8, OTHER_RATE), OTHER_RATE, 11))
        player.end_of_stream()
        # Until the new list is heard, position() still tells where the stopped one stopped.
        _wait(lambda: player.position().sentence_id == 10, timeout=5)
        _wait(lambda: player.position().played_total_seconds >= 0.4, timeout=5)
        player.pause()
        time.sleep(0.2)
        paused_at = _pos(player.position())
        player.seek(1.0)
        sought = _pos(player.position())
        time.sleep(0.2)
        sought_later = _pos(player.position())
        player.resume()
        finished = _wait(lambda: rec.finished, timeout=6)
        end = _pos(player.position())
        time.sleep(0.2)
    return {"skipped": skipped, "reported_skip": reported_skip, "paused_at": paused_at, "sought": sought,
            "sought_later": sought_later, "finished": finished, "end": end,
            "reported": [p["sentence_id"] for _, p in rec.positions]}


SCENARIOS = {"file": scenario_file, "no_output": scenario_no_output, "pause": scenario_pause,
             "stop": scenario_stop, "order": scenario_order, "skip_seek": scenario_skip_seek,
             "lost": scenario_lost}


# ------------------------------------------------------------------------------------------ idle close
# The player closes its stream after `idle_close_seconds` with nothing to play; these shorten that time.

def _raw_size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0


IDLE_FIRST = (200.0, 2000.0, 0.3)  # chirp f0, f1, seconds: the sound before the idle spell
IDLE_SECOND = (2000.0, 400.0, 0.3)  # and the one after it


def scenario_idle_file(args: dict) -> dict:
    """On the raw-file device: play a sound, let the player idle (`idle` s; None: never close), count the
    bytes the device is given in a further `window` s, then play a second sound. Reopening the stream
    truncates the device's file, so what was played before is copied to RAW.before first."""
    raw, idle, window = args["raw"], args["idle"], args["window"]
    rec = _Recorder()
    player = rec.player(samplerate=STREAM_RATE, idle_close_seconds=idle)
    player.start()
    player.enqueue(Chunk(chirp(*IDLE_FIRST, STREAM_RATE), STREAM_RATE, 0))
    player.end_of_stream()
    first_finished = _wait(lambda: rec.finished, timeout=10)
    if idle is None:
        time.sleep(0.3)
        closed = False
    else:
        closed = _wait(lambda: player.stats().idle_closes >= 1, timeout=idle + 5)
    before, calls_before = _raw_size(raw), player.stats().callbacks
    time.sleep(window)
    after, calls_after = _raw_size(raw), player.stats().callbacks
    running_while_idle = player.stats().running
    shutil.copyfile(raw, raw + ".before")
    player.enqueue(Chunk(chirp(*IDLE_SECOND, STREAM_RATE), STREAM_RATE, 1))
    player.end_of_stream()
    second_finished = _wait(lambda: len(rec.finished) >= 2, timeout=10)
    position = _pos(player.position())
    closed_again = idle is not None and _wait(lambda: player.stats().idle_closes >= 2, timeout=idle + 5)
    stats = player.stats()
    player.close()
    return {"first_finished": first_finished, "closed": closed, "window_bytes": after - before,
            "window_callbacks": calls_after - calls_before, "running_while_idle": running_while_idle,
            "second_finished": second_finished, "finished_count": len(rec.finished), "position": position,
            "closed_again": closed_again, "idle_closes": stats.idle_closes, "blocksize": stats.blocksize,
            "reported": [p["sentence_id"] for _, p in rec.positions], "errors": len(rec.errors)}


def scenario_idle_pause(args: dict) -> dict:
    """Pause mid-sentence and stay paused past the idle time (the stream closes), then resume."""
    idle = args["idle"]
    rec = _Recorder()
    with rec.player(samplerate=STREAM_RATE, idle_close_seconds=None) as player:
        _warm(player)  # with nothing queued a short idle time would close the stream while it warms up
        player._idle_close_seconds = idle  # test-only: the idle time from here on
        player.enqueue(Chunk(chirp(300, 1500, 1.2, STREAM_RATE), STREAM_RATE, 0))
        player.enqueue(Chunk(chirp(1500, 500, 0.6, OTHER_RATE), OTHER_RATE, 1))
        player.end_of_stream()
        _wait(lambda: player.position().played_total_seconds >= 0.5, timeout=8)
        player.pause()
        closed = _wait(lambda: player.stats().idle_closes >= 1, timeout=idle + 5)
        held = _pos(player.position())
        calls_before = player.stats().callbacks
        time.sleep(0.5)
        held_later = _pos(player.position())
        callbacks_while_closed = player.stats().callbacks - calls_before
        flags = (player.is_paused, player.is_playing, player.stats().running)
        reported_before = len(rec.positions)
        player.resume()
        after = _pos(player.position())
        finished = _wait(lambda: rec.finished, timeout=10)
        time.sleep(0.2)
    return {"closed": closed, "held": held, "held_later": held_later, "after": after,
            "callbacks_while_closed": callbacks_while_closed, "flags": flags, "finished": finished,
            "reported": [p["sentence_id"] for _, p in rec.positions],
            "reported_after_resume": [p["sentence_id"] for _, p in rec.positions[reported_before:]],
            "errors": len(rec.errors)}


def scenario_idle_lost(args: dict) -> dict:
    """The device disappears while the stream is closed for idling: the next enqueue() must not raise (nor
    hang), the loss is reported as when a device dies mid-sentence, and resume() plays the new sound."""
    script, folder, idle = args["script"], args["folder"], args["idle"]
    rec = _Recorder()
    with rec.player(samplerate=STREAM_RATE, idle_close_seconds=idle) as player:
        player.enqueue(Chunk(tone(440, 0.3, STREAM_RATE), STREAM_RATE, 0))
        player.end_of_stream()
        first_finished = _wait(lambda: rec.finished, timeout=10)
        closed = _wait(lambda: player.stats().idle_closes >= 1, timeout=idle + 5)
        os.kill(int(Path(folder, "pulse.pid").read_text()), signal.SIGKILL)
        time.sleep(0.2)
        player.enqueue(Chunk(tone(660, 0.5, STREAM_RATE), STREAM_RATE, 1))
        player.end_of_stream()
        got_error = _wait(lambda: rec.errors, timeout=5)
        error = rec.errors[0] if rec.errors else None
        state = (player.is_paused, player.is_playing)
        at_error = _pos(player.position())
        subprocess.run(["bash", script, "stop", folder], capture_output=True, timeout=30)
        subprocess.run(["bash", script, "start", folder], capture_output=True, timeout=60)
        reported_before = len(rec.positions)
        player.resume()
        finished = _wait(lambda: len(rec.finished) >= 2, timeout=12)
    return {"first_finished": first_finished, "closed": closed, "got_error": got_error,
            "type": type(error).__name__, "message": error.message if error else None,
            "error_sentence": getattr(error, "sentence_id", None), "state_after_error": state,
            "at_error": at_error, "finished": finished,
            "reported_after_resume": [p["sentence_id"] for _, p in rec.positions[reported_before:]]}


SCENARIOS.update({"idle_file": scenario_idle_file, "idle_pause": scenario_idle_pause,
                  "idle_lost": scenario_idle_lost})

if __name__ == "__main__":
    result = SCENARIOS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    print(json.dumps(result), flush=True)
