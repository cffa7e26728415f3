"""Family voices on the real default packs: enrollment from speech files (test speakers made with the
bundled voices), quality refusals, consent, verify, use, crypto-shredding delete, preset fitting (Kokoro
blends and a speaker-embedding pack), the microphone path, and no plaintext left behind."""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from reader.settings import Settings
from reader.speech import features, packs
from reader.speech.pipeline import Pipeline
from reader.vault.crypto import KdfParams
from reader.vault.store import Transaction, Vault
from reader.voices import capture, commands, fit, quality
from reader.voices.consent import Consent, ConsentError
from reader.voices.enroll import VERIFY_THRESHOLD, Clip, VoiceBook, resolve_voice, unit_mean
from tests.audio_helpers import MicCommand, paced_device  # noqa: F401  (a fixture)
from tests.speakers import write_clip

FAST_KDF = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
PASS = "a long family passphrase"
NAME = "Großmutter Åsa"  # distinctive, so a plaintext scan cannot find it by chance
SR = features.SAMPLE_RATE


@pytest.fixture
def vault_home(reader_home) -> Path:
    """READER_HOME with an empty vault (cheap KDF) and a passphrase file outside it."""
    Vault.create(reader_home / "vault", PASS, kdf_params=FAST_KDF).lock()
    return reader_home


@pytest.fixture
def passfile(tmp_path) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text(PASS + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _run(argv: list[str], home: Path) -> int:
    parser = argparse.ArgumentParser(prog="reader")
    sub = parser.add_subparsers(dest="command")
    handlers = commands.register(sub)
    args = parser.parse_args(argv)
    return handlers[args.command](args, Settings.load(home))


def _open(home: Path) -> Vault:
    return Vault.open(home / "vault", PASS)


def _enroll_args(files: list[Path], passfile: Path, *extra: str) -> list[str]:
    return ["voices", "enroll", NAME, "--from", *map(str, files), "--consent-by", "Åsa", "--recorded-by", "Tom",
            "--purpose", "reading stories to the grandchildren", "--passphrase-file", str(passfile), *extra]


# --- enrollment, verify, list, use, delete through the command handlers ------------------------------------


def test_enroll_verify_list_use_delete(vault_home, passfile, joe_files, speakers, tmp_path, capsys):
    assert _run(_enroll_args(joe_files[:3], passfile, "--pack", "piper-joe-en"), vault_home) == 0
    out = capsys.readouterr().out
    assert f"Enrolled {NAME}: 3 recordings" in out
    with _open(vault_home) as vault:
        book = VoiceBook(vault)
        assert book.names() == [NAME]
        assert len(book.records(NAME, "recording")) == 3
        stored = book.embedding(NAME)
        assert stored.shape == (256,) and abs(np.linalg.norm(stored) - 1) < 1e-5
        consent = book.consent(NAME)
        assert (consent.subject, consent.consent_by, consent.recorded_by) == (NAME, "Åsa", "Tom")
        preset = book.preset(NAME)
        assert preset["pack"] == "piper-joe-en" and preset["kind"] == "stock"
        # Joe enrolled, Joe's own voice as the preset: the speaker encoder must find it very similar.
        assert preset["similarity"] > VERIFY_THRESHOLD

    # The same speaker, a clip not used for enrollment: JSON is exactly the two keys.
    assert _run(["voices", "verify", NAME, "--from", str(joe_files[3]), "--json", "--passphrase-file",
                 str(passfile)], vault_home) == 0
    same = json.loads(capsys.readouterr().out)
    assert set(same) == {"similarity", "same_speaker"} and same["same_speaker"] is True
    assert isinstance(same["similarity"], float) and same["similarity"] >= VERIFY_THRESHOLD
    other = write_clip(tmp_path / "kumo.wav", speakers["kumo"][0], 24_000)
    assert _run(["voices", "verify", NAME, "--from", str(other), "--json", "--passphrase-file", str(passfile)],
                vault_home) == 0
    different = json.loads(capsys.readouterr().out)
    assert different["same_speaker"] is False and different["similarity"] < VERIFY_THRESHOLD
    assert _run(["voices", "verify", NAME, "--from", str(other), "--passphrase-file", str(passfile)], vault_home) == 0
    assert capsys.readouterr().out.startswith("probably not the same person (similarity ")

    assert _run(["voices", "list", "--passphrase-file", str(passfile)], vault_home) == 0
    listed = capsys.readouterr().out
    assert f"{NAME}: 3 recordings" in listed and "consent by Åsa for" in listed and "similarity" in listed

    assert _run(["voices", "use", NAME, "--passphrase-file", str(passfile)], vault_home) == 0
    assert "joe on the piper-joe-en pack (similarity" in capsys.readouterr().out
    assert json.loads((vault_home / "settings.json").read_text())["voice"] == "joe"
    assert Settings.load(vault_home).voice == "joe"

    with _open(vault_home) as vault:
        group = VoiceBook.group(NAME)
        files_before = set((vault.folder / "records").glob("*.rec"))
        assert len(files_before) == 6  # consent, 3 recordings, embedding, preset
    assert _run(["voices", "delete", NAME, "--passphrase-file", str(passfile)], vault_home) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"Deleted {NAME}: 3 recordings, 1 embedding, 1 preset, 1 consent record; their encryption key was destroyed.",
        commands.VOICE_RESET]
    with _open(vault_home) as vault:
        assert vault.list(group=group) == [] and vault.list() == []
        assert group not in vault.groups()
        assert not list((vault.folder / "records").glob("*.rec"))
    assert Settings.load(vault_home).voice is None  # the reading voice came from her: it went with her


