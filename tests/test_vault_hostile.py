"""Hostile backups: a crafted bundle or record must not write outside the export folder, drive the
terminal with escapes, crash `voices verify` or `voices use`, or slip a voice in without consent; and
`vault import` asks before it replaces anything (a clock in a file decides nothing)."""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import numpy as np
import pytest

from reader.archive import ArchiveError
from reader.archive.commands import register as register_archive
from reader.archive.export import export_plaintext
from reader.archive.records import AUDIO_KIND, META_KIND, ArchiveEntry
from reader.archive.store import ArchiveStore
from reader.settings import Settings
from reader.terminal import safe_json, safe_text
from reader.vault.commands import check_backup_group
from reader.vault.commands import register as register_vault
from reader.vault.crypto import KdfParams
from reader.vault.store import Vault
from reader.voices.consent import Consent
from reader.voices.enroll import VoiceBook, VoiceError

FAST = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
PASS = "hostile test passphrase"
BUNDLE = "bundle test passphrase"
AUDIO = b"fLaC audio (a test needs no real FLAC)"
ESC = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e"


def _entry(entry_id: str, **changes) -> ArchiveEntry:
    values = dict(id=entry_id, date="2024-02-10", dialect_code=None, dialect="Sichuanese", dialect_zh=None,
                  region=None, speaker=None, speaker_voice=None, topic=None, transcript=None, romanization=None,
                  translation=None, consent_by="Oma", consent_purpose="the archive", duration_seconds=1.0,
                  frames=16000, sample_rate=16000, channels=1, bits_per_sample=16, original_file="x.wav",
                  original_format="WAV PCM_16", sha256="0" * 64, flac_sha256=hashlib.sha256(AUDIO).hexdigest(),
                  archived_at="2024-02-11T09:30:00Z")
    values.update(changes)
    return ArchiveEntry(**values)


def _put_entry(vault: Vault, name: str, entry_json: dict, audio: bytes = AUDIO) -> None:
    with vault.transaction() as tx:
        tx.put(AUDIO_KIND, name, audio, group=f"archive:{name}")
        tx.put(META_KIND, name, json.dumps(entry_json).encode(), group=f"archive:{name}")


def _handlers(register):
    parser = argparse.ArgumentParser(prog="reader")
    handlers = register(parser.add_subparsers(dest="command"))
    return parser, handlers


@pytest.fixture
def home(reader_home, tmp_path):
    Vault.create(reader_home / "vault", PASS, kdf_params=FAST).lock()
    passfile = tmp_path / "pass"
    passfile.write_text(PASS + "\n")
    bundlefile = tmp_path / "bundle-pass"
    bundlefile.write_text(BUNDLE + "\n")
    return reader_home, passfile, bundlefile


def _cli(register, home, *argv: str) -> int:
    parser, handlers = _handlers(register)
    args = parser.parse_args(list(argv))
    return handlers[args.command](args, Settings.load(home))


# --- path traversal -----------------------------------------------------------------------------------


def test_an_entry_id_from_a_record_never_writes_outside_the_export_folder(tmp_path):
    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST) as vault:
        good = _entry("a000001")
        _put_entry(vault, "a000001", good.to_json())
        evil = _entry("a000002").to_json() | {"id": "../../../escaped"}
        _put_entry(vault, "a000002", evil)
        store = ArchiveStore(vault)
        listing = store.scan()
        assert [e.id for e in listing.entries] == ["a000001"] and listing.damaged == ["a000002"]
        with pytest.raises(ArchiveError, match="id"):
            ArchiveEntry.from_json(evil)
        target = tmp_path / "usb" / "export"
        export_plaintext(store, target, listing.entries)
        # Even an entry that got past the parser is written only under the chosen folder.
        forged = ArchiveEntry(**(good.to_json() | {"id": "../../../escaped2"}))
        with pytest.raises(ArchiveError, match="not a plain file name"):
            export_plaintext(store, target, [forged])
    assert sorted(p.name for p in (target / "recordings").iterdir()) == ["a000001.flac"]
    assert not list(tmp_path.rglob("escaped*"))


