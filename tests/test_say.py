"""`reader say` (handler from reader.speech.commands): a WAV with --out, real playback through ALSA routed
to a file, and one clear sentence when there is no audio device."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from reader.settings import Settings
from reader.speech.commands import register
from tests.conftest import ROOT

TEXT = "Hello, this is the reader speaking."
SHARED_ASOUNDRC = ROOT.parent / "shared" / "audio" / "asoundrc"
ASOUNDRC = """pcm.!default {
    type file
    slave.pcm "null"
    file "%s"
    format "raw"
}
pcm.null {
    type null
}
"""


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="reader")
    handlers = register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    args.handler = handlers[args.command]
    return args


def _run(tmp_path, *argv: str, home=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home or tmp_path), "READER_HOME": str(tmp_path / "reader_home"),
           "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "reader", *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_say_out_writes_a_wav_of_plausible_length(tmp_path, reader_home, capsys):
    out = tmp_path / "hello.wav"
    args = _parse("say", TEXT, "--out", str(out))
    assert args.handler(args, Settings(home=reader_home)) == 0
    with wave.open(str(out)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        assert w.getframerate() == 22_050  # English text goes to the fast pack
        seconds = w.getnframes() / w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert 0.04 * len(TEXT) <= seconds <= 0.2 * len(TEXT)
    assert np.abs(samples).max() > 3000
    assert f"Wrote {out}" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hello.wav")]  # no temp file left


def test_say_with_chinese_goes_to_the_rich_pack(tmp_path, reader_home):
    out = tmp_path / "zh.wav"
    args = _parse("say", "你好，世界。", "--out", str(out), "--style", "快一点")
    assert args.handler(args, Settings(home=reader_home)) == 0
    with wave.open(str(out)) as w:
        assert w.getframerate() == 24_000
        assert 0.4 <= w.getnframes() / w.getframerate() <= 4.0


def test_say_unknown_pack_is_a_clear_error(reader_home):
    from reader.speech.errors import PackError

    args = _parse("say", TEXT, "--pack", "nope", "--out", "x.wav")
    with pytest.raises(PackError, match="no voice pack named nope"):
        args.handler(args, Settings(home=reader_home))


def test_say_without_a_device_gives_one_clear_sentence(tmp_path):
    # A HOME without .asoundrc on a machine without a sound card: PortAudio finds no output device.
    result = _run(tmp_path, "say", TEXT)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("reader: ")
    assert "--out FILE.wav" in lines[0]
    assert "Traceback" not in result.stderr


def test_say_plays_through_the_default_device(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    raw = tmp_path / "played.raw"
    template = SHARED_ASOUNDRC.read_text() if SHARED_ASOUNDRC.exists() else ASOUNDRC % "OUTPUT.raw"
    (home / ".asoundrc").write_text(template.replace("OUTPUT.raw", str(raw)))
    result = _run(tmp_path, "say", TEXT, home=home)
    assert result.returncode == 0, result.stderr
    # PortAudio opened the stream as float32 at the fast pack's rate; ALSA wrote the frames as they came.
    # The file device has no clock, so the callback stream also wrote runs of silence while it waited for
    # synthesis: count the samples that carry sound.
    played = np.fromfile(raw, dtype="<f4")
    sound = played[played != 0]
    seconds = len(sound) / 22_050
    assert 0.04 * len(TEXT) <= seconds <= 0.2 * len(TEXT), seconds
    assert np.isfinite(played).all() and 0.1 < np.abs(played).max() < 1.0


def test_packs_list_and_verify(capsys, reader_home):
    args = _parse("packs", "list")
    assert args.handler(args, Settings(home=reader_home)) == 0
    out = capsys.readouterr().out
    assert "kokoro-int8" in out and "piper-joe-en" in out
    assert "Japanese accent" in out and "cannot clone" in out
    args = _parse("packs", "verify", "piper-joe-en")
    assert args.handler(args, Settings(home=reader_home)) == 0
    assert "piper-joe-en: ok" in capsys.readouterr().out


def test_packs_verify_names_the_problem_and_exits_2(tmp_path, capsys, monkeypatch, reader_home):
    from models.tiny_packs import make_tiny_pack

    pack = make_tiny_pack(tmp_path / "packs" / "tiny-style")
    (pack / "vocoder.onnx").unlink()
    monkeypatch.setenv("READER_PACKS", str(tmp_path / "packs"))
    args = _parse("packs", "verify")
    assert args.handler(args, Settings(home=reader_home)) == 2
    out = capsys.readouterr()
    assert "tiny-style: FAILED" in out.out and "missing file vocoder.onnx" in out.out