def test_enroll_with_spoken_consent_counts_it(vault_home, passfile, joe_files, capsys):
    args = _enroll_args(joe_files[:2], passfile, "--no-preset", "--consent-audio", str(joe_files[3]))
    assert _run(args, vault_home) == 0
    with _open(vault_home) as vault:
        assert VoiceBook(vault).consent(NAME).spoken is True
    capsys.readouterr()
    assert _run(["voices", "delete", NAME, "--yes", "--passphrase-file", str(passfile)], vault_home) == 0
    assert "2 recordings, 1 embedding, 0 presets, 2 consent records" in capsys.readouterr().out


# --- quality refusals: each says its sentence, and nothing is stored -------------------------------------------


def _silence(joe):
    return np.zeros(5 * SR, np.float32)


def _short(joe):  # 1.5 s of speech in 5 s
    speech = quality.speech_only(joe[0])[: int(1.5 * SR)]
    lead = np.zeros(quality.FRAME * 33, np.float32)  # whole VAD frames, so exactly 1.5 s is counted
    return np.concatenate([lead, speech, np.zeros(int(2.5 * SR), np.float32)])


def _clipped(joe):
    return np.clip(joe[0] * 20, -1, 1)


def _quiet(joe):
    return joe[0] * 10 ** (-22 / 20)  # speech at about -46 dBFS


def _noisy(joe):
    rms = np.sqrt(np.mean(quality.speech_only(joe[0]) ** 2))
    noise = np.random.default_rng(1).normal(0, rms * 0.25, len(joe[0])).astype(np.float32)  # 12 dB under the speech
    return joe[0] + noise


def _two_voices(joe, kumo):
    return np.concatenate([quality.speech_only(joe[1])[: 3 * SR], quality.speech_only(kumo[0])[: 3 * SR]])


@pytest.mark.parametrize("make, sentence", [
    (_silence, re.escape(quality.NO_SPEECH)),
    (_short, r"Only 1\.[3-5] s of speech was found; record at least 3 s of someone speaking\."),
    (_clipped, re.escape(quality.CLIPPED)),
    (_two_voices, re.escape(quality.SEVERAL_VOICES)),
])
def test_quality_refusal_stores_nothing(make, sentence, vault_home, passfile, speakers, joe_files, tmp_path):
    bad = make(speakers["joe"], speakers["kumo"]) if make is _two_voices else make(speakers["joe"])
    path = tmp_path / "bad.wav"
    soundfile.write(str(path), bad.astype(np.float32), SR, subtype="FLOAT")  # float: a clip stays clipped, quiet stays quiet
    with pytest.raises(quality.QualityError) as caught:
        _run(_enroll_args([joe_files[0], path], passfile), vault_home)
    assert re.fullmatch("bad\\.wav: " + sentence, caught.value.message), caught.value.message
    with _open(vault_home) as vault:
        assert vault.list() == [] and vault.groups() == []
    assert not list((vault_home / "vault" / "records").glob("*"))


