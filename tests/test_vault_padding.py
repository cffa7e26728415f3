"""Record sizes are padded to buckets (issue 14): a file's size no longer gives a clip's exact length, the
real length is inside the encrypted part, and records written before padding still open."""

from __future__ import annotations

import pytest

from reader.vault import records
from reader.vault.crypto import KdfParams
from reader.vault.errors import DamagedData, RecordDamaged
from reader.vault.store import Vault

FAST = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
PASS = "padding test passphrase"
PCM_BYTES_A_SECOND = 16_000 * 2  # how the voices store recordings: 16 kHz, 16-bit


@pytest.fixture
def vault(tmp_path) -> Vault:
    v = Vault.create(tmp_path / "v", PASS, kdf_params=FAST)
    yield v
    v.lock()


def _file(vault: Vault, record_id: str):
    return vault._record_path(vault._current_index().records[record_id].file_id)


def test_two_recordings_in_one_bucket_have_the_same_size_on_disk(vault):
    a = vault.put("recording", "5.0 s", b"\x11" * (5 * PCM_BYTES_A_SECOND), group="voice:oma")
    b = vault.put("recording", "5.9 s", b"\x22" * int(5.9 * PCM_BYTES_A_SECOND), group="voice:oma")
    c = vault.put("recording", "7.5 s", b"\x33" * int(7.5 * PCM_BYTES_A_SECOND), group="voice:oma")
    assert a.size != b.size
    assert _file(vault, a.id).stat().st_size == _file(vault, b.id).stat().st_size
    assert _file(vault, c.id).stat().st_size > _file(vault, a.id).stat().st_size  # another bucket
    # Small records too: a 600-byte consent and a 900-byte one look alike (both in the 1 KiB bucket).
    d, e = vault.put("consent", "d", b"d" * 600), vault.put("consent", "e", b"e" * 900)
    assert _file(vault, d.id).stat().st_size == _file(vault, e.id).stat().st_size
    for info in (a, b, c, d, e):  # and each reads back as it was, whole and by seeks
        data = vault.get(info.id)
        assert len(data) == info.size
        with vault.open_reader(info.id) as reader:
            reader.seek(info.size - 5)
            assert reader.read() == data[-5:]


def test_the_buckets():
    sizes = [0, 1, 255, 256, 257, 1032, 65535, 65536, 65537, 200_000, 4 << 20, (4 << 20) + 1, 10**8]
    for n in sizes:
        p = records.padded_size(n)
        assert p >= max(n, records.PAD_MIN_BYTES)
        if n > records.SEGMENT_BYTES:
            assert p % records.SEGMENT_BYTES == 0  # every sealed segment full
            assert p - n < max(records.SEGMENT_BYTES, n / 32)  # at most 64 KiB, or 3.1 %, more
        else:
            assert p & (p - 1) == 0  # a power of two
    assert [records.padded_size(n) for n in range(1, 3_000_000, 997)] == sorted(
        records.padded_size(n) for n in range(1, 3_000_000, 997))
    # Padme above 4 MiB: steps of 128 KiB, so 5 MiB + 1 byte and 5 MiB + 100 000 bytes share a bucket.
    assert records.padded_size((5 << 20) + 1) == records.padded_size((5 << 20) + 100_000) == (5 << 20) + (128 << 10)


def test_the_padding_is_checked():
    records.check_padding(bytes(20) + records.PAD_LENGTH.pack(7), 7)
    with pytest.raises(DamagedData):
        records.check_padding(bytes(20) + records.PAD_LENGTH.pack(8), 7)
    with pytest.raises(DamagedData):
        records.check_padding(b"\0\1" + bytes(18) + records.PAD_LENGTH.pack(7), 7)


def test_a_record_whose_size_differs_from_the_index_fails(vault):
    info = vault.put("recording", "r", b"x" * 1000)
    entry = vault._current_index().records[info.id]
    # The index says one byte less: the file is still the right length for its bucket, the length inside is not.
    vault._commit(lambda index: index.records.__setitem__(info.id, records.IndexEntry(
        info=records.RecordInfo(**{**info.__dict__, "size": 999}), file_id=entry.file_id, key_id=entry.key_id)))
    with pytest.raises(RecordDamaged):
        vault.get(info.id)
    with pytest.raises(RecordDamaged), vault.open_reader(info.id) as reader:
        reader.read()


def test_records_written_before_padding_still_open_and_a_rekey_pads_them(vault, monkeypatch):
    unpadded = lambda key, ctx, chunks: records.seal_stream(key, ctx, chunks, file_type=records.FILE_RECORD)  # noqa: E731
    monkeypatch.setattr(records, "seal_record", unpadded)  # what the reader wrote before version 2
    data = bytes(range(256)) * 700  # 179 200 bytes: three segments, the last one partial
    old = vault.put("recording", "old", data, group="voice:oma")
    empty = vault.put("consent", "empty", b"")
    monkeypatch.undo()
    for info in (old, empty):
        assert _file(vault, info.id).stat().st_size == records.sealed_size(info.size)  # unpadded, version 1
        assert _file(vault, info.id).read_bytes()[4:6] == b"\0\1"
    new = vault.put("recording", "new", data, group="voice:oma")
    assert _file(vault, new.id).read_bytes()[4:6] == b"\0\2"
    with Vault.open(vault.folder, PASS) as again:
        for info, expected in ((old, data), (empty, b""), (new, data)):
            assert again.get(info.id) == expected
            with again.open_reader(info.id) as reader:
                reader.seek(100_000)
                assert reader.read(10) == expected[100_000:100_010]
        assert again.check() == []
        again.rekey(PASS, kdf_params=FAST)
        assert _file(again, old.id).stat().st_size == _file(again, new.id).stat().st_size
        assert again.get(old.id) == data and again.get(empty.id) == b""


