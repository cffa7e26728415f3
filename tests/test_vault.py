"""The voice vault: round trips, wrong passphrase, every kind of tampering, crypto-shredding, backups,
locking, passphrase input, the `vault` CLI handlers, and no plaintext on disk."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import struct
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reader.errors import ReaderError
from reader.settings import Settings
from reader.vault import records
from reader.vault.commands import LOCK_MESSAGE, read_passphrase, register
from reader.vault.crypto import KdfParams
from reader.vault.errors import (
    BackupError,
    DamagedData,
    InvalidRecord,
    PassphraseError,
    RecordDamaged,
    RecordNotFound,
    VaultDamaged,
    VaultExists,
    VaultLocked,
    VaultMissing,
    VaultTooNew,
    VaultWriteError,
    WrongPassphrase,
)
from reader.vault.store import AutoLock, Vault

# Small Argon2id cost so the suite stays fast; one test below uses the real defaults.
FAST = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
PASS = "correct horse battery staple"
SEG = records.SEGMENT_BYTES
SEG_ON_DISK = SEG + records.SEGMENT_OVERHEAD
HEAD = records.STREAM_HEADER_BYTES


@pytest.fixture
def vault(tmp_path) -> Vault:
    v = Vault.create(tmp_path / "vault", PASS, kdf_params=FAST)
    yield v
    v.lock()


def _record_files(v: Vault) -> set[Path]:
    return set((v.folder / "records").glob("*.rec"))


def put_tracked(v: Vault, kind: str, name: str, data: bytes, **kw) -> tuple[records.RecordInfo, Path]:
    """put, and the path of the record file it wrote (found as the one new file)."""
    before = _record_files(v)
    info = v.put(kind, name, data, **kw)
    (path,) = _record_files(v) - before
    return info, path


def _blob(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# --- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, SEG - 1, SEG, SEG + 1, 2 * SEG, 3 * SEG + 17])
def test_round_trip_sizes(vault, size):
    data = _blob(size, seed=size)
    info = vault.put("recording", f"take-{size}", data, meta={"sample_rate": 22050}, group="grandma")
    assert info.size == size and info.kind == "recording" and info.group == "grandma"
    assert vault.get(info.id) == data
    segments = list(vault.open_stream(info.id))
    assert b"".join(segments) == data
    assert all(len(s) <= SEG for s in segments)
    reopened = Vault.open(vault.folder, PASS)
    assert reopened.get(info.id) == data
    assert reopened.info(info.id) == info


def test_audio_sized_blob_and_streaming(vault):
    """Ten seconds of 48 kHz float32 audio, written as a recorder would: many small, uneven chunks."""
    rng = np.random.default_rng(7)
    audio = (0.3 * np.sin(np.arange(480_000) * 2 * np.pi * 440 / 48_000)).astype(np.float32)
    cuts = np.sort(rng.integers(0, audio.size, 200))
    chunks = np.split(audio, cuts)  # numpy arrays go in directly: no bytes copy by the caller
    info = vault.put_stream("recording", "grandma-1", iter(chunks), group="grandma")
    assert info.size == audio.nbytes
    got = np.frombuffer(b"".join(vault.open_stream(info.id)), dtype=np.float32)
    np.testing.assert_array_equal(got, audio)


def test_list_find_meta_and_replace(vault):
    a = vault.put("recording", "grandma-1", b"a", group="grandma", meta={"lang": "yue"})
    b = vault.put("embedding", "grandma", b"e" * 1024, group="grandma")
    c = vault.put("consent", "grandma consent 2024", b"{}")
    assert [i.name for i in vault.list()] == ["grandma-1", "grandma", "grandma consent 2024"]
    assert [i.id for i in vault.list(kind="embedding")] == [b.id]
    assert {i.id for i in vault.list(group="grandma")} == {a.id, b.id}
    assert vault.groups() == ["grandma"]
    assert vault.find("consent", "grandma consent 2024") == c
    # The caller cannot change the index through the meta it was given.
    a.meta["lang"] = "changed"
    assert vault.info(a.id).meta == {"lang": "yue"}
    time.sleep(0.01)
    a2 = vault.put("recording", "grandma-1", b"newer", group="grandma")
    assert a2.id == a.id and a2.created == a.created and a2.updated > a.updated
    assert vault.get(a.id) == b"newer"
    assert len(vault.list()) == 3
    assert len(_record_files(vault)) == 3  # the old version's file is gone


def test_a_failed_write_changes_nothing(vault, monkeypatch):
    """Disk full while writing: one sentence, the old record stays, no temp file is left behind."""
    import errno

    info = vault.put("recording", "grandma-1", b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(VaultWriteError, match="No space left on device"):
        vault.put("recording", "grandma-1", b"new" * 100_000)
    monkeypatch.undo()
    assert vault.get(info.id) == b"old"
    assert vault.check() == []


def test_delete(vault):
    info = vault.put("preset", "warm", b"preset")
    assert vault.delete(info.id) == info
    with pytest.raises(RecordNotFound):
        vault.get(info.id)
    assert vault.list() == [] and _record_files(vault) == set()


@pytest.mark.parametrize("kind", ["Recording", "", "rec ording", "a" * 33, "recording1", None])
def test_bad_kind_refused(vault, kind):
    with pytest.raises(InvalidRecord):
        vault.put(kind, "x", b"")


def test_free_kinds_and_names(vault):
    info = vault.put("dialect-notes", "阿嬷的故事", b"x")
    assert vault.find("dialect-notes", "阿嬷的故事") == info
    for name in ["", "  ", "a\nb", "x" * 201]:
        with pytest.raises(InvalidRecord):
            vault.put("recording", name, b"")
    with pytest.raises(InvalidRecord):
        vault.put("recording", "x", b"", meta={"bad": float("nan")})


# --- passphrase -----------------------------------------------------------------------------------


def test_wrong_passphrase_is_one_plain_sentence(vault):
    with pytest.raises(WrongPassphrase) as caught:
        Vault.open(vault.folder, "wrong")
    assert str(caught.value) == "Wrong passphrase."
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_no_vault_yet(tmp_path):
    with pytest.raises(VaultMissing) as caught:
        Vault.open(tmp_path / "vault", PASS)
    assert str(caught.value) == "There is no vault yet; create one with `reader vault init`."
    assert not Vault.exists(tmp_path / "vault")


def test_create_twice_refused(vault):
    with pytest.raises(VaultExists):
        Vault.create(vault.folder, PASS, kdf_params=FAST)


def test_empty_passphrase_refused(tmp_path):
    with pytest.raises(PassphraseError):
        Vault.create(tmp_path / "v", "", kdf_params=FAST)


def test_change_passphrase_rewraps_only_the_data_key(vault):
    info = vault.put("recording", "grandma-1", b"voice", group="grandma")
    untouched = {p: p.read_bytes() for p in [*_record_files(vault), vault.folder / "index"]}
    with pytest.raises(WrongPassphrase):
        vault.change_passphrase("not it", "new passphrase")
    vault.change_passphrase(PASS, "new passphrase")
    assert {p: p.read_bytes() for p in untouched} == untouched
    assert Vault.open(vault.folder, "new passphrase").get(info.id) == b"voice"
    with pytest.raises(WrongPassphrase):
        Vault.open(vault.folder, PASS)


def test_passphrase_is_unicode_normalized(tmp_path):
    """é as one code point or as e + combining accent: the same passphrase, whatever the keyboard sent."""
    Vault.create(tmp_path / "v", "caf\u00e9 au lait", kdf_params=FAST).lock()
    Vault.open(tmp_path / "v", "cafe\u0301 au lait").lock()


def test_a_new_vault_is_calibrated_to_about_a_second(tmp_path, monkeypatch):
    """Without $READER_VAULT_KDF a new vault's Argon2id passes are raised until an unlock takes about
    CALIBRATE_TARGET_S here (measured and printed; asserted only loosely, the machine may be busy)."""
    from reader.vault import crypto

    monkeypatch.delenv(crypto.KDF_ENV, raising=False)
    assert KdfParams() == KdfParams(memory_kib=65536, iterations=3, lanes=1)
    start = time.perf_counter()
    Vault.create(tmp_path / "vault", PASS).lock()
    made = time.perf_counter() - start
    start = time.perf_counter()
    v = Vault.open(tmp_path / "vault", PASS)
    unlock = time.perf_counter() - start
    print(f"\ncalibrated Argon2id: {v._header.kdf}; create {made:.2f} s, unlock {unlock:.2f} s")
    assert v._header.kdf.memory_kib == 65536 and v._header.kdf.iterations >= 3
    assert 0.2 < unlock < 3.0
    v.lock()


def test_calibration_follows_the_machine_within_the_ceilings():
    from reader.vault import crypto

    def fake_clock(per_pass: float, fixed: float):
        """A clock that says each derive took fixed + passes * per_pass."""
        times = iter([0.0, fixed + per_pass, 10.0, 10.0 + fixed + 3 * per_pass])
        return lambda: next(times)

    assert crypto.calibrate(0.7, clock=fake_clock(0.05, 0.1)).iterations == 12
    assert crypto.calibrate(0.7, clock=fake_clock(1.0, 0.1)).iterations == crypto.CALIBRATE_MIN_ITERATIONS
    fastest = crypto.calibrate(0.7, clock=fake_clock(0.0001, 0.0))
    assert fastest.iterations == crypto.MAX_ITERATIONS  # a very fast machine stops at the ceiling


def test_kdf_override_from_the_environment(tmp_path, monkeypatch):
    from reader.vault import crypto

    monkeypatch.setenv(crypto.KDF_ENV, "16384:2:1")
    assert crypto.new_vault_params() == KdfParams(16384, 2, 1)
    monkeypatch.setenv(crypto.KDF_ENV, "lots")
    with pytest.raises(ReaderError, match="MEMORY_KIB:PASSES:LANES"):
        crypto.new_vault_params()
    monkeypatch.setenv(crypto.KDF_ENV, f"{1024 * 1024}:12:1")
    with pytest.raises(ReaderError, match="more than this reader allows"):
        crypto.new_vault_params()


def _forge_kdf(path: Path, memory_kib: int, passes: int) -> None:
    """Raise the Argon2id cost in the key header at the start of `path`, with its checksum fixed."""
    whole = path.read_bytes()
    data = bytearray(whole[:records.KEY_HEADER_BYTES])
    struct.pack_into(">II", data, 8, memory_kib, passes)
    body = bytes(data[:-32])
    path.write_bytes(body + hashlib.sha256(body).digest() + whole[records.KEY_HEADER_BYTES:])


def test_a_header_asking_for_a_huge_kdf_is_refused_at_once(vault):
    """A forged header with 1 GiB x 12 passes took 7 s and 1 GB an unlock: now refused before hashing."""
    _forge_kdf(vault.folder / "header", 1024 * 1024, 12)
    start = time.perf_counter()
    with pytest.raises(VaultDamaged) as caught:
        Vault.open(vault.folder, PASS)
    assert time.perf_counter() - start < 0.5
    message = str(caught.value)
    assert "1024 MiB, 12 passes" in message and "more than this reader allows" in message
    assert "forged or damaged" in message and "backup copy of the vault folder" in message


def test_a_backup_asking_for_a_huge_kdf_is_refused_at_once(vault, tmp_path):
    vault.put("preset", "warm", b"x")
    vault.export(tmp_path / "b.rvb", "backup passphrase", kdf_params=FAST)
    _forge_kdf(tmp_path / "b.rvb", 512 * 1024, 16)
    with pytest.raises(BackupError, match="asks for argon2id with 512 MiB, 16 passes"):
        vault.import_(tmp_path / "b.rvb", "backup passphrase")


def test_a_missing_header_never_lets_init_overwrite_the_vault(vault, reader_home, capsys):
    """Without its header a vault cannot be opened; `vault init` used to make a new one over the folder,
    and its empty index replaced the old one: every record lost. Now: refused, and how to restore."""
    info = vault.put("recording", "grandma-1", b"voice", group="grandma")
    folder = vault.folder
    saved = (folder / "header").read_bytes()
    (folder / "header").unlink()
    index = (folder / "index").read_bytes()
    with pytest.raises(VaultDamaged) as caught:
        Vault.open(folder, PASS)
    assert "header" in str(caught.value) and "missing" in str(caught.value)
    assert "backup copy of the vault folder" in str(caught.value)
    with pytest.raises(VaultDamaged, match="no new vault was made over it"):
        Vault.create(folder, PASS, kdf_params=FAST)
    assert (folder / "index").read_bytes() == index and not (folder / "header").exists()
    (folder / "header").write_bytes(saved)  # the restore the message describes
    with Vault.open(folder, PASS) as again:
        assert again.get(info.id) == b"voice"


@pytest.mark.parametrize("weak, why", [
    ("x", "has 1 character"), ("        ", "only spaces"), (" short ", "has 5 characters"),
    ("aaaaaaaaaaaa", "too few characters"), ("Password", "most common"),
])
def test_weak_new_passphrases_are_refused_with_the_reason(tmp_path, vault, weak, why):
    with pytest.raises(PassphraseError, match=why):
        Vault.create(tmp_path / "v", weak, kdf_params=FAST)
    assert not (tmp_path / "v").exists()
    with pytest.raises(PassphraseError, match=why):
        vault.change_passphrase(PASS, weak)
    with pytest.raises(PassphraseError, match=why):
        vault.export(tmp_path / "b.rvb", weak, kdf_params=FAST)
    Vault.open(vault.folder, PASS).lock()  # the passphrase did not change


def test_an_old_vault_with_a_short_passphrase_still_opens(tmp_path, monkeypatch):
    from reader.vault import header

    monkeypatch.setattr(header, "passphrase_problem", lambda p: None)  # as a vault of an older reader
    Vault.create(tmp_path / "v", "abc", kdf_params=FAST).lock()
    monkeypatch.undo()
    Vault.open(tmp_path / "v", "abc").lock()


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 3 * SEG + 17])
def test_random_access_reads_what_was_written(vault, size):
    data = _blob(size, seed=size)
    info = vault.put("recording", f"r{size}", data, group="g")
    rng = np.random.default_rng(size)
    with vault.open_reader(info.id) as reader:
        assert reader.seek(0, 2) == size and reader.seekable() and reader.readable()
        reader.seek(0)
        assert reader.read() == data
        for _ in range(20):
            start = int(rng.integers(0, size + 1))
            n = int(rng.integers(0, 2 * SEG))
            reader.seek(start)
            assert reader.read(n) == data[start:start + n]
            assert reader.tell() == min(size, start + n)
        reader.seek(size + 10)
        assert reader.read(5) == b""


def test_random_access_detects_damage_where_it_reads(vault):
    data = _blob(3 * SEG, seed=3)
    info, path = put_tracked(vault, "recording", "grandma-1", data, group="grandma")
    _flip(path, HEAD + SEG_ON_DISK + 100)  # inside the second segment
    with vault.open_reader(info.id) as reader:
        reader.seek(2 * SEG + 5)
        assert reader.read(10) == data[2 * SEG + 5:2 * SEG + 15]  # the third segment is fine
        reader.seek(SEG)
        with pytest.raises(RecordDamaged, match="'grandma-1' is damaged or was tampered with"):
            reader.read(10)
    path.write_bytes(path.read_bytes()[:-1])  # truncated: refused before any read
    with pytest.raises(RecordDamaged):
        vault.open_reader(info.id)


def test_random_access_refuses_segments_in_another_order(vault):
    data = _blob(3 * SEG, seed=4)
    info, path = put_tracked(vault, "recording", "grandma-2", data, group="grandma")
    raw = path.read_bytes()
    first, second = raw[HEAD:HEAD + SEG_ON_DISK], raw[HEAD + SEG_ON_DISK:HEAD + 2 * SEG_ON_DISK]
    path.write_bytes(raw[:HEAD] + second + first + raw[HEAD + 2 * SEG_ON_DISK:])
    with vault.open_reader(info.id) as reader, pytest.raises(RecordDamaged):
        reader.read(10)


# --- tampering --------------------------------------------------------------------------------------


def test_flipped_bit_in_a_record_names_it_and_others_stay_readable(vault):
    good = vault.put("recording", "grandpa-1", b"fine" * 100, group="grandpa")
    bad, path = put_tracked(vault, "recording", "grandma-1", _blob(3 * SEG), group="grandma")
    _flip(path, HEAD + SEG_ON_DISK + 100)  # inside the second segment
    with pytest.raises(RecordDamaged) as caught:
        vault.get(bad.id)
    assert str(caught.value) == ("The recording 'grandma-1' is damaged or was tampered with; "
                                 "the other records are fine.")
    assert caught.value.name == "grandma-1" and caught.value.record_id == bad.id
    assert vault.get(good.id) == b"fine" * 100
    problems = [p for p in vault.check() if p.is_damage]
    assert [(p.kind, p.name) for p in problems] == [("damaged", "grandma-1")]


@pytest.mark.parametrize("offset", ["header", "nonce", "tag", "last byte"])
def test_flipped_bit_anywhere_is_detected(vault, offset):
    info, path = put_tracked(vault, "embedding", "grandma", _blob(5000))
    size = path.stat().st_size
    where = {"header": 9, "nonce": HEAD + 3, "tag": size - 5, "last byte": size - 1}[offset]
    _flip(path, where)
    with pytest.raises(RecordDamaged, match="speaker embedding 'grandma'"):
        vault.get(info.id)


def test_truncated_record_is_detected(vault):
    """Dropping whole trailing segments leaves a valid-looking file; the last-segment flag catches it."""
    data = _blob(3 * SEG + 100)
    info, path = put_tracked(vault, "recording", "grandma-1", data)
    full = path.read_bytes()
    assert len(full) == HEAD + 4 * SEG_ON_DISK  # padded: the data, zeros and its length fill 4 segments
    for cut in (HEAD + 3 * SEG_ON_DISK, HEAD + 2 * SEG_ON_DISK, HEAD + SEG_ON_DISK, len(full) - 1, HEAD, 0):
        path.write_bytes(full[:cut])
        with pytest.raises(RecordDamaged):
            vault.get(info.id)
    path.write_bytes(full + b"\0" * 40)  # and bytes appended
    with pytest.raises(RecordDamaged):
        vault.get(info.id)
    path.write_bytes(full)
    assert vault.get(info.id) == data


def test_exact_multiple_truncated_at_boundary(vault):
    """A record that is a whole number of segments (with its 8-byte length): its last segment is full, and
    still flagged."""
    info, path = put_tracked(vault, "recording", "r", _blob(2 * SEG - 8))
    full = path.read_bytes()
    assert len(full) == HEAD + 2 * SEG_ON_DISK
    path.write_bytes(full[:HEAD + SEG_ON_DISK])
    with pytest.raises(RecordDamaged):
        vault.get(info.id)


def test_reordered_segments_are_detected(vault):
    info, path = put_tracked(vault, "recording", "grandma-1", _blob(3 * SEG + 5))
    full = path.read_bytes()
    seg = [full[HEAD + i * SEG_ON_DISK: HEAD + (i + 1) * SEG_ON_DISK] for i in range(3)]
    path.write_bytes(full[:HEAD] + seg[1] + seg[0] + seg[2] + full[HEAD + 3 * SEG_ON_DISK:])
    with pytest.raises(RecordDamaged):
        vault.get(info.id)


def test_record_file_swapped_for_another_is_detected(vault):
    a, path_a = put_tracked(vault, "recording", "grandma-1", b"A" * 500, group="grandma")
    b, path_b = put_tracked(vault, "recording", "grandma-2", b"B" * 500, group="grandma")  # same key
    shutil.copyfile(path_a, path_b)
    with pytest.raises(RecordDamaged, match="'grandma-2'"):
        vault.get(b.id)
    assert vault.get(a.id) == b"A" * 500
    os.replace(path_a, path_b)  # renamed, not copied
    with pytest.raises(RecordDamaged, match="'grandma-1' is missing"):
        vault.get(a.id)
    with pytest.raises(RecordDamaged, match="'grandma-2' is damaged"):
        vault.get(b.id)


def test_old_copy_of_a_record_put_back_is_detected(vault):
    """Rolling one record back to an earlier version (same id, same key) fails: each write has its own id."""
    _, old_path = put_tracked(vault, "preset", "warm", b"version 1", group="g")
    old = old_path.read_bytes()
    info, new_path = put_tracked(vault, "preset", "warm", b"version 2", group="g")
    new_path.write_bytes(old)
    with pytest.raises(RecordDamaged):
        vault.get(info.id)


def test_record_from_another_vault_is_detected(tmp_path, vault):
    other = Vault.create(tmp_path / "other", PASS, kdf_params=FAST)
    info, path = put_tracked(vault, "recording", "grandma-1", b"ours")
    _, foreign = put_tracked(other, "recording", "grandma-1", b"theirs")
    shutil.copyfile(foreign, path)
    with pytest.raises(RecordDamaged):
        vault.get(info.id)


def test_flipped_bit_in_the_index(vault):
    vault.put("recording", "grandma-1", b"x")
    index = vault.folder / "index"
    for offset in (HEAD + 20, index.stat().st_size - 3):
        original = index.read_bytes()
        _flip(index, offset)
        with pytest.raises(VaultDamaged) as caught:
            Vault.open(vault.folder, PASS)
        assert "index is damaged or was tampered with" in str(caught.value)
        index.write_bytes(original)
    Vault.open(vault.folder, PASS)


def test_missing_index(vault):
    (vault.folder / "index").unlink()
    with pytest.raises(VaultDamaged, match="index is missing"):
        Vault.open(vault.folder, PASS)


def test_damaged_header_is_not_called_a_wrong_passphrase(vault):
    header = vault.folder / "header"
    _flip(header, 30)
    with pytest.raises(VaultDamaged, match="header .* is damaged"):
        Vault.open(vault.folder, PASS)


def test_forged_header_with_a_good_checksum_is_a_wrong_passphrase(vault):
    """Someone who changes the KDF parameters (and fixes the checksum) learns only "Wrong passphrase."."""
    header = vault.folder / "header"
    data = bytearray(header.read_bytes())
    data[11] ^= 0x01  # Argon2id memory: 8192 KiB -> 8193 KiB, still valid
    body = bytes(data[:-32])
    header.write_bytes(body + hashlib.sha256(body).digest())
    with pytest.raises(WrongPassphrase):
        Vault.open(vault.folder, PASS)


def test_newer_vault_version(vault):
    header = vault.folder / "header"
    data = bytearray(header.read_bytes())
    struct.pack_into(">H", data, 4, records.FORMAT_VERSION + 1)
    header.write_bytes(bytes(data))
    with pytest.raises(VaultTooNew) as caught:
        Vault.open(vault.folder, PASS)
    assert str(caught.value) == ("This vault was made by a newer version of the reader; "
                                 "update the reader to open it.")


def test_newer_record_version(vault):
    info, path = put_tracked(vault, "recording", "grandma-1", b"x")
    data = bytearray(path.read_bytes())
    struct.pack_into(">H", data, 4, records.FORMAT_VERSION + 1)
    path.write_bytes(bytes(data))
    with pytest.raises(VaultTooNew, match="recording 'grandma-1' was made by a newer version"):
        vault.get(info.id)
    assert [p.kind for p in vault.check() if p.is_damage] == ["too-new"]


def test_newer_index_version(vault):
    index = vault.folder / "index"
    data = bytearray(index.read_bytes())
    struct.pack_into(">H", data, 4, records.FORMAT_VERSION + 1)
    index.write_bytes(bytes(data))
    with pytest.raises(VaultTooNew):
        Vault.open(vault.folder, PASS)


# --- check and repair ------------------------------------------------------------------------------


def test_check_reports_and_repairs_leftovers(vault):
    info = vault.put("recording", "grandma-1", b"x")
    orphan = vault.folder / "records" / f"{records.new_id()}.rec"
    orphan.write_bytes(b"ciphertext of an interrupted write")
    temp = vault.folder / ".index.abc123.tmp"
    temp.write_bytes(b"half an index")
    stranger = vault.folder / "notes.txt"
    stranger.write_text("not ours")
    problems = vault.check()
    assert not any(p.is_damage for p in problems)
    assert {(p.kind, p.path.name) for p in problems} == {("leftover", orphan.name), ("leftover", temp.name),
                                                         ("unknown", "notes.txt")}
    # Fresh leftovers may belong to another process's write in progress: repair waits a minute.
    vault.check(repair=True)
    assert orphan.exists() and temp.exists()
    repaired = vault.check(repair=True, min_age_s=0)
    assert {p.path.name for p in repaired if p.repaired} == {orphan.name, temp.name}
    assert not orphan.exists() and not temp.exists() and stranger.exists()
    stranger.unlink()
    assert vault.check() == []
    assert vault.get(info.id) == b"x"


# --- crypto-shredding -----------------------------------------------------------------------------


def _decrypts_with_any_key(v: Vault, blob: bytes, info: records.RecordInfo, file_id: str) -> bool:
    """Try every key this unlocked vault holds or can unwrap from its index (the data key too)."""
    import io

    index = v._current_index()
    keys = [v._data_key] + [v._record_key(index, key_id) for key_id in index.keys]
    ctx = records.StreamContext(vault_id=v._vault_id, record_id=info.id, kind=info.kind, file_id=file_id)
    for key in keys:
        try:
            b"".join(records.open_stream(key, ctx, io.BytesIO(blob), file_type=records.FILE_RECORD,
                                         expected_size=info.size))  # a padded record needs its size
            return True
        except DamagedData:
            continue
    return False


def test_delete_group_crypto_shreds(vault, tmp_path):
    keep = vault.put("recording", "grandpa-1", b"grandpa", group="grandpa")
    grandma = [put_tracked(vault, kind, name, _blob(SEG + 10, i), group="grandma")
               for i, (kind, name) in enumerate([("recording", "grandma-1"), ("embedding", "grandma"),
                                                 ("preset", "grandma-warm")])]
    # A backup of the ciphertext taken before the delete (the attacker also knows every id: assume the worst).
    copies = [(info, path.name[:-4], path.read_bytes()) for info, path in grandma]
    assert all(_decrypts_with_any_key(vault, blob, info, fid) for info, fid, blob in copies)

    gone = vault.delete_group("grandma")
    assert {i.id for i in gone} == {info.id for info, _ in grandma}
    assert vault.groups() == ["grandpa"] and [i.id for i in vault.list()] == [keep.id]
    assert all(not path.exists() for _, path in grandma)

    # The files are back, the passphrase is right, and still nothing opens them: the group key is gone.
    reopened = Vault.open(vault.folder, PASS)
    for info, fid, blob in copies:
        (vault.folder / "records" / f"{fid}.rec").write_bytes(blob)
        assert not _decrypts_with_any_key(reopened, blob, info, fid)
    assert reopened.get(keep.id) == b"grandpa"
    with pytest.raises(RecordNotFound):
        reopened.delete_group("grandma")


def test_an_old_index_left_by_a_crash_does_not_outlive_a_delete(vault):
    """A crash can leave a temp copy of an older index, which holds the keys of groups deleted later; the
    next index write (under the writer lock, so it cannot be anyone's write in progress) removes it."""
    vault.put("recording", "grandma-1", b"x", group="grandma")
    stale = vault.folder / ".index.crashed1.tmp"
    shutil.copyfile(vault.folder / "index", stale)
    vault.delete_group("grandma")
    assert not stale.exists()


def test_clean_leftovers_is_cheap_and_spares_fresh_files(vault):
    info, path = put_tracked(vault, "recording", "r", b"x")
    orphan = path.with_name(f"{records.new_id()}.rec")
    orphan.write_bytes(b"?")
    assert vault.clean_leftovers() == []
    assert vault.clean_leftovers(min_age_s=0) == [orphan]
    assert vault.get(info.id) == b"x"


def test_delete_of_an_ungrouped_record_shreds_its_own_key(vault):
    info, path = put_tracked(vault, "consent", "grandma consent", b"signed")
    blob = path.read_bytes()
    assert _decrypts_with_any_key(vault, blob, info, path.name[:-4])
    vault.delete(info.id)
    assert not _decrypts_with_any_key(Vault.open(vault.folder, PASS), blob, info, path.name[:-4])


# --- export and import ----------------------------------------------------------------------------


def _fill(v: Vault) -> dict[str, bytes]:
    data = {
        "grandma-1": _blob(2 * SEG + 3, 1),
        "grandma": np.random.default_rng(2).standard_normal(256).astype(np.float32).tobytes(),
        "warm": b'{"rate": 0.9}',
        "consent": b"",
    }
    v.put("recording", "grandma-1", data["grandma-1"], group="grandma", meta={"sample_rate": 16000})
    v.put("embedding", "grandma", data["grandma"], group="grandma")
    v.put("preset", "warm", data["warm"])
    v.put("consent", "consent", data["consent"], meta={"signed": "2024-05-01"})
    return data


def test_export_import_round_trip(vault, tmp_path):
    data = _fill(vault)
    report = vault.export(tmp_path / "family.rvb", "backup pass", kdf_params=FAST)
    assert len(report.records) == 4 and report.damaged == ()
    fresh = Vault.create(tmp_path / "fresh", "other pass", kdf_params=FAST)
    result = fresh.import_(tmp_path / "family.rvb", "backup pass")
    assert len(result.added) == 4 and not (result.kept or result.replaced or result.skipped)
    assert fresh.list() == vault.list()  # ids, names, groups, meta, times, sizes
    for info in fresh.list():
        assert fresh.get(info.id) == data[info.name]
    assert fresh.groups() == ["grandma"]
    assert fresh.check() == []
    again = fresh.import_(tmp_path / "family.rvb", "backup pass")
    assert len(again.skipped) == 4 and not again.added
    # A new record in the imported group uses the same (imported) group key and can be shredded with it.
    fresh.put("preset", "grandma-soft", b"p", group="grandma")
    assert len(fresh.delete_group("grandma")) == 3


def test_export_is_independent_of_the_vault_and_wrong_backup_passphrase(vault, tmp_path):
    _fill(vault)
    vault.export(tmp_path / "b.rvb", "backup pass", kdf_params=FAST)
    fresh = Vault.create(tmp_path / "fresh", "fresh vault passphrase", kdf_params=FAST)
    with pytest.raises(WrongPassphrase) as caught:
        fresh.import_(tmp_path / "b.rvb", PASS)
    assert str(caught.value) == "Wrong passphrase."
    assert fresh.list() == []


def test_export_refuses_the_vault_folder(vault):
    with pytest.raises(BackupError):
        vault.export(vault.folder / "b.rvb", "backup pass", kdf_params=FAST)


@pytest.mark.parametrize("damage", ["flip", "truncate", "drop-segment", "append"])
def test_tampered_backup_merges_nothing(vault, tmp_path, damage):
    _fill(vault)
    vault.put("recording", "big", _blob(4 * SEG, 9))
    backup = tmp_path / "b.rvb"
    vault.export(backup, "backup pass", kdf_params=FAST)
    data = bytearray(backup.read_bytes())
    start = records.KEY_HEADER_BYTES + HEAD
    if damage == "flip":
        data[len(data) // 2] ^= 0x40  # in the big record: earlier records were already written when it fails
    elif damage == "truncate":
        data = data[:-1]
    elif damage == "drop-segment":
        data = data[:start + 3 * SEG_ON_DISK]
    else:
        data += b"x" * 100
    backup.write_bytes(bytes(data))
    fresh = Vault.create(tmp_path / "fresh", "fresh vault passphrase", kdf_params=FAST)
    mine = fresh.put("preset", "mine", b"keep me")
    with pytest.raises(BackupError, match="nothing was imported"):
        fresh.import_(backup, "backup pass")
    assert fresh.list() == [mine]
    assert [p.name for p in (fresh.folder / "records").iterdir()] == [p.name for p in _record_files(fresh)]
    assert len(_record_files(fresh)) == 1 and fresh.check() == []  # no orphan, no temp file


BP = "backup passphrase"


def test_import_keeps_ours_unless_the_user_chooses_the_backups_copy(vault, tmp_path):
    _fill(vault)
    backup = tmp_path / "old.rvb"
    vault.export(backup, BP, kdf_params=FAST)
    newer = vault.put("preset", "warm", b"newer local preset")
    asked = []
    report = vault.import_(backup, BP, decide=lambda diffs: asked.extend(diffs) or [])
    assert [(d.ours.id, d.theirs.id) for d in asked] == [(newer.id, newer.id)]
    assert [i.name for i in report.kept] == ["warm"]
    assert len(report.skipped) == 3 and not report.added and not report.replaced
    assert vault.get(newer.id) == b"newer local preset"
    assert vault.import_(backup, BP).kept[0].id == newer.id  # no decide: ours stay

    # The user chooses the backup's (older) copy: it replaces ours, whatever the clocks say.
    report = vault.import_(backup, BP, decide=lambda diffs: [d.theirs.id for d in diffs])
    assert [i.name for i in report.replaced] == ["warm"]
    assert vault.get(newer.id) == b'{"rate": 0.9}'
    assert len(_record_files(vault)) == 4


def test_a_backup_dated_in_the_future_decides_nothing(vault, tmp_path, monkeypatch):
    """A forged backup with a far-future `updated` time must not replace a record silently, and the
    genuine backup can still put the genuine record back."""
    genuine = vault.put("embedding", "ge2e-speaker", b"genuine", group="voice:grandma")
    vault.export(tmp_path / "genuine.rvb", BP, kdf_params=FAST)
    forger = Vault.create(tmp_path / "forger", "forger passphrase", kdf_params=FAST)
    forger.import_(tmp_path / "genuine.rvb", BP)
    future = time.time() + 50 * 365 * 86400
    monkeypatch.setattr(time, "time", lambda: future)
    forger.put("embedding", "ge2e-speaker", b"forged", group="voice:grandma")
    forger.export(tmp_path / "forged.rvb", BP, kdf_params=FAST)
    monkeypatch.undo()

    report = vault.import_(tmp_path / "forged.rvb", BP)
    assert [i.name for i in report.kept] == ["ge2e-speaker"] and not report.replaced
    assert vault.get(genuine.id) == b"genuine"
    vault.import_(tmp_path / "forged.rvb", BP, decide=lambda diffs: [d.theirs.id for d in diffs])
    assert vault.get(genuine.id) == b"forged"
    assert vault.info(genuine.id).updated <= time.time()  # a clock from a file never enters the index
    report = vault.import_(tmp_path / "genuine.rvb", BP, decide=lambda diffs: [d.theirs.id for d in diffs])
    assert [i.name for i in report.replaced] == ["ge2e-speaker"]
    assert vault.get(genuine.id) == b"genuine"


def test_import_matches_by_name_too(vault, tmp_path):
    """The same (kind, group, name) made separately in two vaults is one record: ours stay by default."""
    backup = tmp_path / "b.rvb"
    other = Vault.create(tmp_path / "other", "other passphrase", kdf_params=FAST)
    theirs = other.put("preset", "warm", b"theirs")
    ours = vault.put("preset", "warm", b"ours")
    other.export(backup, BP, kdf_params=FAST)
    report = vault.import_(backup, BP)
    assert [i.id for i in report.kept] == [theirs.id]
    assert [i.id for i in vault.list()] == [ours.id]


def test_import_refuses_groups_that_fail_their_checks(vault, tmp_path):
    other = Vault.create(tmp_path / "other", "other passphrase", kdf_params=FAST)
    other.put("embedding", "ge2e-speaker", b"\x00" * 7, group="voice:forged")
    other.put("recording", "clip-1", b"\x00\x01", group="voice:forged")
    other.put("preset", "kept", b"fine")
    other.export(tmp_path / "b.rvb", BP, kdf_params=FAST)
    seen = []

    def check(group, items):
        seen.append((group, sorted(i.name for i, _ in items), [d for _, d in items if d is not None]))
        return "it has no consent record" if group == "voice:forged" else None

    report = vault.import_(tmp_path / "b.rvb", BP, check=check)
    assert sorted(seen[0][1]) == ["clip-1", "ge2e-speaker"] and b"\x00" * 7 in seen[0][2]
    assert sorted((i.name, why) for i, why in report.refused) == [
        ("clip-1", "it has no consent record"), ("ge2e-speaker", "it has no consent record")]
    assert [i.name for i in report.added] == ["kept"]
    assert "voice:forged" not in vault.groups()
    assert len(_record_files(vault)) == len(vault.list())  # the refused records' files are gone


# --- locking ----------------------------------------------------------------------------------------


def test_lock_wipes_keys(vault):
    info = vault.put("recording", "grandma-1", b"x", group="grandma")
    vault.get(info.id)
    keys = [vault._data_key, *vault._keys.values()]
    buffers = [k._buf for k in keys]
    assert len(keys) >= 2 and all(any(b) for b in buffers)
    vault.lock()
    assert vault.locked and all(k.wiped for k in keys) and all(not any(b) for b in buffers)
    assert vault._index is None  # the decrypted names are dropped too
    for call in (lambda: vault.get(info.id), vault.list, lambda: vault.put("preset", "p", b"")):
        with pytest.raises(VaultLocked):
            call()
    assert Vault.open(vault.folder, PASS).get(info.id) == b"x"


def test_lock_during_a_streaming_write_stops_it(vault):
    def chunks():
        yield b"a" * SEG
        vault.lock()
        yield b"b" * SEG
        yield b"c"

    with pytest.raises(VaultLocked):
        vault.put_stream("recording", "grandma-1", chunks())
    reopened = Vault.open(vault.folder, PASS)
    assert reopened.list() == [] and _record_files(reopened) == set()


def test_idle_time_and_autolock(vault):
    vault.touch()
    assert vault.idle_seconds() < 1
    locked = threading.Event()
    with AutoLock(vault, 1.0, on_lock=locked.set):
        for _ in range(15):  # use keeps it open (touches every 0.1 s: far under the 1 s, even on a busy machine)
            time.sleep(0.1)
            vault.list()
        assert not vault.locked
        assert locked.wait(5)
    assert vault.locked


def test_autolock_stop_leaves_it_open(vault):
    auto = AutoLock(vault, 60).start()
    auto.stop()
    assert not vault.locked


# --- passphrase input ---------------------------------------------------------------------------


def test_read_passphrase_from_file_and_env(tmp_path, monkeypatch):
    f = tmp_path / "p"
    f.write_bytes("pässphrase with spaces \r\nsecond line\n".encode())
    assert read_passphrase(argparse.Namespace(passphrase_file=str(f))) == "pässphrase with spaces "
    monkeypatch.setenv("READER_PASSPHRASE_FILE", str(f))
    assert read_passphrase(argparse.Namespace(passphrase_file=None)) == "pässphrase with spaces "
    f.write_text("\nnot the first line\n")
    with pytest.raises(PassphraseError, match="empty"):
        read_passphrase(argparse.Namespace(passphrase_file=str(f)))
    with pytest.raises(PassphraseError, match="cannot be read"):
        read_passphrase(argparse.Namespace(passphrase_file=str(tmp_path / "missing")))


def test_read_passphrase_prompts(monkeypatch):
    monkeypatch.delenv("READER_PASSPHRASE_FILE", raising=False)
    answers = iter(["first", "first", "a", "b", ""])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    args = argparse.Namespace(passphrase_file=None)
    assert read_passphrase(args, confirm=True) == "first"
    with pytest.raises(PassphraseError, match="differ"):
        read_passphrase(args, confirm=True)
    with pytest.raises(PassphraseError, match="empty"):
        read_passphrase(args)

    def eof(prompt=""):
        raise EOFError

    monkeypatch.setattr("getpass.getpass", eof)
    with pytest.raises(PassphraseError, match="No passphrase"):
        read_passphrase(args)


# --- CLI handlers -----------------------------------------------------------------------------------


def _cli(home: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="reader")
    handlers = register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return handlers[args.command](args, Settings(home=home))


def test_cli_handlers(reader_home, tmp_path, capsys, monkeypatch):
    import reader.vault.store as store

    monkeypatch.setattr(store, "KdfParams", lambda: FAST)  # the CLI uses the defaults; keep the test fast
    pw, new, bk = tmp_path / "pw", tmp_path / "new", tmp_path / "bk"
    pw.write_text("old pass\n")
    new.write_text("new pass\n")
    bk.write_text("backup pass\n")
    with pytest.raises(VaultMissing, match=r"no vault yet; create one with `reader vault init`"):
        _cli(reader_home, "vault", "check", "--passphrase-file", str(pw))
    assert _cli(reader_home, "vault", "init", "--passphrase-file", str(pw)) == 0
    with pytest.raises(VaultExists):
        _cli(reader_home, "vault", "init", "--passphrase-file", str(pw))
    v = Vault.open(reader_home / "vault", "old pass")
    v.put("recording", "grandma-1", b"voice", group="grandma")
    assert _cli(reader_home, "vault", "check", "--passphrase-file", str(pw)) == 0
    assert "All 1 records are readable" in capsys.readouterr().out
    with pytest.raises(WrongPassphrase):
        _cli(reader_home, "vault", "check", "--passphrase-file", str(new))
    assert _cli(reader_home, "vault", "passwd", "--passphrase-file", str(pw), "--new-passphrase-file", str(new)) == 0
    assert _cli(reader_home, "vault", "export", str(tmp_path / "b.rvb"), "--passphrase-file", str(new),
                "--export-passphrase-file", str(bk)) == 0
    assert _cli(reader_home, "vault", "import", str(tmp_path / "b.rvb"), "--passphrase-file", str(new),
                "--export-passphrase-file", str(bk)) == 0
    assert "1 were already there" in capsys.readouterr().out
    assert _cli(reader_home, "vault", "lock") == 0
    assert capsys.readouterr().out.strip() == LOCK_MESSAGE
    # Damage makes check say which record and exit 1.
    (path,) = (reader_home / "vault" / "records").glob("*.rec")
    _flip(path, 40)
    assert _cli(reader_home, "vault", "check", "--passphrase-file", str(new)) == 1
    assert "The recording 'grandma-1' is damaged" in capsys.readouterr().out


def test_cli_errors_are_reader_errors(reader_home, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("\n")
    with pytest.raises(ReaderError):
        _cli(reader_home, "vault", "init", "--passphrase-file", str(pw))
    assert not Vault.exists(reader_home / "vault")


# --- no plaintext on disk ------------------------------------------------------------------------------


def _scan(roots: list[Path], needles: dict[str, bytes], since: float) -> list[str]:
    found = []
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                    if st.st_mtime < since or st.st_size > 64 * 1024 * 1024 or not path.is_file():
                        continue
                    data = path.read_bytes()
                except OSError:
                    continue
                found += [f"{label} in {path}" for label, needle in needles.items()
                          if needle in data or needle in name.encode("utf-8", "replace")]
    return found


def test_no_plaintext_reaches_the_disk(tmp_path, monkeypatch):
    """Names, WAV and FLAC headers, audio samples and embeddings: none of them in any file, temp files included."""
    start = time.time() - 1
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    marker = f"Grandma-Marker-{os.urandom(6).hex()}"
    samples = (0.25 * np.sin(np.arange(48_000) * 2 * np.pi * 220 / 16_000)).astype(np.float32)
    embedding = np.random.default_rng(3).standard_normal(256).astype(np.float32)
    wav = b"RIFF" + struct.pack("<I", 36 + samples.nbytes) + b"WAVEfmt " + b"\0" * 20 + b"data" + samples.tobytes()
    flac = b"fLaC" + marker.encode() + b"\0" * 100
    # Whole headers, not their 4-byte magic alone: a 4-byte needle matches random ciphertext about once
    # in 2^32 positions, which for this test's few MB would fail about one run in a thousand.
    needles = {
        "marker": marker.encode(), "name (utf-16)": marker.encode("utf-16-le"),
        "WAV header": wav[:16], "FLAC header": flac[:12],
        "samples": samples[1000:1016].tobytes(), "samples (start)": samples[:8].tobytes(),
        "embedding": embedding[100:108].tobytes(),
    }
    v = Vault.create(tmp_path / "vault", PASS, kdf_params=FAST)
    v.put("recording", marker, wav, group=marker, meta={"speaker": marker})
    v.put("embedding", marker, embedding.tobytes(), group=marker)
    v.put("archive", "flac", flac, meta={"note": marker})
    mid_stream: list[str] = []

    def recorder():
        for piece in np.array_split(samples, 12):
            yield piece
        # Mid-recording: the temp file of the write in progress is on disk now; it must be ciphertext.
        mid_stream.extend(_scan([tmp_path], needles, start))
        assert any(p.name.endswith(".tmp") for p in (tmp_path / "vault" / "records").iterdir())
        yield samples[:10]

    v.put_stream("recording", marker + "-live", recorder(), group=marker)
    v.export(tmp_path / "backup.rvb", "backup pass", kdf_params=FAST)
    v.change_passphrase(PASS, "another passphrase")
    fresh = Vault.create(tmp_path / "fresh", PASS, kdf_params=FAST)
    fresh.import_(tmp_path / "backup.rvb", "backup pass")
    assert fresh.get(fresh.find("recording", marker, marker).id) == wav
    assert mid_stream == []
    system_tmp = Path(tempfile.gettempdir())
    monkeypatch.setattr(tempfile, "tempdir", None)
    roots = [tmp_path, private_tmp, Path(tempfile.gettempdir()), system_tmp]
    assert _scan(roots, {k: needles[k] for k in ("marker", "name (utf-16)", "samples", "embedding")}, start) == []
    assert _scan([tmp_path], needles, start) == []




def test_cli_in_a_subprocess_says_one_sentence(reader_home, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    def run(*argv: str, passphrase_file: Path | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "READER_HOME": str(reader_home)}
        if passphrase_file is not None:
            env["READER_PASSPHRASE_FILE"] = str(passphrase_file)
        return subprocess.run([sys.executable, "-m", "reader", *argv], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)

    right, wrong = tmp_path / "right", tmp_path / "wrong"
    right.write_text("right one\n")
    wrong.write_text("wrong one\n")
    right.chmod(0o600)
    wrong.chmod(0o644)  # readable by others: a warning on stderr, besides the one sentence
    missing = run("vault", "check", passphrase_file=right)
    assert (missing.returncode, missing.stderr) == (2, "reader: There is no vault yet; create one with "
                                                       "`reader vault init`.\n")
    assert run("vault", "init", passphrase_file=right).returncode == 0
    bad = run("vault", "check", passphrase_file=wrong)
    warning, error = bad.stderr.splitlines()
    assert "can be read by other users" in warning
    assert (bad.returncode, error) == (2, "reader: Wrong passphrase.")
    ok = run("vault", "check", passphrase_file=right)
    assert ok.returncode == 0 and "All 0 records are readable" in ok.stdout