@pytest.mark.parametrize("make, warning", [(_quiet, "quiet"), (_noisy, "noisy")])
def test_quiet_or_noisy_clips_are_enrolled_with_a_warning(make, warning, vault_home, passfile, speakers, joe_files,
                                                          tmp_path):
    """Refused before; a phone recording of a grandparent is often like this. Kept, normalized, warned."""
    path = tmp_path / "memo.wav"
    soundfile.write(str(path), make(speakers["joe"]).astype(np.float32), SR, subtype="FLOAT")
    assert _run(_enroll_args([joe_files[1], path], passfile, "--no-preset"), vault_home) == 0
    with _open(vault_home) as vault:
        metas = [r.meta["quality"] for r in VoiceBook(vault).records(NAME, "recording")]
    assert warning in metas[1]["warnings"] and warning not in metas[0]["warnings"]


def test_good_clips_pass_every_check(speakers, encoder):
    for clip in speakers["joe"] + speakers["kumo"] + speakers["blend"]:
        report = quality.assess(clip, encoder=encoder)
        assert report.ok, report
        assert report.speech_s >= 3.0 and report.part_similarity >= quality.SINGLE_SPEAKER_MIN_SHORT


def test_clips_of_two_people_are_refused(vault_home, passfile, joe_files, speakers, tmp_path):
    kumo = write_clip(tmp_path / "kumo.wav", speakers["kumo"][0], 24_000)
    with pytest.raises(quality.QualityError, match="seems to be of another person"):
        _run(_enroll_args([joe_files[0], joe_files[1], kumo], passfile, "--no-preset"), vault_home)
    with _open(vault_home) as vault:
        assert vault.list() == []


# --- consent -------------------------------------------------------------------------------------------------


def test_no_consent_no_voice(vault_home, passfile, joe_files, monkeypatch):
    def no_terminal(prompt=""):
        raise EOFError

    monkeypatch.setattr("builtins.input", no_terminal)
    with pytest.raises(ConsentError, match="without the person's consent no voice is recorded or kept"):
        _run(["voices", "enroll", NAME, "--from", str(joe_files[0]), "--passphrase-file", str(passfile)], vault_home)
    answers = iter(["Åsa", "", "reading aloud", "no"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    with pytest.raises(ConsentError):
        _run(["voices", "enroll", NAME, "--from", str(joe_files[0]), "--passphrase-file", str(passfile)], vault_home)
    with _open(vault_home) as vault:
        assert vault.list() == [] and vault.groups() == []


def test_consent_questions_are_asked_and_kept(vault_home, passfile, joe_files, monkeypatch, capsys):
    asked = []
    answers = iter(["Åsa herself", "", "reading letters aloud", "yes"])

    def answer(prompt=""):
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", answer)
    assert _run(["voices", "enroll", NAME, "--from", str(joe_files[0]), "--no-preset", "--passphrase-file",
                 str(passfile)], vault_home) == 0
    assert len(asked) == 4 and "consent" in asked[0].lower() and "yes/no" in asked[3]
    with _open(vault_home) as vault:
        consent = VoiceBook(vault).consent(NAME)
    assert (consent.consent_by, consent.recorded_by, consent.purpose) == ("Åsa herself", "Åsa herself",
                                                                          "reading letters aloud")
    assert consent.given_at[:4].isdigit()


def test_enroll_api_refuses_without_consent(tmp_path, speakers, encoder):
    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST_KDF) as vault:
        with pytest.raises(ConsentError):
            VoiceBook(vault).enroll("x", [Clip(speakers["joe"][0], "a")], None, encoder)
        assert vault.list() == []


def test_a_phone_recording_is_marked_so_its_voice_is_fitted_in_the_phone_band(tmp_path, speakers, encoder):
    """A voice memo from a phone (8 kHz, 300-3400 Hz) is recognised when it is checked and the mark is kept
    with the sealed recording: `phone_band` is what fit_for asks before hearing every voice in that band."""
    import soxr

    from tests.voice_material import PHONE_RATE, phone

    joe = speakers["joe"]
    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST_KDF) as vault:
        book = VoiceBook(vault)
        book.enroll("wide", [Clip(joe[0], "a"), Clip(joe[1], "b")], Consent.now("wide", "w", "a test"), encoder)
        memos = [phone(x) for x in joe[:2]]
        clips = [Clip(features.to_16k(m, PHONE_RATE), f"memo {i}", original=m, original_rate=PHONE_RATE)
                 for i, m in enumerate(memos)]
        book.enroll("memo", clips, Consent.now("memo", "m", "a test"), encoder)
        assert not book.phone_band("wide")
        assert book.phone_band("memo")
        # The phone-band version of a wideband clip is marked too (a phone line carried it at 16 kHz).
        line = quality.band_limit(soxr.resample(memos[0], PHONE_RATE, SR))
        book.enroll("line", [Clip(line, "line")], Consent.now("line", "l", "a test"), encoder)
        assert book.phone_band("line")