def test_import_refuses_an_archive_group_whose_description_names_another_id(home, tmp_path):
    home, passfile, bundlefile = home
    with Vault.create(tmp_path / "crafted", "crafting passphrase", kdf_params=FAST) as crafted:
        _put_entry(crafted, "a000002", _entry("a000002").to_json() | {"id": "../../../escaped"})
        _put_entry(crafted, "a000003", _entry("a000003").to_json())
        crafted.export(tmp_path / "crafted.rvb", BUNDLE, kdf_params=FAST)
    status = _cli(register_vault, home, "vault", "import", str(tmp_path / "crafted.rvb"),
                  "--passphrase-file", str(passfile), "--export-passphrase-file", str(bundlefile))
    assert status == 1
    with Vault.open(home / "vault", PASS) as vault:
        assert vault.groups() == ["archive:a000003"]


# --- terminal escapes ------------------------------------------------------------------------------------


def test_safe_text_and_safe_json():
    assert safe_text(f"Oma{ESC}!") == "Oma]0;pwned[2J31m!"
    assert safe_text("two\nlines\ttab") == "two lines tab"
    assert safe_text("two\nlines", keep_newlines=True) == "two\nlines"
    text = safe_json({"name": f"x{ESC}"}, indent=2)
    assert json.loads(text) == {"name": f"x{ESC}"}
    assert not any(ch in text for ch in "\x1b\x07\x9b\u202e")


def test_archive_list_shows_no_terminal_escapes(home, capsys):
    home, passfile, _ = home
    with Vault.open(home / "vault", PASS) as vault:
        _put_entry(vault, "a000004", _entry("a000004", speaker=f"Oma{ESC}", topic=f"New Year{ESC}",
                                            dialect=f"Sichuanese{ESC}").to_json())
    for extra in ([], ["--json"]):
        assert _cli(register_archive, home, "archive", "list", *extra, "--passphrase-file", str(passfile)) == 0
        out = capsys.readouterr()
        assert "Oma" in out.out
        for ch in "\x1b\x07\x9b\u202e":
            assert ch not in out.out + out.err


# --- voices from a backup -----------------------------------------------------------------------------------


def _voice_records(vault: Vault, name: str, *, embedding: bytes, preset: bytes | None = None,
                   consent: bool = True) -> None:
    group = f"voice:{name}"
    with vault.transaction() as tx:
        if consent:
            tx.put("consent", "consent", Consent.now(name, name, "stories").to_bytes(), group=group)
        tx.put("recording", "clip-1", np.zeros(32000, "<i2").tobytes(), group=group,
               meta={"format": "pcm_s16le", "sample_rate": 16000})
        tx.put("embedding", "ge2e-speaker", embedding, group=group, meta={"dim": len(embedding) // 4})
        if preset is not None:
            tx.put("preset", "preset", preset, group=group)


@pytest.mark.parametrize("embedding, preset", [
    (b"\x00" * 7, None),  # not float32
    (np.full(256, np.nan, "<f4").tobytes(), None),
    (np.ones(10, "<f4").tobytes(), None),  # too short to be an embedding
    (np.ones(256, "<f4").tobytes(), b"not json"),
    (np.ones(256, "<f4").tobytes(), json.dumps({"kind": "embedding", "pack": "p", "spec": ""}).encode()),
    (np.ones(256, "<f4").tobytes(), json.dumps({"kind": "style", "pack": "p", "spec": "x",
                                                "table": {"shape": "huge"}}).encode()),
])
def test_a_malformed_voice_is_one_sentence_never_a_traceback(tmp_path, embedding, preset):
    """As a crafted backup imported by an older reader left them: `voices verify` and `voices use` read
    these records and used to crash (numpy errors, KeyError); now each read is checked."""
    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST) as vault:
        _voice_records(vault, "forged", embedding=embedding, preset=preset)
        book = VoiceBook(vault)
        with pytest.raises(VoiceError, match="The voice forged cannot be used: .*; delete it"):
            book.embedding("forged") if preset is None else book.reading_spec("forged")
        assert check_backup_group("voice:forged", [(i, vault.get(i.id) if i.kind != "recording" else None)
                                                   for i in vault.list()])


def test_a_recording_of_odd_size_is_reported(tmp_path):
    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST) as vault:
        _voice_records(vault, "odd", embedding=np.ones(256, "<f4").tobytes())
        vault.put("recording", "clip-2", b"\x00\x01\x02", group="voice:odd")
        with pytest.raises(VoiceError, match="not 16-bit audio"):
            VoiceBook(vault).recordings("odd")


