"""The audio player, played for real: through ALSA to a raw file (were the right samples played?), through a
paced PulseAudio sink recorded to WAV (pause, stop, order, seek, a device that dies), and with no device or
no PortAudio at all. Each scenario runs in a fresh interpreter (tests/audio_helpers.py): PortAudio reads
its configuration when sounddevice is imported."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.audio_helpers import (
    FILE_SENTENCES,
    IDLE_FIRST,
    IDLE_SECOND,
    ORDER_SECONDS,
    ORDER_TONES,
    PACED_SCRIPT,
    RECORDING_RATE,
    STREAM_RATE,
    chirp,
    best_offset,
    correlation,
    file_device_env,
    make_signal,
    missing_card_env,
    paced_device,  # noqa: F401  (a fixture)
    shared_paced_device,  # noqa: F401  (a fixture)
    run_scenario,
    sound_pieces,
)
from tests.conftest import ROOT

from reader.audio import AudioError
from reader.audio.player import (
    DEVICE_LOST_AT,
    NO_DEVICE,
    PORTAUDIO_MISSING,
    DeviceLost,
    Player,
    Position,
)
from reader.errors import ReaderError

# How far apart two pieces of recorded sound may be in the signal and still count as "continuous": the
# 3 ms fade at a pause is replayed on resume, and PulseAudio's resamplers smear edges by ~1 ms.
CONTINUITY_SECONDS = 0.008


def assert_continuous(recording: np.ndarray, expected: np.ndarray) -> list[tuple[int, int]]:
    """Every stretch of recorded sound is a piece of `expected`, and each one starts where the one before
    it ended (nothing skipped, nothing repeated). Returns each piece's (offset in expected, length)."""
    placed = []
    for start, end in sound_pieces(recording, RECORDING_RATE):
        piece = recording[start:end]
        offset = best_offset(expected, piece)
        lo = max(offset, 0)
        reference = expected[lo:offset + len(piece)]
        assert correlation(piece[lo - offset:lo - offset + len(reference)], reference) > 0.99, (start, offset)
        placed.append((offset, end - start))
    assert placed, "no sound was recorded"
    tolerance = CONTINUITY_SECONDS * RECORDING_RATE
    for (offset, length), (next_offset, _) in zip(placed, placed[1:]):
        assert abs(next_offset - (offset + length)) <= tolerance, placed
    return placed


# ------------------------------------------------------------------------------------------ no device