# --- preset fitting -------------------------------------------------------------------------------------------


def test_speaker_embedding_pack_uses_the_embedding(tmp_path, speakers, encoder):
    from models.tiny_packs import make_tiny_pack

    pack = packs.open_pack(make_tiny_pack(tmp_path / "tiny-clone", "speaker_embedding"))
    pipeline = Pipeline.load(pack, Settings(home=tmp_path))
    clips = speakers["joe"][:2]
    target = unit_mean(encoder.embed(c, SR) for c in clips)
    result = fit.fit_preset(pipeline, encoder, target, clips16k=clips)
    assert result.kind == fit.EMBEDDING_PRESET and result.trials == 1
    # The pack's own speaker stage made the embedding (its acoustic stage was trained on that space).
    own = unit_mean(pipeline.speaker.embed(c, SR) for c in clips)
    assert np.allclose(result.embedding, own, atol=1e-6)

    seen = []
    session = pipeline.acoustic.session
    real_run = session.run

    def spy(outputs, feeds, *rest):
        seen.append(np.array(feeds["speaker_embedding"]))
        return real_run(outputs, feeds, *rest)

    session.run = spy
    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST_KDF) as vault:
        book = VoiceBook(vault)
        consent = Consent.now("tiny", "tiny", "a test")
        book.store_consent("tiny", consent)
        book.store_embedding("tiny", target, 2)
        book.store_preset("tiny", result)
        preset_id = vault.find("preset", "preset", book.group("tiny")).id
        voice = resolve_voice("vault:" + preset_id, pipeline, vault)
        audio, _ = pipeline.render("hello there", lang="en", voice=voice, stream=False)
    assert seen and np.allclose(seen[-1].ravel(), own, atol=1e-6)
    other, _ = pipeline.render("hello there", lang="en", voice=pipeline.embedding_voice(-own), stream=False)
    assert not np.allclose(audio, other)  # the embedding really conditions the acoustic stage