def test_the_index_is_padded_too(vault):
    sizes = set()
    for i in range(12):
        vault.put("consent", f"n{i}", b"x")
        sizes.add((vault.folder / "index").stat().st_size)
    assert len(sizes) <= 5  # twelve different indexes (of 1 to 12 records), five sizes at most
    for size in sizes:
        plain = size - records.STREAM_HEADER_BYTES - records.SEGMENT_OVERHEAD
        assert plain & (plain - 1) == 0


def test_padding_overhead_on_real_recordings(tmp_path, speakers, encoder):
    """The figures for the README: what padding costs on an enrolled voice of real speech."""
    from reader.voices.consent import Consent
    from reader.voices.enroll import Clip, VoiceBook

    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST) as vault:
        VoiceBook(vault).enroll("joe", [Clip(c, f"take {i}") for i, c in enumerate(speakers["joe"][:3])],
                                Consent.now("joe", "Joe", "a test"), encoder)
        plain = stored = 0
        for info in vault.list():
            on_disk = _file(vault, info.id).stat().st_size
            unpadded = records.sealed_size(info.size)
            print(f"{info.kind} {info.name}: {info.size} bytes ({info.size / PCM_BYTES_A_SECOND:.2f} s), "
                  f"{unpadded} -> {on_disk} on disk (+{(on_disk - unpadded) / unpadded:.1%})")
            plain, stored = plain + unpadded, stored + on_disk
            if info.kind == "recording":
                assert on_disk - unpadded <= records.SEGMENT_BYTES + 2 * records.SEGMENT_OVERHEAD
        print(f"all: {plain} -> {stored} bytes (+{(stored - plain) / plain:.1%})")
        assert stored < 1.5 * plain


BACKUP_PASS = "backup of the padding"


def _backup_of(tmp_path, name: str, recording: bytes) -> tuple[Vault, "Path"]:
    v = Vault.create(tmp_path / f"vault-{name}", PASS, kdf_params=FAST)
    v.put("recording", "clip", recording, group="voice:oma", meta={"sample_rate": 16000})
    v.put("consent", "consent", b"yes")
    path = tmp_path / f"{name}.rvb"
    v.export(path, BACKUP_PASS, kdf_params=FAST)
    return v, path


def test_a_backups_size_tells_its_recordings_length_only_to_a_bucket(tmp_path):
    short = b"\x11" * (5 * PCM_BYTES_A_SECOND)
    longer = b"\x22" * int(5.9 * PCM_BYTES_A_SECOND)
    much_longer = b"\x33" * (12 * PCM_BYTES_A_SECOND)
    _, a = _backup_of(tmp_path, "a", short)
    _, b = _backup_of(tmp_path, "b", longer)
    _, c = _backup_of(tmp_path, "c", much_longer)
    assert a.stat().st_size == b.stat().st_size
    assert c.stat().st_size > a.stat().st_size
    for path, clip in ((a, short), (b, longer)):  # and each imports whole
        with Vault.create(tmp_path / f"into-{path.stem}", PASS, kdf_params=FAST) as fresh:
            fresh.import_(path, BACKUP_PASS)
            (info,) = [i for i in fresh.list() if i.kind == "recording"]
            assert fresh.get(info.id) == clip and fresh.check() == []


def test_a_backup_written_before_padding_still_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(records, "BACKUP_PADDED_VERSION", 1)
    monkeypatch.setattr(records, "padding_frames", lambda content: iter(()))
    source, path = _backup_of(tmp_path, "old", b"\x44" * 50_000)
    monkeypatch.undo()
    assert path.read_bytes()[records.KEY_HEADER_BYTES + 4:records.KEY_HEADER_BYTES + 6] == b"\0\1"
    with Vault.create(tmp_path / "into", PASS, kdf_params=FAST) as fresh:
        report = fresh.import_(path, BACKUP_PASS)
        assert len(report.added) == 2
        assert sorted(fresh.get(i.id) for i in fresh.list()) == sorted(source.get(i.id) for i in source.list())


def test_padding_that_hides_data_is_refused_and_nothing_is_imported(tmp_path, monkeypatch):
    monkeypatch.setattr(records, "padding_frames",
                        lambda content: iter([records.FRAME_PADDING + (4).to_bytes(4, "big"), b"\0\0\1\0"]))
    _, path = _backup_of(tmp_path, "hidden", b"\x55" * 1000)
    monkeypatch.undo()
    from reader.vault.errors import BackupError

    with Vault.create(tmp_path / "into", PASS, kdf_params=FAST) as fresh:
        mine = fresh.put("preset", "mine", b"keep me")
        with pytest.raises(BackupError, match="nothing was imported"):
            fresh.import_(path, BACKUP_PASS)
        assert fresh.list() == [mine] and fresh.check() == []


def test_a_backup_stream_of_a_newer_version_is_too_new_and_a_padded_record_version_is_damage():
    from reader.vault.errors import VaultTooNew

    newer = records.StreamHeader(records.FILE_BACKUP, version=records.FORMAT_VERSION + 1).to_bytes()
    with pytest.raises(VaultTooNew):
        records.StreamHeader.parse(newer, file_type=records.FILE_BACKUP)
    as_record = records.StreamHeader(records.FILE_BACKUP, version=records.PADDED_VERSION).to_bytes()
    with pytest.raises(DamagedData):
        records.StreamHeader.parse(as_record, file_type=records.FILE_BACKUP)
    assert records.StreamHeader.parse(records.StreamHeader(records.FILE_BACKUP, version=3).to_bytes(),
                                      file_type=records.FILE_BACKUP).version == 3
