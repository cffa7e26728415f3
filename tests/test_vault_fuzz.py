"""Fuzzing the vault's parsers with hypothesis: arbitrary bytes and mutated valid files give a VaultError
(and a mutated file never opens), never any other exception."""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reader.vault import crypto, records
from reader.vault.crypto import KdfParams, SecretKey
from reader.vault.errors import VaultError
from reader.vault.store import Vault

FAST = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
PASS = "fuzz passphrase"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_E2E = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """`original` after 1-4 random edits: bit flips, byte sets, cuts, insertions, appended or dropped tails."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "append"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        else:
            data += draw(st.binary(min_size=1, max_size=100))
    return bytes(data)


def _only_vault_errors(call) -> object:
    try:
        return call()
    except VaultError:
        return None


# --- key headers ------------------------------------------------------------------------------------

HEADER = records.KeyHeader(file_type=records.FILE_VAULT_HEADER, vault_id=bytes(range(16)), kdf=FAST,
                           salt=b"s" * 16, wrapped_key=b"w" * crypto.WRAPPED_KEY_BYTES).to_bytes()


@FUZZ
@given(st.binary(max_size=2 * records.KEY_HEADER_BYTES) | st.binary(max_size=200).map(lambda b: b"RVLT\0\1" + b))
def test_key_header_arbitrary_bytes(data):
    for file_type in records.KEY_HEADER_FILE_TYPES:
        _only_vault_errors(lambda: records.KeyHeader.parse(data, file_type=file_type))


@FUZZ
@given(mutated(HEADER))
def test_key_header_mutated(data):
    parsed = _only_vault_errors(lambda: records.KeyHeader.parse(data, file_type=records.FILE_VAULT_HEADER))
    if data != HEADER:
        assert parsed is None  # the checksum catches every accidental change


@FUZZ
@given(mutated(HEADER[:-32]))
def test_key_header_forged_with_checksum(body):
    """A forger who fixes the checksum still gets only sane, bounded parameters through."""
    parsed = _only_vault_errors(lambda: records.KeyHeader.parse(body + hashlib.sha256(body).digest(),
                                                                file_type=records.FILE_VAULT_HEADER))
    if parsed is not None:
        assert parsed.kdf.memory_kib <= crypto.MAX_MEMORY_KIB and parsed.kdf.iterations <= crypto.MAX_ITERATIONS
        assert len(parsed.salt) == crypto.SALT_BYTES and len(parsed.wrapped_key) == crypto.WRAPPED_KEY_BYTES


# --- sealed streams ---------------------------------------------------------------------------------

KEY = SecretKey(bytearray(range(32)))
CTX = records.StreamContext(vault_id=b"v" * 16, record_id="r" * 32, kind="recording", file_id="f" * 32)
SMALL_SEGMENTS = records.MIN_SEGMENT_BYTES  # small segments: many of them in a few KB, so mutations hit framing
PLAIN = bytes(range(256)) * 13
SEALED = b"".join(records.seal_stream(KEY, CTX, [PLAIN], file_type=records.FILE_RECORD,
                                      segment_bytes=SMALL_SEGMENTS))


def _open(data: bytes, expected_size: int | None = None) -> bytes:
    return b"".join(records.open_stream(KEY, CTX, io.BytesIO(data), file_type=records.FILE_RECORD,
                                        expected_size=expected_size))


def test_sealed_fixture_round_trips():
    assert _open(SEALED, len(PLAIN)) == PLAIN


@FUZZ
@given(st.binary(max_size=300) | st.binary(max_size=3000).map(lambda b: SEALED[:records.STREAM_HEADER_BYTES] + b))
def test_stream_arbitrary_bytes(data):
    assert _only_vault_errors(lambda: _open(data)) is None  # random bytes never authenticate
    _only_vault_errors(lambda: records.StreamHeader.parse(data[:records.STREAM_HEADER_BYTES],
                                                          file_type=records.FILE_RECORD))


@FUZZ
@given(mutated(SEALED))
def test_stream_mutated(data):
    out = _only_vault_errors(lambda: _open(data))
    if data != SEALED:
        assert out is None


@FUZZ
@given(st.binary(max_size=2000))
def test_backup_frames_arbitrary_bytes(data):
    reader = records.ChunkReader(iter([data[:500], data[500:]]))
    _only_vault_errors(lambda: [records.read_frame_head(reader) for _ in range(5)])


# --- the index --------------------------------------------------------------------------------------

VAULT_ID = b"i" * 16
VALID_INDEX = {
    "format": 1, "vault_id": VAULT_ID.hex(),
    "records": [{"id": "a" * 32, "kind": "recording", "name": "grandma-1", "group": "grandma", "meta": {"sr": 1},
                 "created": 1.0, "updated": 2.0, "size": 10, "file": "b" * 32, "key": "c" * 32},
                {"id": "d" * 32, "kind": "preset", "name": "warm", "group": None, "meta": {},
                 "created": 1.0, "updated": 2.0, "size": 0, "file": "e" * 32, "key": "f" * 32}],
    "groups": {"grandma": "c" * 32},
    "keys": {"c" * 32: "A" * 80, "f" * 32: "B" * 80},
}


def test_valid_index_fixture_parses():
    index = records.parse_index(json.dumps(VALID_INDEX).encode(), vault_id=VAULT_ID)
    assert len(index.records) == 2 and index.to_bytes()


@FUZZ
@given(st.binary(max_size=500) | json_values.map(lambda v: json.dumps(v).encode()))
def test_index_arbitrary(data):
    _only_vault_errors(lambda: records.parse_index(data, vault_id=VAULT_ID))


@st.composite
def perturbed_index(draw) -> bytes:
    """The valid index with one field (at any depth) replaced by an arbitrary JSON value, or removed."""
    doc = copy.deepcopy(VALID_INDEX)
    paths = [("format",), ("vault_id",), ("records",), ("groups",), ("keys",)]
    for i in range(2):
        paths += [("records", i, k) for k in VALID_INDEX["records"][i]]
    path = draw(st.sampled_from(paths))
    target = doc
    for step in path[:-1]:
        target = target[step]
    if draw(st.booleans()):
        target[path[-1]] = draw(json_values)
    else:
        del target[path[-1]]
    return json.dumps(doc).encode()


@FUZZ
@given(perturbed_index() | mutated(json.dumps(VALID_INDEX).encode()))
def test_index_perturbed(data):
    _only_vault_errors(lambda: records.parse_index(data, vault_id=VAULT_ID))


# --- end to end: a real vault's files, mutated -------------------------------------------------------


def _cheap_kek(passphrase: str, salt: bytes, params: KdfParams) -> SecretKey:
    """A stand-in for Argon2id so forged headers with 1 GiB parameters cost nothing here."""
    return SecretKey(bytearray(hmac.new(salt, passphrase.encode(), hashlib.sha256).digest()))


@pytest.fixture
def sample_vault(tmp_path, monkeypatch):
    monkeypatch.setattr("reader.vault.header.derive_kek", _cheap_kek)
    v = Vault.create(tmp_path / "vault", PASS, kdf_params=FAST)
    a = v.put("recording", "grandma-1", bytes(range(256)) * 300, group="grandma")
    v.put("preset", "warm", b"{}")
    v.export(tmp_path / "backup.rvb", "backup pass", kdf_params=FAST)
    return v, a


@FUZZ_E2E
@given(data=st.data())
def test_vault_files_mutated(sample_vault, data):
    v, a = sample_vault
    folder = v.folder
    (record_file,) = [p for p in (folder / "records").glob("*.rec") if p.stat().st_size > 1000]
    backup = folder.parent / "backup.rvb"
    target = data.draw(st.sampled_from(["header", "header-forged", "index", "record", "backup"]))
    path = {"header": folder / "header", "header-forged": folder / "header", "index": folder / "index",
            "record": record_file, "backup": backup}[target]
    original = path.read_bytes()
    if target == "header-forged":
        body = data.draw(mutated(original[:-32]))
        changed = body + hashlib.sha256(body).digest()
    else:
        changed = data.draw(mutated(original))
    path.write_bytes(changed)
    try:
        if target == "backup":
            fresh_folder = folder.parent / "fresh"
            fresh = Vault.open(fresh_folder, PASS) if Vault.exists(fresh_folder) else \
                Vault.create(fresh_folder, PASS, kdf_params=FAST)
            before = fresh.list()
            if _only_vault_errors(lambda: fresh.import_(backup, "backup pass")) is None:
                assert fresh.list() == before  # nothing merged
                assert changed != original
            else:
                for info in fresh.list():
                    fresh.delete(info.id)
        else:
            opened = _only_vault_errors(lambda: Vault.open(folder, PASS))
            if target != "record":
                assert (opened is None) == (changed != original)  # header and index: any change is caught
            if opened is not None:
                got = _only_vault_errors(lambda: opened.get(a.id))
                assert (got is None) == (changed != original)
                _only_vault_errors(opened.check)
                opened.lock()
    finally:
        path.write_bytes(original)