def test_an_enrolled_voice_itself_reads_on_a_cloning_pack(vault_home, passfile, joe_files, tmp_path, run_cli,
                                                          monkeypatch):
    """With a pack conditioned on a speaker embedding (the tiny one here), the enrolled voice itself reads:
    `voices use` chooses it without naming it in settings.json, `say --voice NAME` speaks with it, and a
    reading session reads with the default voice until the vault is unlocked, then with the enrolled one."""
    import os

    from models.tiny_packs import make_tiny_pack
    from reader.reading import ENROLLED_VOICE_LOCKED, ReadingSession
    from reader.speech.synthesizer import SynthesisOptions, Synthesizer
    from reader.text.extract import load_document

    make_tiny_pack(tmp_path / "packs" / "tiny-clone", "speaker_embedding")
    search = os.pathsep.join([str(packs.builtin_pack_dir()), str(tmp_path / "packs")])
    env = {"READER_PACKS": search}
    pw = ("--passphrase-file", str(passfile))
    enrolled = run_cli(*_enroll_args(joe_files[:3], passfile, "--pack", "tiny-clone"), env=env)
    assert enrolled.returncode == 0, enrolled.stderr.decode()
    assert "speaks with the enrolled voice itself" in enrolled.stdout.decode()
    used = run_cli("voices", "use", NAME, *pw, env=env)
    assert used.returncode == 0 and "own voice on the tiny-clone pack" in used.stdout.decode()
    settings = Settings.load(vault_home)
    assert settings.voice.startswith("vault:")
    assert NAME.encode() not in (vault_home / "settings.json").read_bytes()

    said = run_cli("say", "hello there", "--voice", NAME, "--out", str(tmp_path / "said.wav"), *pw, env=env)
    assert said.returncode == 0, said.stderr.decode()
    assert f"reading with {NAME}'s voice" in said.stderr.decode()
    heard, rate = soundfile.read(str(tmp_path / "said.wav"), dtype="float32")

    # The same words in this process from the stored embedding: what `say` wrote is that voice.
    monkeypatch.setenv("READER_PACKS", search)
    with _open(vault_home) as vault:
        embedding = np.asarray(VoiceBook(vault).preset(NAME)["embedding"], dtype=np.float32)

    def speak(vector: np.ndarray) -> np.ndarray:
        synth = Synthesizer.load(settings)
        synth.add_voice("mine", "tiny-clone", synth.pipeline("tiny-clone").embedding_voice(vector), "mine")
        return np.concatenate([c.samples for c in synth.stream(["hello there"], SynthesisOptions(voice="mine"))])

    expected = speak(embedding)
    assert rate == 16_000 and len(heard) == len(expected)
    assert np.abs(heard - expected).max() <= 1.5 / 32767  # 16-bit WAV
    # And the comparison can fail: other embeddings speak otherwise. (The tiny pack's vocoder hears one
    # direction of the embedding, which one voice may happen to share: several others are tried.)
    others = [speak(np.eye(len(embedding), dtype=np.float32)[i]) for i in range(4)]
    assert max(np.abs(heard - other).max() for other in others) > 0.01

    text = tmp_path / "letter.txt"
    text.write_text("hello there", encoding="utf-8")
    events = []
    session = ReadingSession(load_document(text), settings, on_event=events.append, self_voicing=False)
    try:
        assert session.voice is None and session.voice_label.startswith("enrolled voice (locked")
        session.export(tmp_path / "before.wav")
        before, _ = soundfile.read(str(tmp_path / "before.wav"), dtype="float32")
        assert len(before) != len(heard) or np.abs(before - heard).max() > 0.01  # the default voice
        session._start(session._speech_items(0, 1), reading=True)
        session.stop()
        assert [e.message for e in events if e.kind == "message"].count(ENROLLED_VOICE_LOCKED) == 1
        with _open(vault_home) as vault:
            assert session.use_vault(vault)
        assert session.voice == settings.voice and session.voice_label == f"{NAME}'s voice"
        session.export(tmp_path / "after.wav")
        session.forget_voice(settings.voice)  # the voice was deleted: gone from memory too
        assert not session.synthesizer().has_voice(settings.voice) and session.voice is None
    finally:
        session.close()
    after, _ = soundfile.read(str(tmp_path / "after.wav"), dtype="float32")
    assert len(after) == len(heard) and np.abs(after - heard).max() <= 1.5 / 32767


# --- the microphone --------------------------------------------------------------------------------------------


class FakeStream:
    """Stands in for sounddevice.InputStream: feeds a recording to the callback in 100 ms blocks."""

    def __init__(self, signal, *, samplerate, blocksize, callback, **kw):
        self.signal, self.blocksize, self.callback = signal, blocksize, callback
        self.active = False
        self.done = __import__("threading").Event()

    def start(self):
        import threading

        self.active = True

        def feed():
            for i in range(0, len(self.signal), self.blocksize):
                block = self.signal[i:i + self.blocksize]
                self.callback(block.reshape(-1, 1), len(block), None, None)
            self.done.set()

        threading.Thread(target=feed, daemon=True).start()

    def stop(self):
        self.active = False

    def close(self):
        pass


class FakeSoundDevice:
    PortAudioError = RuntimeError

    def __init__(self, signals):
        self.signals = list(signals)
        self.streams = []

    def check_input_settings(self, **kw):
        return None

    def InputStream(self, **kw):  # noqa: N802 - sounddevice's name
        stream = FakeStream(self.signals.pop(0), **kw)
        self.streams.append(stream)
        return stream


def _wait_for_take(sd: FakeSoundDevice) -> None:
    """Press Enter once the take's stream (the next one opened) has delivered its whole recording."""
    import time

    index = len(sd.streams)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (len(sd.streams) > index and sd.streams[index].done.is_set()):
        time.sleep(0.01)
    time.sleep(0.3)  # and the last blocks were taken from the queue


