"""The dialect archive end to end: add, list, exports, removal, user errors, no plaintext on disk, and playback
on ALSA's file device (in a fresh interpreter: `python -m tests.test_archive SCENARIO JSON`)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from reader.archive import ArchiveError
from reader.archive.commands import CONFIRM_PLAINTEXT, register
from reader.archive.dialects import DIALECTS, choose_dialect, find_dialect
from reader.archive.records import AUDIO_KIND, FIELD_NAMES, FIELDS, META_KIND, ArchiveEntry, is_archive_group
from reader.archive.store import NO_CONSENT, ArchiveStore, encode_flac
from reader.settings import Settings
from reader.vault.crypto import KdfParams
from reader.vault.store import Vault
from tests.audio_helpers import paced_device  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent

# Small Argon2id cost so the suite stays fast (the vault's own tests cover the real cost).
FAST = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
PASS = "奶奶的声音 correct horse"
BUNDLE_PASS = "bundle passphrase 2024"
RATE = 44_100
SECONDS = 1.5
SPEAKER = "王秀英奶奶"
TRANSCRIPT = "我们那个时候过年要包汤圆，\n一家人坐在一起搓汤圆。"
ROMANIZATION = "wǒmen nàge shíhou guònián yào bāo tāngyuán"
TRANSLATION = "In those days we made tangyuan for the New Year."
REGION = "四川省成都市金牛区"
TOPIC = "过年包汤圆"
CONSENT_BY = "王秀英（本人）"
CONSENT_PURPOSE = "留给孙辈听，家里人可以听"
# Whole file headers, not bare 4-byte magics that random ciphertext can hold by chance: a FLAC stream's
# magic and its first metadata block header (STREAMINFO, 34 bytes); a WAV's RIFF ... WAVE.
FLAC_HEADER = re.compile(rb"fLaC[\x00\x80]\x00\x00\x22")
WAV_HEADER = re.compile(rb"RIFF.{4}WAVE", re.DOTALL)


# ------------------------------------------------------------------------------------------ fixtures


def stereo_signal(seconds: float = SECONDS, rate: int = RATE) -> np.ndarray:
    """int16 stereo: a rising chirp on the left, two tones on the right, so swapped or mixed channels show."""
    t = np.arange(round(seconds * rate)) / rate
    left = 0.5 * np.cos(2 * np.pi * (200 * t + (3000 - 200) * t * t / (2 * seconds)))
    right = 0.3 * np.cos(2 * np.pi * 440 * t) + 0.2 * np.cos(2 * np.pi * 1250 * t)
    return np.round(np.stack([left, right], axis=1) * 32767).astype(np.int16)


@pytest.fixture
def source(tmp_path) -> tuple[Path, np.ndarray]:
    """The family's recording: a 44.1 kHz stereo 16-bit WAV, alone in its folder."""
    folder = tmp_path / "recordings-from-phone"
    folder.mkdir()
    samples = stereo_signal()
    path = folder / "奶奶-过年.wav"
    sf.write(path, samples, RATE, subtype="PCM_16")
    return path, samples


