"""Re-keying (issue 14): a new data key and every record re-encrypted, so an old header and the old passphrase
open nothing written since; a kill at any rename leaves the old vault or the new one, whole."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from reader.vault import records
from reader.vault.crypto import KdfParams, unwrap_key
from reader.vault.errors import DamagedData, RecordDamaged, VaultDamaged, VaultError, VaultLocked, WrongPassphrase
from reader.vault.records import FILE_INDEX, FILE_RECORD, FILE_VAULT_HEADER, KeyHeader, StreamContext
from reader.vault.store import Vault, _index_context, _unwrap_header
from tests.test_vault_atomic import _killed

FAST = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
PASS = "rekey test passphrase"
NEW = "another rekey passphrase"
CONTENT = {
    ("recording", "clip-1", "voice:oma"): b"\x01\x02" * 70_000,  # three segments
    ("recording", "clip-2", "voice:oma"): b"short",
    ("embedding", "embedding", "voice:oma"): bytes(range(256)) * 4,
    ("consent", "note", None): b"",
}


def _fill(vault: Vault) -> None:
    for (kind, name, group), data in CONTENT.items():
        vault.put(kind, name, data, group=group, meta={"n": name})


def _contents(vault: Vault) -> dict:
    return {(i.kind, i.name, i.group): vault.get(i.id) for i in vault.list()}


@pytest.fixture
def vault(tmp_path) -> Vault:
    v = Vault.create(tmp_path / "v", PASS, kdf_params=FAST)
    _fill(v)
    yield v
    v.lock()


def test_after_a_rekey_the_old_header_and_passphrase_open_nothing_new(vault):
    folder = vault.folder
    old_header = (folder / "header").read_bytes()
    old_key = _unwrap_header(KeyHeader.parse(old_header, file_type=FILE_VAULT_HEADER), PASS)
    old_index = records.parse_index(
        b"".join(records.open_stream(old_key, _index_context(vault._vault_id), open(folder / "index", "rb"),
                                     file_type=FILE_INDEX)), vault_id=vault._vault_id)
    old_record_keys = [unwrap_key(old_key, w, records.record_key_ad(vault._vault_id, k))
                       for k, w in old_index.keys.items()]
    before = [(i.id, i.kind, i.name, i.group, i.meta, i.created, i.size) for i in vault.list()]

    progress = []
    assert vault.rekey(PASS, kdf_params=FAST, progress=lambda d, t: progress.append((d, t))) == 4
    assert progress == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    vault.put("recording", "clip-3", b"written after the rekey", group="voice:oma")

    # Everything is readable, under the same ids, names, meta and times, in this object and a fresh open.
    assert [(i.id, i.kind, i.name, i.group, i.meta, i.created, i.size) for i in vault.list()][:4] == before
    expected = {**CONTENT, ("recording", "clip-3", "voice:oma"): b"written after the rekey"}
    assert _contents(vault) == expected
    with Vault.open(folder, PASS) as again:
        assert _contents(again) == expected and again.groups() == ["voice:oma"]

    # The old data key opens neither the new index nor any key in it; no old group or record key opens any
    # record file now on disk (the new ones, clip-3 too).
    with pytest.raises(DamagedData):
        b"".join(records.open_stream(old_key, _index_context(vault._vault_id), open(folder / "index", "rb"),
                                     file_type=FILE_INDEX))
    index = vault._current_index()
    for key_id, wrapped in index.keys.items():
        with pytest.raises(DamagedData):
            unwrap_key(old_key, wrapped, records.record_key_ad(vault._vault_id, key_id))
    assert not set(index.keys) & set(old_index.keys)
    for entry in index.records.values():
        ctx = StreamContext(vault_id=vault._vault_id, record_id=entry.info.id, kind=entry.info.kind,
                            file_id=entry.file_id)
        def read(key):  # noqa: ANN001, ANN202
            with open(vault._record_path(entry.file_id), "rb") as handle:
                return b"".join(records.open_stream(key, ctx, handle, file_type=FILE_RECORD,
                                                    expected_size=entry.info.size))

        assert read(vault._record_key(index, entry.key_id)) == expected[(entry.info.kind, entry.info.name,
                                                                         entry.info.group)]
        for key in old_record_keys:
            with pytest.raises(DamagedData):
                read(key)
    # The old files are gone: the folder holds exactly the new records.
    assert {p.stem for p in (folder / "records").iterdir()} == {e.file_id for e in index.records.values()}

    # The old header put back, with the old (= current) passphrase: the index does not open.
    (folder / "header").write_bytes(old_header)
    with pytest.raises(VaultDamaged, match="index is damaged"):
        Vault.open(folder, PASS)


def test_passwd_with_rekey_changes_both(vault):
    vault.rekey(PASS, new_passphrase=NEW, kdf_params=FAST)
    with pytest.raises(WrongPassphrase):
        Vault.open(vault.folder, PASS)
    with Vault.open(vault.folder, NEW) as again:
        assert _contents(again) == CONTENT
    with pytest.raises(WrongPassphrase):
        vault.rekey(PASS, kdf_params=FAST)


def test_a_damaged_record_stops_the_rekey_with_nothing_changed(vault):
    folder = vault.folder
    victim = vault._current_index().find("recording", "clip-1", "voice:oma")
    path = vault._record_path(victim.file_id)
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    saved = {p.name: p.read_bytes() for p in (folder / "header", folder / "index")}
    files = sorted((folder / "records").iterdir())
    with pytest.raises(RecordDamaged, match=r"^The recording 'clip-1' cannot be read, so nothing was re-keyed"):
        vault.rekey(PASS, kdf_params=FAST)
    assert {p.name: p.read_bytes() for p in (folder / "header", folder / "index")} == saved
    assert sorted((folder / "records").iterdir()) == files
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    assert vault.get(vault.find("recording", "clip-2", "voice:oma").id) == b"short"  # still unlocked, working


def test_other_holders_of_the_old_key_are_told_and_write_nothing(vault):
    other = Vault.open(vault.folder, PASS)  # as another program would hold it
    tx = vault.transaction()
    tx.put("recording", "begun before", b"x" * 10, group="voice:oma")
    tx.put("consent", "also before", b"y")
    vault.rekey(PASS, kdf_params=FAST)
    with pytest.raises(VaultError, match="re-keyed while the records were being written; nothing was saved"):
        tx.commit()
    with pytest.raises(VaultLocked, match=r"another program re-keyed the vault \(`reader vault rekey`\)"):
        other.list()
    assert other.locked
    assert _contents(vault) == CONTENT
    vault.check(repair=True, min_age_s=0)
    assert vault.check() == []


def test_the_cli_says_what_it_does(run_cli, reader_home, tmp_path):
    v = Vault.create(reader_home / "vault", PASS, kdf_params=FAST)
    _fill(v)
    v.lock()
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    pw.chmod(0o600)
    result = run_cli("vault", "rekey", "--passphrase-file", str(pw))
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Re-encrypting 1 of 4 records\n" in out and "Re-encrypting 4 of 4 records\n" in out
    assert "re-encrypted 4 records" in out and "the passphrase is the same" in out
    help_text = " ".join(run_cli("vault", "passwd", "--help").stdout.decode().split())
    assert "no record is rewritten" in help_text and "--rekey" in help_text
    assert "opens nothing written since" in " ".join(run_cli("vault", "rekey", "--help").stdout.decode().split())


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_rekey_killed_at_every_rename_leaves_the_old_vault_or_the_new(reader_home, tmp_path):
    pristine = tmp_path / "pristine"
    v = Vault.create(pristine, PASS, kdf_params=FAST)
    _fill(v)
    old_header = (pristine / "header").read_bytes()
    v.lock()
    old_pw, new_pw = tmp_path / "old", tmp_path / "new"
    for path, text in ((old_pw, PASS), (new_pw, NEW)):
        path.write_text(text + "\n")
        path.chmod(0o600)
    argv = ["vault", "passwd", "--rekey", "--passphrase-file", str(old_pw), "--new-passphrase-file", str(new_pw)]
    folder = reader_home / "vault"
    seen = set()
    for kill_at in range(1, 40):
        for when in ("before", "after"):
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(pristine, folder)
            result = _killed(reader_home, kill_at, when, *argv)
            try:  # the old passphrase and the old header, or else the new passphrase: never neither
                vault, state = Vault.open(folder, PASS), "old"
                assert (folder / "header").read_bytes() == old_header
                with pytest.raises(WrongPassphrase):
                    Vault.open(folder, NEW)
            except WrongPassphrase:
                vault, state = Vault.open(folder, NEW), "new"
            with vault:
                assert _contents(vault) == CONTENT, (kill_at, when, state)
                assert not (folder / "rekey").exists()  # a committed re-key was installed by the open
                vault.check(repair=True, min_age_s=0)
                assert vault.check() == []
                assert len(list((folder / "records").iterdir())) == len(CONTENT)
            seen.add(state)
            if result.returncode == 0:
                assert state == "new"
                # 4 records, the file `rekey` (the commit point), then the index and the header
                assert kill_at - 1 == 7 and seen == {"old", "new"}
                return
            assert result.returncode == -signal.SIGKILL, result.stderr.decode()
            assert state == ("new" if kill_at > 5 or (kill_at == 5 and when == "after") else "old"), (kill_at, when)
    raise AssertionError("the re-key never completed")