def test_import_refuses_a_voice_without_consent_and_keeps_a_sound_one(home, tmp_path, capsys):
    home, passfile, bundlefile = home
    with Vault.create(tmp_path / "crafted", "crafting passphrase", kdf_params=FAST) as crafted:
        _voice_records(crafted, "sneaky", embedding=np.ones(256, "<f4").tobytes(), consent=False)
        _voice_records(crafted, "sound", embedding=np.ones(256, "<f4").tobytes())
        crafted.export(tmp_path / "b.rvb", BUNDLE, kdf_params=FAST)
    status = _cli(register_vault, home, "vault", "import", str(tmp_path / "b.rvb"),
                  "--passphrase-file", str(passfile), "--export-passphrase-file", str(bundlefile))
    out = capsys.readouterr().out
    assert status == 1 and "it has no consent record" in out and "refused 2" in out
    with Vault.open(home / "vault", PASS) as vault:
        assert VoiceBook(vault).names() == ["sound"]


# --- import asks -----------------------------------------------------------------------------------------


def test_vault_import_lists_each_difference_and_replaces_only_when_told(home, tmp_path, capsys, monkeypatch):
    home, passfile, bundlefile = home
    with Vault.open(home / "vault", PASS) as vault:
        _voice_records(vault, "oma", embedding=np.ones(256, "<f4").tobytes())
        vault.export(tmp_path / "genuine.rvb", BUNDLE, kdf_params=FAST)
    with Vault.create(tmp_path / "forger", "forger passphrase", kdf_params=FAST) as forger:
        forger.import_(tmp_path / "genuine.rvb", BUNDLE)
        future = time.time() + 30 * 365 * 86400
        monkeypatch.setattr(time, "time", lambda: future)
        forger.put("embedding", "ge2e-speaker", np.full(256, 2, "<f4").tobytes(), group="voice:oma",
                   meta={"dim": 256})
        forger.export(tmp_path / "forged.rvb", BUNDLE, kdf_params=FAST)
        monkeypatch.undo()
    common = ["--passphrase-file", str(passfile), "--export-passphrase-file", str(bundlefile)]

    def embedding() -> float:
        with Vault.open(home / "vault", PASS) as vault:
            return float(VoiceBook(vault).embedding("oma")[0])

    # Nobody at the terminal, no choice given: ours stay, and the difference is listed with its date.
    assert _cli(register_vault, home, "vault", "import", str(tmp_path / "forged.rvb"), *common) == 0
    out = capsys.readouterr().out
    assert "1 record(s) differ" in out and "speaker embedding 'ge2e-speaker' of voice:oma" in out
    assert "in the future: that clock is wrong" in out and "--replace" in out and embedding() == 1.0
    # At a terminal the user is asked; "no" keeps ours.
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    _cli(register_vault, home, "vault", "import", str(tmp_path / "forged.rvb"), *common)
    assert embedding() == 1.0
    # --replace takes the backup's copy; the genuine backup then puts the genuine one back.
    _cli(register_vault, home, "vault", "import", str(tmp_path / "forged.rvb"), "--replace", *common)
    assert embedding() == 2.0
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    _cli(register_vault, home, "vault", "import", str(tmp_path / "genuine.rvb"), *common)
    assert "Replaced: The speaker embedding 'ge2e-speaker'" in capsys.readouterr().out
    assert embedding() == 1.0