@pytest.fixture
def passfile(tmp_path) -> Path:
    path = tmp_path / "secrets" / "pass"
    path.parent.mkdir()
    path.write_text(PASS + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def settings(reader_home, passfile) -> Settings:
    Vault.create(reader_home / "vault", PASS, kdf_params=FAST).lock()
    return Settings.load(reader_home)


@pytest.fixture
def cli(settings, passfile):
    """Run `reader archive ...` through the handlers, as reader/cli.py will: (exit code, stdout)."""
    parser = argparse.ArgumentParser(prog="reader")
    sub = parser.add_subparsers(dest="command")
    handlers = register(sub)

    def run(*argv: str, passphrase: bool = True) -> int:
        args = parser.parse_args(["archive", *argv, *(["--passphrase-file", str(passfile)] if passphrase else [])])
        return handlers[args.command](args, settings)

    return run


def open_store(settings: Settings) -> tuple[Vault, ArchiveStore]:
    vault = Vault.open(settings.home / "vault", PASS)
    return vault, ArchiveStore(vault)


def add_full(cli, path: Path, **extra: str) -> int:
    options = {"--dialect": "四川话", "--region": REGION, "--speaker": SPEAKER, "--date": "2024-02-10",
               "--transcript": TRANSCRIPT, "--romanization": ROMANIZATION, "--translation": TRANSLATION,
               "--topic": TOPIC, "--consent-by": CONSENT_BY, "--consent-purpose": CONSENT_PURPOSE, **extra}
    argv = [str(path)]
    for key, value in options.items():
        argv += [key, value]
    return cli("add", *argv)


def listed(cli, capsys, *argv: str) -> list[dict]:
    capsys.readouterr()
    assert cli("list", "--json", *argv) == 0
    return json.loads(capsys.readouterr().out)


def expected_mono(samples: np.ndarray) -> np.ndarray:
    """What the Player should receive: the channels averaged, as float32 in -1..1."""
    return (samples.astype(np.float64) / 32768.0).mean(axis=1).astype(np.float32)


# ------------------------------------------------------------------------------------------ dialects


def test_dialect_table_names_and_lookup():
    chinese = ["普通话", "粤语", "上海话", "四川话", "闽南语", "东北话", "山东话", "河南话", "湖北话", "湖南话",
               "江西话", "甘肃话", "贵州话", "宁夏话", "山西话", "陕西话", "天津话", "云南话"]
    assert [d.chinese for d in DIALECTS] == chinese
    assert len({d.code for d in DIALECTS}) == len(DIALECTS)
    for dialect in DIALECTS:
        assert re.fullmatch(r"[a-z]+", dialect.code)
        for name in (dialect.code, dialect.code.upper(), dialect.english, dialect.english.swapcase(),
                     dialect.chinese, f"  {dialect.english.lower()}  "):
            assert find_dialect(name) is dialect, name
    assert find_dialect("Hokkien").code == find_dialect("min-nan").code == "minnan"
    assert find_dialect("Shanxi").code == "shanxi" and find_dialect("SHAANXI").code == "shaanxi"
    assert find_dialect("Sichuan dialect").code == "sichuanese" and find_dialect("四川").code == "sichuanese"
    free = choose_dialect("  客家话 (梅县) ")
    assert (free.code, free.name, free.chinese) == (None, "客家话 (梅县)", None)
    known = choose_dialect("cantonese")
    assert (known.code, known.name, known.chinese) == ("cantonese", "Cantonese", "粤语")
    with pytest.raises(ArchiveError, match="--dialect"):
        choose_dialect("  ")


def test_schema_file_documents_every_field():
    schema = (ROOT / "reader" / "archive" / "SCHEMA.md").read_text(encoding="utf-8")
    assert FIELD_NAMES == tuple(f.name for f in ArchiveEntry.__dataclass_fields__.values())
    for field in FIELDS:
        row = next((line for line in schema.splitlines() if line.startswith(f"| `{field.name}` |")), None)
        assert row is not None, f"SCHEMA.md has no row for {field.name}"
        assert f"| {field.type} |" in row
        assert json.dumps(field.example, ensure_ascii=False) in row
    for dialect in DIALECTS:
        assert f"| `{dialect.code}` | {dialect.english} | {dialect.chinese} |" in schema


# ------------------------------------------------------------------------------------------ add and list


def test_add_list_filter_and_metadata_round_trip(cli, capsys, source, settings):
    path, samples = source
    assert add_full(cli, path) == 0
    out = capsys.readouterr().out
    assert "Sichuanese 四川话" in out and "still on disk unencrypted" in out
    assert add_full(cli, path, **{"--dialect": "Cantonese", "--date": "2023-12-01", "--speaker": "爷爷"}) == 0
    assert cli("add", str(path), "--dialect", "客家话", "--consent-by", "外婆") == 0

    everything = listed(cli, capsys)
    assert [e["dialect_code"] for e in everything] == ["cantonese", "sichuanese", None]  # by recording date
    by_code = listed(cli, capsys, "--dialect", "sichuanese")
    assert [e["id"] for e in by_code] == [everything[1]["id"]]
    assert listed(cli, capsys, "--dialect", "SICHUANESE") == by_code
    assert listed(cli, capsys, "--dialect", "Sichuanese") == by_code
    assert listed(cli, capsys, "--dialect", "四川话") == by_code
    assert [e["dialect"] for e in listed(cli, capsys, "--dialect", "粤语")] == ["Cantonese"]
    assert [e["dialect"] for e in listed(cli, capsys, "--dialect", "客家话")] == ["客家话"]
    assert listed(cli, capsys, "--dialect", "Mandarin") == []

    entry = by_code[0]
    assert re.fullmatch(r"a[0-9a-f]{6}", entry["id"])
    assert list(entry) == list(FIELD_NAMES)
    given = {"date": "2024-02-10", "dialect_code": "sichuanese", "dialect": "Sichuanese", "dialect_zh": "四川话",
             "region": REGION, "speaker": SPEAKER, "speaker_voice": None, "topic": TOPIC,
             "transcript": TRANSCRIPT, "romanization": ROMANIZATION, "translation": TRANSLATION,
             "consent_by": CONSENT_BY, "consent_purpose": CONSENT_PURPOSE, "duration_seconds": SECONDS,
             "frames": len(samples), "sample_rate": RATE, "channels": 2, "bits_per_sample": 16,
             "original_file": path.name, "original_format": "WAV PCM_16",
             "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "schema_version": 1}
    assert {k: entry[k] for k in given} == given
    free = everything[2]
    assert (free["dialect_code"], free["dialect_zh"], free["speaker"], free["transcript"]) == (None, None, None, None)

    vault, store = open_store(settings)
    with vault:
        stored = store.entry(entry["id"].upper() + " ")  # ids are taken as typed
        assert stored.to_json() == entry
        assert ArchiveEntry.from_bytes(stored.to_bytes()) == stored
        assert hashlib.sha256(store.flac(stored)).hexdigest() == entry["flac_sha256"]
        # Two records in a group of the entry's own; the index says nothing more about them.
        infos = vault.list(group=stored.group)
        assert sorted(i.kind for i in infos) == [AUDIO_KIND, META_KIND]
        assert {i.name for i in infos} == {stored.id}
    capsys.readouterr()
    assert cli("list") == 0
    table = capsys.readouterr().out
    assert entry["id"] in table and "四川话" in table and SPEAKER in table and "3 recording(s)." in table


def test_audio_is_kept_losslessly_with_its_channels(cli, source, settings):
    path, samples = source
    assert cli("add", str(path), "--dialect", "mandarin", "--consent-by", "me") == 0
    vault, store = open_store(settings)
    with vault:
        entry = store.entries()[0]
        flac = store.flac(entry)
        back = store.read_samples(entry, dtype="int16")
    assert flac.startswith(b"fLaC") and len(flac) < samples.nbytes  # really FLAC, and compressed
    info = sf.info(io.BytesIO(flac))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", RATE, 2)
    assert back.shape == samples.shape and np.array_equal(back, samples)


def test_24_bit_and_float_originals(tmp_path):
    rate = 48_000
    deep = (np.random.default_rng(7).integers(-2**23, 2**23, size=(rate // 2, 1)).astype(np.int32) << 8)
    sf.write(tmp_path / "deep.flac", deep, rate, subtype="PCM_24")
    encoded = encode_flac(tmp_path / "deep.flac")
    assert (encoded.bits_per_sample, encoded.channels, encoded.sample_rate) == (24, 1, rate)
    back, _ = sf.read(io.BytesIO(encoded.flac), dtype="int32", always_2d=True)
    assert np.array_equal(back, deep)
    loud = np.linspace(-1.5, 1.5, 4800, dtype=np.float32).reshape(-1, 1)  # beyond full scale on both ends
    sf.write(tmp_path / "float.wav", loud, rate, subtype="FLOAT")
    encoded = encode_flac(tmp_path / "float.wav")
    assert (encoded.bits_per_sample, encoded.original_format) == (24, "WAV FLOAT")
    back, _ = sf.read(io.BytesIO(encoded.flac), dtype="float64", always_2d=True)
    assert np.allclose(back, np.clip(loud, -1, 1), atol=2 ** -22)  # clipped, not wrapped around


def test_speaker_that_is_a_voice_in_the_vault(cli, capsys, source, settings):
    from reader.archive.store import VOICE_GROUP_PREFIX
    from reader.voices.enroll import GROUP_PREFIX

    assert VOICE_GROUP_PREFIX == GROUP_PREFIX
    vault = Vault.open(settings.home / "vault", PASS)
    with vault:
        vault.put("consent", "consent", b"{}", group=f"{GROUP_PREFIX}Grandma")
    assert cli("add", str(source[0]), "--dialect", "shanghainese", "--speaker", "grandma", "--consent-by", "her") == 0
    assert "the voice 'Grandma' in the vault" in capsys.readouterr().out
    assert cli("add", str(source[0]), "--dialect", "shanghainese", "--speaker", "Grandpa", "--consent-by", "him") == 0
    plain, voiced = sorted(listed(cli, capsys), key=lambda e: e["speaker_voice"] is not None)
    assert (voiced["speaker"], voiced["speaker_voice"]) == ("grandma", "Grandma")
    assert (plain["speaker"], plain["speaker_voice"]) == ("Grandpa", None)
    vault, store = open_store(settings)
    with vault:
        assert store.voices() == ["Grandma"]  # the archive's own groups are not voices
        assert sorted(g for g in vault.groups() if is_archive_group(g)) == sorted(
            f"archive:{e['id']}" for e in (voiced, plain))


def test_no_plaintext_on_disk_after_add(cli, source, settings, monkeypatch, tmp_path):
    """After `archive add`, nothing under READER_HOME or the temp folder holds the transcript, the speaker's
    name or audio in the clear, and nothing was written beside the original."""
    scratch = tmp_path / "tmp-scan"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert tempfile.gettempdir() == str(scratch)
    path, _ = source
    assert add_full(cli, path) == 0
    assert cli("list") == 0

    needles = {"transcript": TRANSCRIPT.encode("utf-8"), "speaker": SPEAKER.encode("utf-8"),
               "region": REGION.encode("utf-8")}
    scanned = 0
    for folder in (settings.home, Path(tempfile.gettempdir())):
        for file in folder.rglob("*"):
            assert SPEAKER not in file.name and "过年" not in file.name, file
            if not file.is_file():
                continue
            data = file.read_bytes()
            scanned += len(data)
            for what, needle in needles.items():
                assert needle not in data, f"the {what} is in plaintext in {file}"
            assert not FLAC_HEADER.search(data), f"FLAC audio in plaintext in {file}"
            assert not WAV_HEADER.search(data), f"a WAV file in plaintext in {file}"
    assert scanned > len(encode_flac(path).flac)  # the vault, audio included, was really scanned
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def listed_id(settings: Settings) -> str:
    vault, store = open_store(settings)
    with vault:
        return store.entries()[0].id


# ------------------------------------------------------------------------------------------ errors


def test_consent_is_required(cli, source, settings, monkeypatch):
    # Refused before the passphrase is asked for: a prompt here would be a failure.
    monkeypatch.setattr("getpass.getpass", lambda *a, **k: pytest.fail("asked for a passphrase"))
    for consent in ([], ["--consent-by", "   "]):
        with pytest.raises(ArchiveError) as caught:
            cli("add", str(source[0]), "--dialect", "mandarin", *consent, passphrase=False)
        assert caught.value.message == NO_CONSENT
        assert caught.value.message == "A recording needs consent: say who agreed with --consent-by."
    vault, store = open_store(settings)
    with vault:
        assert vault.list() == [] and store.entries() == []


def test_unknown_id(cli, source):
    message = "There is no recording a1b2c3 in the archive; `reader archive list` shows them."
    for argv in (("play", "a1b2c3"), ("remove", "a1b2c3"), ("play", "a1b2c3", "--out", "x.wav")):
        with pytest.raises(ArchiveError) as caught:
            cli(*argv)
        assert caught.value.message == message
    assert cli("add", str(source[0]), "--dialect", "mandarin", "--consent-by", "me") == 0
    with pytest.raises(ArchiveError, match="no recording a0000000 "):
        cli("play", "a0000000")


def test_bad_audio_files(cli, tmp_path, settings):
    text = tmp_path / "notes.wav"
    text.write_text("这不是录音 not audio at all\n" * 50, encoding="utf-8")
    with pytest.raises(ArchiveError) as caught:
        cli("add", str(text), "--dialect", "mandarin", "--consent-by", "me")
    assert caught.value.message == f"The file {text} is not an audio file soundfile can read (WAV, FLAC or OGG)."
    with pytest.raises(ArchiveError, match="does not exist"):
        cli("add", str(tmp_path / "missing.wav"), "--dialect", "mandarin", "--consent-by", "me")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype=np.int16), RATE, subtype="PCM_16")
    with pytest.raises(ArchiveError, match="holds no audio"):
        cli("add", str(empty), "--dialect", "mandarin", "--consent-by", "me")
    vault, store = open_store(settings)
    with vault:
        assert vault.list() == []


def test_bad_dates_and_other_input(cli, source):
    for date, pattern in (("10/02/2024", "YYYY-MM-DD"), ("2024-02-30", "YYYY-MM-DD"), ("2999-01-01", "future")):
        with pytest.raises(ArchiveError, match=pattern):
            cli("add", str(source[0]), "--dialect", "mandarin", "--consent-by", "me", "--date", date)
    with pytest.raises(ArchiveError, match="--dialect"):
        cli("add", str(source[0]), "--consent-by", "me")
    with pytest.raises(ArchiveError, match="one line"):
        cli("add", str(source[0]), "--dialect", "mandarin", "--consent-by", "me\nand you")


def test_transcript_file(cli, capsys, source, tmp_path):
    transcript = tmp_path / "transcript.txt"
    transcript.write_bytes("\ufeff".encode() + TRANSCRIPT.encode("utf-8") + b"\n")
    assert cli("add", str(source[0]), "--dialect", "hunan", "--consent-by", "me",
               "--transcript-file", str(transcript)) == 0
    assert listed(cli, capsys)[0]["transcript"] == TRANSCRIPT
    transcript.write_bytes("旧".encode("gbk"))
    with pytest.raises(ArchiveError, match="not UTF-8"):
        cli("add", str(source[0]), "--dialect", "hunan", "--consent-by", "me", "--transcript-file", str(transcript))


# ------------------------------------------------------------------------------------------ play --out


def test_play_out_writes_the_recording(cli, source, settings, tmp_path):
    path, samples = source
    assert cli("add", str(path), "--dialect", "tianjin", "--consent-by", "me") == 0
    entry_id = listed_id(settings)
    assert cli("play", entry_id, "--out", str(tmp_path / "out.wav")) == 0
    back, rate = sf.read(tmp_path / "out.wav", dtype="int16", always_2d=True)
    assert rate == RATE and np.array_equal(back, samples)
    assert cli("play", entry_id, "--out", str(tmp_path / "out.flac")) == 0
    vault, store = open_store(settings)
    with vault:
        entry = store.entry(entry_id)
    assert hashlib.sha256((tmp_path / "out.flac").read_bytes()).hexdigest() == entry.flac_sha256
    assert cli("play", entry_id, "--start", "1.0", "--out", str(tmp_path / "late.wav")) == 0
    late, _ = sf.read(tmp_path / "late.wav", dtype="int16", always_2d=True)
    assert np.array_equal(late, samples[RATE:])
    with pytest.raises(ArchiveError, match="long"):
        cli("play", entry_id, "--start", "9")
    with pytest.raises(ArchiveError, match=r"\.wav or \.flac"):
        cli("play", entry_id, "--out", str(tmp_path / "out.mp3"))


# ------------------------------------------------------------------------------------------ export


def test_plaintext_export_asks_first(cli, capsys, source, settings, tmp_path, monkeypatch):
    path, samples = source
    assert add_full(cli, path) == 0
    assert add_full(cli, path, **{"--dialect": "Minnan", "--transcript": "食饱未？\n\"引号\", 逗号"}) == 0
    target = tmp_path / "usb" / "archive"

    prompts: list[str] = []

    def answer(text: str):
        def ask(prompt: str) -> str:
            prompts.append(prompt)
            return text
        return ask

    monkeypatch.setattr("builtins.input", answer("no"))
    assert cli("export", str(target), "--plaintext") == 1
    assert prompts == [CONFIRM_PLAINTEXT.format(dir=target)]
    assert prompts[0] == f"This writes the recordings and names unencrypted to {target}. Type yes to continue: "
    assert not target.exists() and not target.parent.exists()

    def no_stdin(prompt: str) -> str:
        raise EOFError
    monkeypatch.setattr("builtins.input", no_stdin)
    assert cli("export", str(target), "--plaintext") == 1 and not target.parent.exists()

    monkeypatch.setattr("builtins.input", answer("yes"))
    assert cli("export", str(target), "--plaintext") == 0
    entries = listed(cli, capsys)
    assert sorted(p.name for p in target.iterdir()) == ["README.txt", "metadata.csv", "metadata.json", "recordings"]
    assert sorted(p.name for p in (target / "recordings").iterdir()) == sorted(f"{e['id']}.flac" for e in entries)
    for entry in entries:
        flac = (target / "recordings" / f"{entry['id']}.flac").read_bytes()
        assert hashlib.sha256(flac).hexdigest() == entry["flac_sha256"]
        back, rate = sf.read(io.BytesIO(flac), dtype="int16", always_2d=True)
        assert rate == RATE and np.array_equal(back, samples)

    assert json.loads((target / "metadata.json").read_text(encoding="utf-8")) == entries
    raw = (target / "metadata.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(FIELD_NAMES)
    assert len(rows) == 1 + len(entries)
    for row, entry in zip(rows[1:], entries):
        assert row == ["" if entry[name] is None else str(entry[name]) for name in FIELD_NAMES]
    minnan = next(row for row in rows if row[FIELD_NAMES.index("dialect_code")] == "minnan")
    assert minnan[FIELD_NAMES.index("transcript")] == "食饱未？\n\"引号\", 逗号"  # one cell, over two lines
    readme = (target / "README.txt").read_text(encoding="utf-8")
    assert all(name in readme for name in FIELD_NAMES)

    # --yes writes without asking; --dialect exports one dialect.
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked despite --yes"))
    only = tmp_path / "only-minnan"
    assert cli("export", str(only), "--plaintext", "--yes", "--dialect", "hokkien") == 0
    exported = json.loads((only / "metadata.json").read_text(encoding="utf-8"))
    assert [e["dialect_code"] for e in exported] == ["minnan"]
    assert [p.name for p in (only / "recordings").iterdir()] == [f"{exported[0]['id']}.flac"]


def test_encrypted_bundle_holds_no_plaintext_and_imports_into_a_fresh_vault(cli, capsys, source, settings,
                                                                            tmp_path):
    path, samples = source
    assert add_full(cli, path) == 0
    assert add_full(cli, path, **{"--dialect": "yunnan"}) == 0
    entries = listed(cli, capsys)
    bundle_pass = tmp_path / "secrets" / "bundle"
    bundle_pass.write_text(BUNDLE_PASS + "\n", encoding="utf-8")
    bundle_pass.chmod(0o600)
    target = tmp_path / "usb"

    assert cli("export", str(target), "--export-passphrase-file", str(bundle_pass)) == 0
    out = capsys.readouterr().out
    [bundle] = list(target.iterdir())  # the staging vault is gone; nothing else was written
    assert re.fullmatch(r"archive-\d{4}-\d{2}-\d{2}\.rvbundle", bundle.name)
    assert f"reader vault import {bundle}" in out
    data = bundle.read_bytes()
    assert len(data) > samples.nbytes // 2  # the audio is in there, encrypted
    for needle in (TRANSCRIPT, SPEAKER, REGION, CONSENT_BY, "四川话", "Sichuanese", entries[0]["id"]):
        assert needle.encode("utf-8") not in data, needle
    assert not FLAC_HEADER.search(data) and not WAV_HEADER.search(data)

    with pytest.raises(ArchiveError, match="outside the vault folder"):
        cli("export", str(settings.home / "vault" / "x"), "--export-passphrase-file", str(bundle_pass))
    with pytest.raises(ArchiveError, match="outside the vault folder"):
        cli("export", str(settings.home / "vault"), "--plaintext", "--yes")
    assert not (settings.home / "vault" / "x").exists() and not (settings.home / "vault" / "recordings").exists()

    # A second export the same day does not replace the first.
    assert cli("export", str(target), "--export-passphrase-file", str(bundle_pass), "--dialect", "云南话") == 0
    second = sorted(set(target.iterdir()) - {bundle})
    assert [p.name for p in second] == [bundle.name.replace(".rvbundle", "-2.rvbundle")]

    fresh = Vault.create(tmp_path / "elsewhere" / "vault", "another passphrase", kdf_params=FAST)
    with fresh:
        report = fresh.import_(bundle, BUNDLE_PASS)
        assert len(report.added) == 4  # two entries, two records each
        store = ArchiveStore(fresh)
        assert [e.to_json() for e in store.entries()] == entries
        for entry in store.entries():
            assert np.array_equal(store.read_samples(entry, dtype="int16"), samples)
    other = Vault.create(tmp_path / "third" / "vault", "another passphrase", kdf_params=FAST)
    with other:
        other.import_(second[0], BUNDLE_PASS)
        assert [e.dialect_code for e in ArchiveStore(other).entries()] == ["yunnan"]


# ------------------------------------------------------------------------------------------ remove


def test_remove_deletes_both_records(cli, capsys, source, settings):
    path, _ = source
    assert add_full(cli, path) == 0
    assert add_full(cli, path, **{"--dialect": "gansu"}) == 0
    first, second = listed(cli, capsys)
    vault = Vault.open(settings.home / "vault", PASS)
    with vault:
        files_before = set((vault.folder / "records").iterdir())
        assert len(files_before) == 4
    assert cli("remove", first["id"]) == 0
    assert "key is destroyed" in capsys.readouterr().out
    vault, store = open_store(settings)
    with vault:
        left = vault.list()
        assert {i.name for i in left} == {second["id"]} and len(left) == 2
        assert f"archive:{first['id']}" not in vault.groups()
        assert len(set((vault.folder / "records").iterdir())) == 2
        assert [e.id for e in store.entries()] == [second["id"]]
    with pytest.raises(ArchiveError, match="There is no recording"):
        cli("remove", first["id"])


def test_remove_cleans_up_audio_left_without_its_description(settings, source):
    vault, store = open_store(settings)
    with vault:
        vault.put(AUDIO_KIND, "a0badc0", b"half an add", group="archive:a0badc0")
        assert store.entries() == []
        assert store.remove("a0badc0") is None
        assert vault.list() == []


def test_a_damaged_description_is_named_and_the_others_stay_listed(cli, capsys, source, settings, tmp_path):
    path, _ = source
    records = settings.home / "vault" / "records"
    assert add_full(cli, path) == 0
    before = set(records.iterdir())
    assert add_full(cli, path, **{"--dialect": "gansu"}) == 0
    audio_file, meta_file = sorted(set(records.iterdir()) - before, key=lambda p: -p.stat().st_size)
    data = bytearray(meta_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    meta_file.write_bytes(bytes(data))
    vault, _ = open_store(settings)
    with vault:
        ids = sorted(info.name for info in vault.list(kind=META_KIND))
    capsys.readouterr()

    assert cli("list") == 1  # like ls: what can be read is listed, and the status says not all could
    out, err = capsys.readouterr()
    good = [line.split()[0] for line in out.splitlines()[1:-1]]
    assert len(good) == 1 and "1 recording(s)." in out
    (bad,) = set(ids) - set(good)
    assert f"The description of recording {bad} is damaged" in err and "the others are fine" in err
    assert cli("list", "--json") == 1
    assert [e["id"] for e in json.loads(capsys.readouterr().out)] == good

    assert cli("export", str(tmp_path / "out"), "--plaintext", "--yes") == 1
    out, err = capsys.readouterr()
    assert "Wrote 1 recording(s)" in out and bad in err and "The export holds the others." in err
    assert [e["id"] for e in json.loads((tmp_path / "out" / "metadata.json").read_text())] == good

    assert cli("remove", bad) == 0  # the damaged entry and its audio go, with their key
    assert audio_file.exists() is False and meta_file.exists() is False
    assert cli("list") == 0
    assert "damaged" not in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ playback


def run_scenario(name: str, env: dict[str, str], **args) -> dict:
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "tests.test_archive", name, json.dumps(args)],
                            capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=60)
    assert result.returncode == 0, f"scenario {name} exited {result.returncode}:\n{result.stderr[-3000:]}"
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"scenario {name} printed no result:\n{result.stdout[-1000:]}\n{result.stderr[-3000:]}"
    return json.loads(lines[-1])


def play_archived(scenario: str, settings: Settings, path: Path, tmp_path: Path, dialect: str) -> tuple[dict, Path]:
    """Archive `path`, then run `scenario` on it in a child whose ALSA default writes to a raw file: the
    scenario's result and that file."""
    from tests.audio_helpers import file_device_env

    vault, store = open_store(settings)
    with vault:
        entry = store.add(path, dialect=dialect, consent_by="me")
    env, raw = file_device_env(tmp_path / "device")
    return run_scenario(scenario, {**env, "READER_HOME": str(settings.home)}, id=entry.id), raw


def played_pieces(raw: Path, rate: int, expected: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Each stretch of sound that reached the device, and where it sits in `expected` (both at `rate`)."""
    from tests.audio_helpers import best_offset, sound_pieces

    played = np.fromfile(raw, dtype="<f4")
    pieces = sound_pieces(played, rate)
    assert pieces, "nothing but zeros reached the device"
    return [(played[start:end], best_offset(expected, played[start:end])) for start, end in pieces]


def assert_piece(piece: np.ndarray, offset: int, expected: np.ndarray, rate: int, start_seconds: float) -> None:
    """`piece` is `expected` from `start_seconds` to its end."""
    from tests.audio_helpers import correlation

    # The ends are judged at -60 dBFS, so a quiet first or last sample may fall outside the piece.
    tolerance = round(0.001 * rate)
    assert abs(offset - start_seconds * rate) <= tolerance, f"the sound began at {offset / rate:.3f} s"
    assert abs(offset + len(piece) - len(expected)) <= tolerance, "the recording was not played to its end"
    reference = expected[offset:offset + len(piece)]
    assert correlation(piece[:len(reference)], reference) > 0.99
    if rate == RATE:  # no resampling on the way: the samples arrive as decoded
        assert np.allclose(piece[:len(reference)], reference, atol=1e-6)


def at_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return samples
    import soxr

    return soxr.resample(samples, RATE, rate).astype(np.float32)


def test_cli_play_sends_the_recording_to_the_device(cli, source, settings, tmp_path, passfile):
    from tests.audio_helpers import file_device_env

    path, samples = source
    assert cli("add", str(path), "--dialect", "ningxia", "--consent-by", "me") == 0
    env, raw = file_device_env(tmp_path / "device")
    result = run_scenario("cli_play", {**env, "READER_HOME": str(settings.home)},
                          id=listed_id(settings), passfile=str(passfile))
    assert result["rc"] == 0 and "Ctrl-C stops" in result["out"]
    rate = result["rate"]
    expected = at_rate(expected_mono(samples), rate)
    [(piece, offset)] = played_pieces(raw, rate, expected)
    assert_piece(piece, offset, expected, rate, 0.0)


def test_archive_playback_pause_seek_stop(source, settings, tmp_path):
    path, samples = source
    r, raw = play_archived("controls", settings, path, tmp_path, "guizhou")
    assert r["paused_at_start"] == 0.0 and r["playing_at_start"] is False
    assert r["after_seek"] == pytest.approx(1.0, abs=0.002)
    assert r["held"] == pytest.approx(1.0, abs=0.002), "the position moved while paused"
    assert r["finished"] and r["at_end"] == pytest.approx(SECONDS, abs=0.05)
    assert r["after_stop"] == pytest.approx(r["at_end"], abs=0.05) and r["playing_after_stop"] is False
    assert r["sought_after_stop"] == pytest.approx(0.25, abs=0.002)
    assert (r["paused_after_stop_seek"], r["playing_after_stop_seek"]) == (True, False)
    assert r["finished_again"] and r["end_again"] == pytest.approx(SECONDS, abs=0.05)
    assert r["finished_flag"] and r["finished_third"]

    # What reached the device: from the seek target 1.0 s to the end, from 0.25 s to the end, then all of it.
    rate = r["rate"]
    expected = at_rate(expected_mono(samples), rate)
    pieces = played_pieces(raw, rate, expected)
    assert len(pieces) == 3, [(len(p), o) for p, o in pieces]
    assert_piece(*pieces[0], expected, rate, 1.0)
    assert_piece(*pieces[1], expected, rate, 0.25)
    assert_piece(*pieces[2], expected, rate, 0.0)


def test_archive_playback_on_a_shared_player(source, settings, tmp_path):
    """The TUI hands its reading Player over: the recording plays on it, and close() leaves it open."""
    path, samples = source
    r, raw = play_archived("shared", settings, path, tmp_path, "hubei")
    assert r["done"] and r["owner_told"] and r["at_end"] == pytest.approx(SECONDS, abs=0.05)
    assert r["still_open"]
    rate = r["rate"]
    expected = at_rate(expected_mono(samples), rate)
    [(piece, offset)] = played_pieces(raw, rate, expected)
    assert_piece(piece, offset, expected, rate, 0.5)


def test_a_long_recording_streams_and_seeks_anywhere_on_a_shared_player(settings, tmp_path):
    """A recording far longer than the reading player's seek history (2 s here, 300 s in the app) plays
    from the vault as it goes, and seeks back to any point. The unpaced file device drains the queue
    faster than it is refilled, so the sound comes in pieces: each must sit where it belongs."""
    from tests.audio_helpers import best_offset, correlation, sound_pieces

    seconds = 12.0
    samples = stereo_signal(seconds)
    wav = tmp_path / "long.wav"
    sf.write(wav, samples, RATE, subtype="PCM_16")
    r, raw = play_archived("long_shared", settings, wav, tmp_path, "hunan")
    assert r["after_seek"] == pytest.approx(7.0, abs=0.002) and r["first_done"]
    assert r["back"] == pytest.approx(0.5, abs=0.002) and r["second_done"]
    assert r["at_end"] == pytest.approx(seconds, abs=0.05)

    rate = r["rate"]
    expected = at_rate(expected_mono(samples), rate)
    played = np.fromfile(raw, dtype="<f4")
    pieces = [(start, end, best_offset(expected, played[start:end])) for start, end in sound_pieces(played, rate)]
    tolerance = round(0.002 * rate)
    runs, current = [], None  # contiguous stretches of the recording, in the order heard
    for start, end, offset in pieces:
        reference = expected[offset:offset + end - start]
        assert correlation(played[start:start + len(reference)], reference) > 0.99
        if current is not None and abs(offset - current[1]) <= tolerance:
            current[1] = offset + end - start
        else:
            current = [offset, offset + end - start]
            runs.append(current)
    assert [(round(a / rate, 2), round(b / rate, 2)) for a, b in runs] == [(7.0, seconds), (0.5, seconds)]


def test_flac_recorder_encodes_as_it_comes(settings):
    from reader.archive.store import RECORDED_FORMAT, RECORDED_HERE, FlacRecorder

    signal = expected_mono(stereo_signal(2.0))
    recorder = FlacRecorder(RATE)
    for start in range(0, len(signal), 4410):
        recorder.write(signal[start:start + 4410])
    recorder.write(np.array([1.5, -3.0], np.float32))  # out of range: clipped, not wrapped around
    audio = recorder.finish()
    assert (audio.frames, audio.sample_rate, audio.channels, audio.bits_per_sample) == (len(signal) + 2, RATE, 1, 16)
    assert audio.original_format == RECORDED_FORMAT and audio.sha256 == audio.flac_sha256
    decoded, rate = sf.read(io.BytesIO(audio.flac), dtype="float32")
    assert rate == RATE and np.abs(decoded[:-2] - signal).max() <= 1 / 32767
    assert decoded[-2] == pytest.approx(32767 / 32768) and decoded[-1] == -1.0
    vault, store = open_store(settings)
    with vault:
        entry = store.add_recording(audio, dialect="gansu", consent_by="me")
        assert entry.original_file == RECORDED_HERE and store.flac(entry) == audio.flac
    with pytest.raises(ArchiveError, match="Nothing was recorded"):
        FlacRecorder(RATE).finish()


def test_recording_with_the_microphone_into_the_archive(paced_device, settings, passfile, tmp_path):
    """`reader archive record` on a real input stream (the paced device's monitor is the default input):
    what the microphone hears is archived as FLAC at the device's own rate, with its description, and
    nothing of it is left on disk in the clear; a silent recording is refused in one sentence."""
    from reader.archive.recording import SILENT
    from reader.archive.store import RECORDED_HERE
    from tests.audio_helpers import MicCommand, best_offset, correlation

    played = expected_mono(stereo_signal(4.0))
    clip = tmp_path / "grandma.wav"
    sf.write(clip, played, RATE, subtype="PCM_16")
    child_tmp = tmp_path / "child-tmp"
    child_tmp.mkdir()
    env = {**os.environ, **paced_device.env, "READER_HOME": str(settings.home), "PYTHONIOENCODING": "utf-8",
           "TMPDIR": str(child_tmp)}
    args = ["archive", "record", "--dialect", "四川话", "--consent-by", CONSENT_BY, "--speaker", SPEAKER,
            "--topic", TOPIC, "--passphrase-file", str(passfile)]
    child = MicCommand(args, env, paced_device)
    try:
        child.take(clip)
        out = child.finish()
    finally:
        child.kill()
    assert child.returncode == 0, child.err.text[-2000:]
    assert "Archived a" in out and "Only the encrypted copy" in out

    vault, store = open_store(settings)
    with vault:
        (entry,) = store.entries()
        heard = store.read_samples(entry, dtype="float32")[:, 0]
    assert (entry.original_file, entry.channels, entry.bits_per_sample) == (RECORDED_HERE, 1, 16)
    assert (entry.speaker, entry.consent_by, entry.dialect_code, entry.topic) == (SPEAKER, CONSENT_BY, "sichuanese", TOPIC)
    assert entry.sample_rate in (44_100, 48_000) and entry.duration_seconds >= 4.0
    expected = at_rate(played, entry.sample_rate)
    offset = best_offset(heard, expected)
    assert 0 <= offset and correlation(heard[offset:offset + len(expected)], expected) > 0.9
    for root in (settings.home, child_tmp):
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not FLAC_HEADER.search(data) and not WAV_HEADER.search(data), path

    silent = MicCommand(args, env, paced_device)
    try:
        silent.take(None)
        silent.finish()
    finally:
        silent.kill()
    assert silent.returncode == 2 and SILENT in " ".join(silent.err.text.split())
    vault, store = open_store(settings)
    with vault:
        assert len(store.entries()) == 1


def test_recording_without_a_microphone_says_so_and_keeps_nothing(settings, passfile, tmp_path, run_cli):
    from tests.audio_helpers import missing_card_env

    result = run_cli("archive", "record", "--dialect", "hokkien", "--consent-by", CONSENT_BY,
                     "--passphrase-file", str(passfile), input="\n", env=missing_card_env(tmp_path / "device"))
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "No microphone can be opened" in err and "`reader archive add FILE`" in err
    vault, store = open_store(settings)
    with vault:
        assert store.entries() == [] and vault.list() == []


def test_the_microphone_setting_chooses_the_input(paced_device, settings, passfile, run_cli):
    """The paced device's default input works (the tests above); a microphone setting naming another
    device is used instead, so recording from it fails in one sentence."""
    settings.with_(microphone="no such microphone").save()
    result = run_cli("archive", "record", "--dialect", "hokkien", "--consent-by", CONSENT_BY,
                     "--passphrase-file", str(passfile), input="\n", env=paced_device.env)
    err = result.stderr.decode()
    assert result.returncode == 2 and "No microphone can be opened" in err and "no such microphone" in err, err


def test_importing_the_archive_is_light():
    code = ("import sys, reader.archive.commands, reader.archive.store, reader.archive.export, "
            "reader.archive.playback; print(sorted(m for m in ('numpy', 'soundfile', 'sounddevice', "
            "'cryptography', 'textual') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "[]", result.stderr


# ------------------------------------------------------------------------------------------ scenarios
# These run in a child interpreter whose HOME routes ALSA to a file: only there may sounddevice be imported.


def _rate_logger() -> list[int]:
    import logging

    rates: list[int] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("output stream:"):
                rates.append(int(record.args[0]))

    logger = logging.getLogger("reader.audio.player")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Grab())
    return rates


def scenario_cli_play(args: dict) -> dict:
    import contextlib

    rates = _rate_logger()
    parser = argparse.ArgumentParser()
    handlers = register(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args(["archive", "play", args["id"], "--passphrase-file", args["passfile"]])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = handlers["archive"](parsed, Settings.load())
    return {"rc": rc, "out": out.getvalue(), "rate": rates[-1]}


def scenario_controls(args: dict) -> dict:
    import time

    from reader.archive.playback import ArchivePlayback

    vault = Vault.open(Settings.load().home / "vault", PASS)
    result: dict = {}
    with vault, ArchivePlayback(ArchiveStore(vault)) as playback:
        playback.play(args["id"], paused=True)
        result["paused_at_start"] = playback.position_seconds()
        result["playing_at_start"] = playback.is_playing
        playback.seek(1.0)
        result["after_seek"] = playback.position_seconds()
        time.sleep(0.1)  # short: the file device is unpaced, and a paused stream writes zeros flat out
        result["held"] = playback.position_seconds()
        playback.resume()
        result["finished"] = playback.wait(timeout=10)
        time.sleep(0.05)
        result["at_end"] = playback.position_seconds()
        playback.stop()
        result["after_stop"] = playback.position_seconds()
        result["playing_after_stop"] = playback.is_playing
        playback.seek(0.25)
        result["sought_after_stop"] = playback.position_seconds()
        result["paused_after_stop_seek"] = playback.is_paused
        result["playing_after_stop_seek"] = playback.is_playing
        playback.resume()
        result["finished_again"] = playback.wait(timeout=10)
        time.sleep(0.05)
        result["end_again"] = playback.position_seconds()
        result["finished_flag"] = playback.finished
        playback.resume()  # heard to the end: from the beginning again
        result["finished_third"] = playback.wait(timeout=10)
        result["rate"] = playback._player.stats().samplerate
    return result


def scenario_shared(args: dict) -> dict:
    import time

    from reader.archive.playback import ArchivePlayback
    from reader.audio.player import Player

    told: list[bool] = []
    vault = Vault.open(Settings.load().home / "vault", PASS)
    with vault, Player(samplerate=RATE, history_seconds=None, on_finished=lambda: told.append(True)) as player:
        playback = ArchivePlayback(ArchiveStore(vault), player=player)
        playback.play(args["id"], start_seconds=0.5)
        done = playback.wait(timeout=10)
        at_end = playback.position_seconds()
        deadline = time.monotonic() + 1  # the owner's on_finished comes on the player's next notifier tick
        while not told and time.monotonic() < deadline:
            time.sleep(0.01)
        playback.close()
        still_open = player.stats().samplerate > 0 and player._stream is not None  # test-only peek
        return {"done": done, "owner_told": bool(told), "at_end": at_end, "still_open": still_open,
                "rate": player.stats().samplerate}


def scenario_long_shared(args: dict) -> dict:
    from reader.archive.playback import ArchivePlayback
    from reader.audio.player import Player

    vault = Vault.open(Settings.load().home / "vault", PASS)
    with vault, Player(samplerate=RATE, history_seconds=2.0) as player:
        playback = ArchivePlayback(ArchiveStore(vault), player=player)
        playback.play(args["id"], paused=True)
        playback.seek(7.0)
        after_seek = playback.position_seconds()
        playback.resume()
        first_done = playback.wait(timeout=30)
        playback.pause()  # the unpaced device would play the first seconds before position() is asked
        playback.seek(0.5)  # far behind the player's 2 s of history
        back = playback.position_seconds()
        playback.resume()
        second_done = playback.wait(timeout=30)
        at_end = playback.position_seconds()
        playback.close()
        return {"after_seek": after_seek, "first_done": first_done, "back": back, "second_done": second_done,
                "at_end": at_end, "rate": player.stats().samplerate}


SCENARIOS = {"cli_play": scenario_cli_play, "controls": scenario_controls, "shared": scenario_shared,
             "long_shared": scenario_long_shared}

if __name__ == "__main__":
    outcome = SCENARIOS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    print(json.dumps(outcome), flush=True)