def test_microphone_enrollment_streams_into_the_vault(tmp_path, speakers, encoder, monkeypatch):
    silence = np.zeros(2 * SR, np.float32)
    joe = speakers["joe"]
    sd = FakeSoundDevice([joe[0], silence, joe[1], joe[2]])  # the second take of prompt 2 is silent
    prompts = []

    def ask_line(prompt=""):
        prompts.append(prompt)
        if prompt == "":  # the Enter that stops a recording: after the whole take was heard
            _wait_for_take(sd)
        return ""

    puts = []
    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST_KDF) as vault:
        real_put_stream = Transaction.put_stream  # every write of the enrollment goes through its transaction
        monkeypatch.setattr(Transaction, "put_stream",
                            lambda tx, *a, **kw: puts.append(a[:2]) or real_put_stream(tx, *a, **kw))
        book = VoiceBook(vault)
        args = argparse.Namespace(device=None)
        out = open(tmp_path / "stderr.txt", "w")
        result = commands._enroll_from_mic(args, book, "mic", Consent.now("mic", "mic", "a test"), None, encoder,
                                           mic=capture.Microphone(sd=sd), ask_line=ask_line, out=out)
        out.close()
        assert result.clips == 3 and len(sd.streams) == 4
        # Each take was streamed into the vault as it came (put() goes through put_stream too: consent,
        # embedding); a kept take was then replaced by itself at the normal level, the silent one deleted.
        assert [p for p in puts if p[0] == "recording"] == [("recording", f"clip-{n}") for n in (1, 1, 2, 2, 2, 3, 3)]
        stored = book.recordings("mic")
        assert len(stored) == 3 and len(book.records("mic", "recording")) == 3
        assert abs(len(stored[0]) - len(joe[0])) < 0.2 * SR  # the whole take
        n = min(len(stored[0]), len(joe[0]))
        assert np.corrcoef(stored[0][:n], joe[0][:n])[0, 1] > 0.99  # the same take, only louder or softer
        report = quality.assess(stored[0])
        assert abs(report.speech_dbfs - quality.TARGET_SPEECH_DBFS) < 2.0
        assert book.embedding("mic").shape == (256,)
    log = (tmp_path / "stderr.txt").read_text()
    assert "level [" in log and quality.NO_SPEECH in log and "Sentence 3 of 3" in log


def test_microphone_enrollment_on_a_real_input_device(paced_device, vault_home, passfile, speakers, joe_files,
                                                      tmp_path, run_cli):
    """`reader voices enroll --mic` on a real PortAudio input stream: the paced PulseAudio device's monitor
    is the default source, so what paplay plays into its sink is what the microphone hears. Joe reads the
    three prompts (a silent take of the second one is refused and taken again); the enrolled voice then
    verifies against a recording of Joe that was not played, and not against Kokoro's kumo."""
    import os

    takes = [write_clip(tmp_path / f"take-{i}.wav", clip, SR, subtype="PCM_16")
             for i, clip in enumerate(speakers["joe"][:3])]
    child_tmp = tmp_path / "child-tmp"
    child_tmp.mkdir()
    env = {**os.environ, **paced_device.env, "READER_HOME": str(vault_home), "PYTHONIOENCODING": "utf-8",
           "TMPDIR": str(child_tmp)}
    child = MicCommand(["voices", "enroll", NAME, "--mic", "--no-preset", "--consent-by", "Åsa",
                        "--purpose", "reading letters aloud", "--passphrase-file", str(passfile)], env, paced_device)
    err = child.err

    def take(number: int, attempt: int, clip: Path | None) -> None:
        err.wait_for(lambda t: t.count(f"Sentence {number} of 3") >= attempt, f"prompt {number}, take {attempt}")
        child.take(clip)

    try:
        take(1, 1, takes[0])
        take(2, 1, None)  # nothing said: refused, deleted, asked again
        take(2, 2, takes[1])
        take(3, 1, takes[2])
        out = child.finish()
    finally:
        child.kill()
    assert child.returncode == 0, err.text[-3000:]
    assert f"Enrolled {NAME}: 3 recordings" in out
    assert "speech was found" in err.text and "That recording was deleted" in err.text

    with _open(vault_home) as vault:
        book = VoiceBook(vault)
        assert [r.meta["source"] for r in book.records(NAME, "recording")] == ["microphone"] * 3
        heard = book.recordings(NAME)
        embedding = book.embedding(NAME)
    for clip, played in zip(heard, speakers["joe"][:3]):
        assert len(clip) >= len(played)  # the whole take, with the silence around it
        assert quality.assess(clip).ok
    # What the microphone heard went into the vault only: nothing of it in READER_HOME or the temp folder.
    assert _plaintext_found([vault_home, child_tmp], heard[0], embedding) == []

    def verify(path: Path) -> dict:
        result = run_cli("voices", "verify", NAME, "--from", str(path), "--json", "--passphrase-file", str(passfile))
        assert result.returncode == 0, result.stderr.decode()
        return json.loads(result.stdout)

    assert verify(joe_files[3])["same_speaker"] is True
    kumo = write_clip(tmp_path / "kumo.wav", speakers["kumo"][0], SR, subtype="PCM_16")
    assert verify(kumo)["same_speaker"] is False