def test_import_is_light_and_errors_are_reader_errors():
    code = ("import sys, reader.audio.player as p; "
            "print('sounddevice' in sys.modules, 'soxr' in sys.modules, 'numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.split() == ["False", "False", "False"], result.stderr
    assert issubclass(DeviceLost, AudioError) and issubclass(AudioError, ReaderError)
    with pytest.raises(RuntimeError):
        Player().enqueue(object())  # type: ignore[arg-type]
    assert Player().position() == Position(None, 0, 0.0, 0.0)


def test_no_output_device_is_one_clear_sentence(tmp_path):
    result = run_scenario("no_output", missing_card_env(tmp_path))
    assert result == {"available": NO_DEVICE, "start": NO_DEVICE, "play_blocking": NO_DEVICE}


def test_missing_portaudio_is_one_clear_sentence(tmp_path):
    result = run_scenario("no_output", missing_card_env(tmp_path), hide_portaudio=True)
    assert result == {"available": PORTAUDIO_MISSING, "start": PORTAUDIO_MISSING,
                      "play_blocking": PORTAUDIO_MISSING}


# ------------------------------------------------------------------------------------------ file device


def test_the_samples_synthesized_are_the_samples_played(tmp_path):
    """ALSA's file plugin stores the stream as PortAudio opened it: float32 little-endian, mono, at the
    stream's rate (22050 Hz here). Chunks at the stream rate must arrive bit for bit; the chunk at
    16 kHz goes through soxr and must match the same sweep computed at 22050 Hz."""
    env, raw = file_device_env(tmp_path)
    result = run_scenario("file", env)
    assert result["finished"]
    assert (result["rate"], result["channels"]) == (STREAM_RATE, 1)
    played = np.fromfile(raw, dtype="<f4")
    sound = np.flatnonzero(played)
    assert len(sound), "nothing but zeros reached the device"
    first, last = sound[0], sound[-1]
    # Every sentence computed at the stream's rate, whatever rate its chunk was enqueued at.
    pieces = [make_signal(*sentence[1:5], STREAM_RATE) for sentence in FILE_SENTENCES]
    expected = np.concatenate(pieces)
    assert abs((last - first + 1) - len(expected)) <= result["blocksize"]
    at = first
    for (sentence_id, _, _, _, _, rate), piece in zip(FILE_SENTENCES, pieces):
        got = played[at:at + len(piece)]
        if rate == STREAM_RATE:
            assert np.array_equal(got, piece), f"sentence {sentence_id} was altered on its way"
        else:
            assert correlation(got, piece) > 0.99, f"sentence {sentence_id} was resampled badly"
        at += len(piece)
    assert correlation(played[first:first + len(expected)], expected) > 0.99
    assert not played[at + result["blocksize"]:].any(), "sound after the end of the stream"


# How long the idle tests let a player idle before it closes its stream (the product waits 3 s; on the file
# device every idle second is ~100 MB of zeros).
TEST_IDLE_SECONDS = 0.2


def test_an_idle_player_stops_writing_and_plays_the_next_sound_in_full(tmp_path):
    """The unpaced file device calls a running stream flat out. After the idle time the stream must be
    closed: nothing more reaches the file in a 2 s window. A sound enqueued then opens it again and is
    played bit for bit, and its on_finished fires. The same scenario with idle closing switched off is the
    control: it shows the window would have been filled with zeros."""
    control_env, _ = file_device_env(tmp_path / "control")
    control = run_scenario("idle_file", control_env, raw=str(tmp_path / "control" / "out.raw"), idle=None,
                           window=0.2)
    assert control["window_bytes"] > 100_000 and control["running_while_idle"], control

    env, raw = file_device_env(tmp_path / "idle")
    result = run_scenario("idle_file", env, raw=str(raw), idle=TEST_IDLE_SECONDS, window=2.0)
    assert result["first_finished"] and result["closed"], result
    assert result["window_bytes"] == 0 and result["window_callbacks"] == 0, result
    assert result["running_while_idle"] is False
    assert result["second_finished"] and result["finished_count"] == 2 and result["errors"] == 0, result
    assert result["reported"] == [0, 1]
    assert result["position"] == {"sentence_id": 1, "sample": round(IDLE_SECOND[2] * STREAM_RATE),
                                  "seconds": pytest.approx(IDLE_SECOND[2]),
                                  "total": pytest.approx(IDLE_FIRST[2] + IDLE_SECOND[2])}
    assert result["closed_again"] and result["idle_closes"] == 2, "the reopened stream did not close again"

    # ALSA's file plugin truncates its file when the stream is opened again: before and after the idle
    # spell are two files.
    for path, signal in ((raw.with_name("out.raw.before"), IDLE_FIRST), (raw, IDLE_SECOND)):
        played, expected = np.fromfile(path, dtype="<f4"), chirp(*signal, STREAM_RATE)
        sound = np.flatnonzero(played)
        assert len(sound), f"no sound in {path.name}"
        start = sound[0]
        assert np.array_equal(played[start:start + len(expected)], expected), f"{signal} not played in full"
        assert not played[start + len(expected):].any(), f"sound after {signal}"


# ------------------------------------------------------------------------------------------ paced device


def test_pause_holds_the_position_and_resumes_from_the_same_sample(shared_paced_device):
    mark = shared_paced_device.mark()
    result = run_scenario("pause", shared_paced_device.env)
    held = result["held"]
    assert all(p == held[0] for p in held), "the position moved while paused"
    assert result["callbacks_while_paused"] > 10, "the stream should keep running (silently) while paused"
    assert result["paused_flags"] == [True, False]  # is_paused, is_playing
    assert 0.45 <= held[0]["total"] <= 0.75
    after = [p["total"] for p in result["after"]]
    assert after == sorted(after) and after[0] >= held[0]["total"] and after[-1] > held[0]["total"]
    assert after[-1] - held[0]["total"] < 0.15
    assert result["finished"] and result["reported"] == [0, 1]

    expected = np.concatenate([chirp(300, 1500, 1.2, RECORDING_RATE), chirp(1500, 500, 0.6, RECORDING_RATE)])
    placed = assert_continuous(shared_paced_device.recording_since(mark), expected)
    assert len(placed) >= 2, "the pause left no silence in the recording"
    assert abs(placed[0][0]) <= CONTINUITY_SECONDS * RECORDING_RATE, "the start was not played"
    end = placed[-1][0] + placed[-1][1]
    assert abs(end - len(expected)) <= CONTINUITY_SECONDS * RECORDING_RATE, "the end was not played"
    # The sound resumed exactly at the sample position() reported while paused.
    resumed = [offset for offset, _ in placed if abs(offset / RECORDING_RATE - held[0]["total"]) < 0.05]
    assert resumed, (placed, held[0])
    assert abs(resumed[0] / RECORDING_RATE - held[0]["total"]) <= CONTINUITY_SECONDS


def test_stop_is_silent_quickly(shared_paced_device):
    mark = shared_paced_device.mark()
    result = run_scenario("stop", shared_paced_device.env)
    assert result["playing_after"] is False and result["queued_after"] == 0.0
    expected = np.concatenate([chirp(300, 1500, 3.0, RECORDING_RATE), chirp(300, 1500, 1.0, RECORDING_RATE)])
    placed = assert_continuous(shared_paced_device.recording_since(mark), expected)
    assert abs(placed[0][0]) <= CONTINUITY_SECONDS * RECORDING_RATE
    sound_end = (placed[-1][0] + placed[-1][1]) / RECORDING_RATE  # seconds into the signal
    # What came out after stop() was called, measured on the sound itself (the paced device's clock is
    # too loose for wall-clock timing; the bench measures the callback side precisely).
    assert sound_end - result["heard"] < 0.3, (sound_end, result["heard"])
    # And strictly: nothing reached the device beyond what the callback had written when stop() was
    # called, one block in flight, and the 3 ms fade.
    slack = result["blocksize"] / result["rate"] + 0.003 + 0.003
    assert sound_end <= result["written"] + slack, (sound_end, result["written"])


def test_a_pause_past_the_idle_time_closes_the_stream_and_resume_goes_on_from_the_same_sample(
        shared_paced_device):
    mark = shared_paced_device.mark()
    result = run_scenario("idle_pause", shared_paced_device.env, idle=TEST_IDLE_SECONDS)
    assert result["closed"], "a paused player did not close its stream"
    held = result["held"]
    assert result["held_later"] == held, "the position moved while closed"
    after = result["after"]  # just after resume(): a few frames on at most
    assert after["sentence_id"] == held["sentence_id"] and 0 <= after["total"] - held["total"] < 0.05
    assert result["callbacks_while_closed"] == 0
    assert result["flags"] == [True, False, False]  # is_paused, is_playing, stream running
    assert 0.45 <= held["total"] <= 0.9 and held["sentence_id"] == 0
    assert result["finished"] and result["reported"] == [0, 1] and result["errors"] == 0

    expected = np.concatenate([chirp(300, 1500, 1.2, RECORDING_RATE), chirp(1500, 500, 0.6, RECORDING_RATE)])
    placed = assert_continuous(shared_paced_device.recording_since(mark), expected)
    assert abs(placed[0][0]) <= CONTINUITY_SECONDS * RECORDING_RATE, "the start was not played"
    end = placed[-1][0] + placed[-1][1]
    assert abs(end - len(expected)) <= CONTINUITY_SECONDS * RECORDING_RATE, "the end was not played"
    resumed = [offset for offset, _ in placed if abs(offset / RECORDING_RATE - held["total"]) < 0.05]
    assert resumed and abs(resumed[0] / RECORDING_RATE - held["total"]) <= CONTINUITY_SECONDS, (placed, held)


def test_positions_follow_the_sound_not_the_synthesis(shared_paced_device):
    mark = shared_paced_device.mark()
    result = run_scenario("order", shared_paced_device.env)
    reported = result["reported"]
    assert [p["sentence_id"] for _, p in reported] == [0, 1, 2, 3]
    assert result["queued"] == pytest.approx(len(ORDER_TONES) * ORDER_SECONDS, abs=0.01)
    # All four were enqueued at once; the reports come one sentence's duration apart, as heard.
    times = [t for t, _ in reported] + result["finished_at"]
    gaps = np.diff(times)
    assert all(0.5 * ORDER_SECONDS < gap < 2.0 * ORDER_SECONDS for gap in gaps), gaps
    assert all(p["seconds"] < 0.1 for _, p in reported), "a report came late in its sentence"
    assert result["finished"] and result["playing_after"] is False

    recording = shared_paced_device.recording_since(mark)
    start, end = max(sound_pieces(recording, RECORDING_RATE), key=lambda piece: piece[1] - piece[0])
    span = round(ORDER_SECONDS * RECORDING_RATE)
    assert abs((end - start) - len(ORDER_TONES) * span) < 0.02 * RECORDING_RATE, "not one unbroken reading"
    for i, freq in enumerate(ORDER_TONES):  # each sentence came out at its own pitch, in order
        middle = recording[start + i * span + span // 4:start + i * span + 3 * span // 4]
        spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
        peak = np.argmax(spectrum) * RECORDING_RATE / len(middle)
        assert abs(peak - freq) < 5, (i, peak, freq)


def test_skip_and_seek(shared_paced_device):
    mark = shared_paced_device.mark()
    result = run_scenario("skip_seek", shared_paced_device.env)
    assert result["skipped"] and result["reported_skip"] == [0, 1, 3]
    paused_at, sought = result["paused_at"], result["sought"]
    assert paused_at["sentence_id"] == 10 and 0.35 < paused_at["total"] < 0.75
    # seek(1.0) lands in the second chunk: 0.2 s into sentence 11, its sample counted at its own 16 kHz.
    assert sought == {"sentence_id": 11, "sample": 3200, "seconds": pytest.approx(0.2), "total": 1.0}
    assert result["sought_later"] == sought, "a paused seek must not move"
    assert result["finished"] and result["end"]["total"] == pytest.approx(1.6, abs=0.001)
    assert result["reported"][-1] == 11

    recording = shared_paced_device.recording_since(mark)
    chirps = np.concatenate([chirp(300, 1500, 0.8, RECORDING_RATE), chirp(1500, 300, 0.8, RECORDING_RATE)])
    pieces = sound_pieces(recording, RECORDING_RATE)
    assert len(pieces) >= 3
    (a_start, a_end), (b_start, b_end) = pieces[-2], pieces[-1]
    first = best_offset(chirps, recording[a_start:a_end]) / RECORDING_RATE
    second = best_offset(chirps, recording[b_start:b_end]) / RECORDING_RATE
    assert abs(first) < 0.01 and abs((a_end - a_start) / RECORDING_RATE - paused_at["total"]) < 0.01
    assert abs(second - 1.0) < 0.01 and abs((b_end - b_start) / RECORDING_RATE - 0.6) < 0.01


def test_a_device_that_dies_pauses_the_reading_where_it_was(paced_device):
    result = run_scenario("lost", paced_device.env, script=str(PACED_SCRIPT), folder=str(paced_device.folder))
    assert result["got_error"] and result["type"] == "DeviceLost" and result["is_audio_error"]
    at = result["at_error"]
    assert at["sentence_id"] is not None
    assert result["message"] == DEVICE_LOST_AT.format(number=at["sentence_id"] + 1)
    assert result["error_sentence"] == at["sentence_id"]
    assert result["still"] == at, "the position moved after the device died"
    assert result["state_after_error"] == [True, False]  # is_paused, is_playing
    # Once the device is back, resume() reopens it and the reading goes on from where it was heard.
    assert result["finished"]
    first = result["first_after_resume"]
    assert first["sentence_id"] == at["sentence_id"]
    assert 0 <= first["total"] - at["total"] < 0.1
    assert result["reported_after_resume"][-1] == 2


def test_a_device_lost_while_the_stream_idles_is_reported_at_the_next_sound(paced_device):
    result = run_scenario("idle_lost", paced_device.env, script=str(PACED_SCRIPT),
                          folder=str(paced_device.folder), idle=TEST_IDLE_SECONDS)
    assert result["first_finished"] and result["closed"]
    assert result["got_error"] and result["type"] == "DeviceLost", result
    # Nothing of the new sentence was heard: the reading is paused at the end of the one before it.
    assert result["message"] == DEVICE_LOST_AT.format(number=1) and result["error_sentence"] == 0
    assert result["at_error"]["sentence_id"] == 0
    assert result["state_after_error"] == [True, False]  # is_paused, is_playing
    assert result["finished"] and result["reported_after_resume"] == [1]


# ------------------------------------------------------------------------------------------ no stream


def _player_without_device(rate: int) -> Player:
    """A player whose bookkeeping works but which never opens a stream (for pure logic tests)."""
    player = Player(samplerate=rate)
    player._np, player._rate = np, rate
    return player


def test_offsets_seek_and_a_device_that_returns_at_another_rate(monkeypatch):
    from tests.audio_helpers import Chunk

    player = _player_without_device(STREAM_RATE)
    player.enqueue(Chunk(np.zeros(22050, np.float32), STREAM_RATE, 0))
    player.enqueue(Chunk(np.zeros(11025, np.float32), STREAM_RATE, 1))
    player.enqueue(Chunk(np.zeros(8000, np.float32), 16000, 1))  # resampled to 11025 frames
    assert player.queued_seconds() == pytest.approx(2.0)
    player.seek(1.75)
    # 0.75 s into sentence 1, whose sample is counted at its last chunk's 16 kHz.
    near = lambda seconds: pytest.approx(seconds, abs=1e-4)  # noqa: E731  (one frame is 45 us)
    assert player.position() == Position(1, 12000, near(0.75), near(1.75))
    assert player.queued_seconds() == near(0.25)

    # The device fails and comes back at 44.1 kHz only: the queue is converted, the place kept.
    def reopen() -> None:
        player._rate = 44100

    monkeypatch.setattr(player, "_open_stream", reopen)
    player._started = True
    player.resume()
    assert player.queued_seconds() == near(0.25)
    player.seek(0.5)
    assert player.position() == Position(0, 11025, 0.5, 0.5)  # at the chunk's 22.05 kHz
    assert player.queued_seconds() == near(1.5)