def test_microphone_failure_shreds_the_half_made_voice(tmp_path, encoder):
    silence = np.zeros(SR, np.float32)
    sd = FakeSoundDevice([silence] * commands.MAX_ATTEMPTS)

    def ask_line(prompt=""):
        if prompt == "":
            _wait_for_take(sd)
        return ""

    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST_KDF) as vault:
        book = VoiceBook(vault)
        with open(tmp_path / "err.txt", "w") as out, pytest.raises(quality.QualityError):
            commands._enroll_from_mic(argparse.Namespace(device=None), book, "mic", Consent.now("m", "m", "t"),
                                      None, encoder, mic=capture.Microphone(sd=sd), ask_line=ask_line, out=out)
        assert vault.list() == [] and vault.groups() == []


def test_meter_line():
    assert capture.meter_line(0.0, 1.0).startswith("level [" + "#" * capture.METER_WIDTH + "]")
    assert capture.meter_line(-120.0, 2.5) == "level [" + "." * capture.METER_WIDTH + "]  -99 dB   2.5 s"
    assert capture.meter_line(-30.0, 0.0, clipping=True).endswith("TOO LOUD")


# --- nothing in plaintext ------------------------------------------------------------------------------------


def test_no_plaintext_after_enrollment(vault_home, passfile, joe_files, speakers, tmp_path_factory, monkeypatch):
    tmp = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert tempfile.gettempdir() == str(tmp)
    args = _enroll_args(joe_files[:3], passfile, "--pack", "piper-joe-en", "--consent-audio", str(joe_files[3]))
    assert _run(args, vault_home) == 0
    assert _run(["voices", "use", NAME, "--passphrase-file", str(passfile)], vault_home) == 0
    with _open(vault_home) as vault:
        embedding = VoiceBook(vault).embedding(NAME)
        stored = VoiceBook(vault).recordings(NAME)[0]
    enrolled = features.to_16k(*soundfile.read(str(joe_files[0]), dtype="float32"))
    extra = {"enrolled float32": np.asarray(enrolled[SR: SR + 64], dtype="<f4").tobytes()}
    assert _plaintext_found([vault_home, tmp], stored, embedding, extra) == []


def _plaintext_found(roots: list[Path], stored: np.ndarray, embedding: np.ndarray,
                     extra: dict[str, bytes] | None = None) -> list[tuple[Path, str]]:
    """Files under `roots` that hold an audio file header, the speaker's name, a run of the stored
    recording's samples (16-bit, as stored, or float32) or of the embedding."""
    at = min(int(np.argmax(np.abs(stored))), len(stored) - 64)  # loud samples: a run of silence is no clue
    needles = {
        "fLaC": b"fLaC", "OggS": b"OggS",
        "name utf-8": NAME.encode("utf-8"), "name utf-16-le": NAME.encode("utf-16-le"),
        "name utf-16-be": NAME.encode("utf-16-be"),
        "stored pcm16": (np.round(stored[at: at + 64] * 32767)).astype("<i2").tobytes(),
        "stored float32": np.asarray(stored[at: at + 64], dtype="<f4").tobytes(),
        "embedding float32": np.asarray(embedding[:64], dtype="<f4").tobytes(),
        **(extra or {}),
    }
    found = []
    for root in roots:
        for path in Path(root).rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
                found.append((path, "RIFF/WAVE"))
            for what, needle in needles.items():
                if needle in data:
                    found.append((path, what))
    return found
