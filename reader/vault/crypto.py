"""All cryptography of the voice vault in one place: Argon2id, AES-256-GCM sealing and key wrapping.
Keys live in bytearrays that `SecretKey.wipe()` zeroes; nothing else in the vault touches a cipher."""

from __future__ import annotations

import contextlib
import os
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from reader.vault.errors import DamagedData, VaultError, VaultLocked

# AES-256-GCM (NIST SP 800-38D): 256-bit keys, the recommended 96-bit nonce, the full 128-bit tag.
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# A key sealed by wrap_key: nonce, the encrypted key, tag.
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
# RFC 9106 section 3.1: a 128-bit salt is enough for all applications.
SALT_BYTES = 16

# RFC 9106 section 4, the second recommended option: Argon2id, 64 MiB, 3 passes. The RFC gives 4 lanes;
# we use 1 so the whole 64 MiB is one sequential chain (no cheaper for an attacker, a little slower for us).
# A new vault does not keep 3 passes: `calibrate` raises them until one unlock takes about CALIBRATE_TARGET_S
# on the machine that makes it (64 MiB x 3 was 109-237 ms a guess on the 2-core development machine).
DEFAULT_MEMORY_KIB = 64 * 1024
DEFAULT_ITERATIONS = 3
DEFAULT_LANES = 1
# Bounds for parameters read from a header (which may be hostile): the Argon2 minimum of 8 KiB a lane
# (RFC 9106 section 3.1), and ceilings that keep a forged header from tying up the machine. A header
# asking for 1 GiB and 12 passes took 7 s and 1 GB an unlock here; the ceilings allow at most 256 MiB and
# 2 GiB x passes of work (64 MiB x 32 passes: 1.2-2.5 s here), above anything `calibrate` makes.
MAX_MEMORY_KIB = 256 * 1024
MAX_WORK_KIB_PASSES = 64 * 1024 * 32
MAX_ITERATIONS = 32
MAX_LANES = 4
# Calibration: the unlock time aimed at (the 0.5-1 s), and the passes it may choose.
CALIBRATE_TARGET_S = 0.7
CALIBRATE_MIN_ITERATIONS = DEFAULT_ITERATIONS
# For tests and slow machines: "MEMORY_KIB:PASSES:LANES" (e.g. 8192:1:1) instead of calibrating. Documented
# in reader/vault/README.md; the ceilings above apply to it too.
KDF_ENV = "READER_VAULT_KDF"
# Argon2 takes passphrases up to 2^32 - 1 bytes; a human passphrase is far shorter, and a bound keeps a
# mistaken --passphrase-file (a video, say) from being hashed.
MAX_PASSPHRASE_BYTES = 4096


class KdfTooCostly(VaultError):
    """A header asks for more Argon2id memory or work than this reader allows (forged or damaged)."""


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: memory in KiB, passes over it, parallel lanes."""

    memory_kib: int = DEFAULT_MEMORY_KIB
    iterations: int = DEFAULT_ITERATIONS
    lanes: int = DEFAULT_LANES

    def __post_init__(self) -> None:
        for value in (self.memory_kib, self.iterations, self.lanes):
            if type(value) is not int:
                raise VaultError("The key-derivation parameters must be whole numbers.")
        if not 1 <= self.lanes or not 1 <= self.iterations or not 8 * self.lanes <= self.memory_kib:
            raise VaultError("Argon2id needs 1 pass and 1 lane or more, and 8 KiB of memory a lane.")
        if (self.memory_kib > MAX_MEMORY_KIB or self.iterations > MAX_ITERATIONS or self.lanes > MAX_LANES
                or self.memory_kib * self.iterations > MAX_WORK_KIB_PASSES):
            raise KdfTooCostly(
                f"Argon2id with {self.memory_kib // 1024} MiB, {self.iterations} passes and {self.lanes} lanes, "
                f"more than this reader allows ({MAX_MEMORY_KIB // 1024} MiB, {MAX_ITERATIONS} passes, "
                f"{MAX_LANES} lanes, {MAX_WORK_KIB_PASSES // 1024} MiB x passes), so it was refused.")

    @classmethod
    def from_env(cls) -> "KdfParams | None":
        """The parameters of $READER_VAULT_KDF ("MEMORY_KIB:PASSES:LANES"), or None when it is not set."""
        text = os.environ.get(KDF_ENV, "").strip()
        if not text:
            return None
        try:
            memory, passes, lanes = (int(x) for x in text.split(":"))
        except ValueError:
            raise VaultError(f"${KDF_ENV} must be MEMORY_KIB:PASSES:LANES, e.g. 65536:3:1.") from None
        return cls(memory_kib=memory, iterations=passes, lanes=lanes)


def calibrate(target_s: float = CALIBRATE_TARGET_S, *, memory_kib: int = DEFAULT_MEMORY_KIB,
              clock=None) -> KdfParams:  # noqa: ANN001 - clock: a perf_counter for tests
    """Argon2id parameters for a new vault: 64 MiB and as many passes as take about `target_s` here
    (at least 3, within the ceilings). An unlock costs a fixed part (filling the memory) and a part a
    pass; two timings, of 1 and 3 passes, give both (about 0.5 s on the development machine)."""
    import time

    clock = clock or time.perf_counter

    def timed(passes: int) -> float:
        probe = bytearray(KEY_BYTES)
        start = clock()
        Argon2id(salt=bytes(SALT_BYTES), length=KEY_BYTES, iterations=passes, lanes=DEFAULT_LANES,
                 memory_cost=memory_kib).derive_into(b"calibration", probe)
        return clock() - start

    one, three = timed(1), timed(3)
    per_pass = (three - one) / 2
    if per_pass <= 0:  # the machine was busier for the first timing: count all of it as passes
        per_pass = three / 3
    fixed = max(0.0, one - per_pass)
    most = min(MAX_ITERATIONS, MAX_WORK_KIB_PASSES // memory_kib)
    passes = max(CALIBRATE_MIN_ITERATIONS, min(most, round((target_s - fixed) / max(per_pass, 1e-4))))
    return KdfParams(memory_kib=memory_kib, iterations=passes, lanes=DEFAULT_LANES)


def new_vault_params() -> KdfParams:
    """What a new vault or backup uses when the caller gives nothing: $READER_VAULT_KDF, else calibrated."""
    return KdfParams.from_env() or calibrate()


def _random_into(buf: bytearray) -> None:
    """Fill `buf` from the OS generator without making an immutable bytes copy where the OS allows it."""
    try:
        with open("/dev/urandom", "rb", buffering=0) as source:
            view = memoryview(buf)
            filled = 0
            while filled < len(buf):
                got = source.readinto(view[filled:])
                if not got:
                    raise OSError("short read")
                filled += got
            return
    except OSError:
        pass
    buf[:] = os.urandom(len(buf))  # no /dev/urandom (Windows): a short-lived bytes copy is unavoidable


def random_bytes(n: int) -> bytes:
    """Random bytes that are not secret on their own (salts, ids, nonces)."""
    return os.urandom(n)


class SecretKey:
    """A 256-bit key in a bytearray with its AES-GCM context; `wipe()` zeroes the bytes and drops the context.

    The cipher context is made once, here, and never again, so a wipe racing with a user of the key can
    never leave a context built from zeroed bytes: after the wipe every use raises VaultLocked.
    """

    __slots__ = ("_buf", "_aead")

    def __init__(self, buf: bytearray) -> None:
        if not isinstance(buf, bytearray) or len(buf) != KEY_BYTES:
            raise VaultError("A vault key must be 32 bytes.")
        self._buf = buf
        # AESGCM copies the key into OpenSSL memory, which is cleansed when the context is freed.
        self._aead: AESGCM | None = AESGCM(buf)

    @classmethod
    def generate(cls) -> "SecretKey":
        buf = bytearray(KEY_BYTES)
        _random_into(buf)
        return cls(buf)

    @property
    def wiped(self) -> bool:
        return self._aead is None

    def wipe(self) -> None:
        self._aead = None
        for i in range(len(self._buf)):
            self._buf[i] = 0

    def equals(self, other: "SecretKey") -> bool:
        import hmac

        return not self.wiped and not other.wiped and hmac.compare_digest(self._buf, other._buf)

    def _cipher(self) -> AESGCM:
        aead = self._aead  # one read: a concurrent wipe makes it None, never a context of zeros
        if aead is None:
            raise VaultLocked()
        return aead

    def __del__(self) -> None:
        # A key that is merely dropped is zeroed too, not left in freed memory.
        with contextlib.suppress(Exception):
            self.wipe()

    def __repr__(self) -> str:
        return "SecretKey(wiped)" if self.wiped else "SecretKey(...)"

    def __reduce__(self):  # keys never leave the process, not even through pickle
        raise TypeError("a SecretKey cannot be pickled")


def derive_kek(passphrase: str, salt: bytes, params: KdfParams) -> SecretKey:
    """The key-encryption key: Argon2id(passphrase, salt) into a bytearray."""
    try:
        # NFC: "é" typed as one character or as e + accent (keyboards and systems differ) is one passphrase.
        secret = bytearray(unicodedata.normalize("NFC", passphrase), "utf-8")
    except (TypeError, UnicodeEncodeError):
        raise VaultError("The passphrase must be text that can be written as UTF-8.") from None
    try:
        if not secret:
            raise VaultError("An empty passphrase cannot unlock a vault.")
        if len(secret) > MAX_PASSPHRASE_BYTES:
            raise VaultError(f"A passphrase longer than {MAX_PASSPHRASE_BYTES} bytes is not accepted.")
        out = bytearray(KEY_BYTES)
        kdf = Argon2id(salt=bytes(salt), length=KEY_BYTES, iterations=params.iterations, lanes=params.lanes,
                       memory_cost=params.memory_kib)
        try:
            kdf.derive_into(secret, out)
        except MemoryError:
            raise VaultError("There is not enough memory to unlock the vault; close other programs and try again.") from None
        return SecretKey(out)
    finally:
        for i in range(len(secret)):
            secret[i] = 0


def seal(key: SecretKey, plaintext: bytes | memoryview, ad: bytes) -> bytes:
    """nonce || AES-256-GCM(plaintext, ad): a fresh random nonce for every call."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + key._cipher().encrypt(nonce, plaintext, ad)


def open_sealed(key: SecretKey, blob: bytes | memoryview, ad: bytes) -> bytes:
    """The plaintext of `seal`, or DamagedData when the tag (or the length) does not check out."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DamagedData()
    view = memoryview(blob)
    try:
        return key._cipher().decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], ad)
    except InvalidTag:
        raise DamagedData() from None


def wrap_key(kek: SecretKey, key: SecretKey, ad: bytes) -> bytes:
    """`key` sealed under `kek` (AES-GCM key wrap with associated data): WRAPPED_KEY_BYTES long."""
    if key.wiped:
        raise VaultLocked()
    return seal(kek, key._buf, ad)


def unwrap_key(kek: SecretKey, blob: bytes, ad: bytes) -> SecretKey:
    """The key sealed by `wrap_key`, decrypted straight into a bytearray; DamagedData on a bad tag."""
    if len(blob) != WRAPPED_KEY_BYTES:
        raise DamagedData()
    out = bytearray(KEY_BYTES)
    view = memoryview(blob)
    try:
        kek._cipher().decrypt_into(view[:NONCE_BYTES], view[NONCE_BYTES:], ad, out)
    except InvalidTag:
        for i in range(KEY_BYTES):
            out[i] = 0
        raise DamagedData() from None
    return SecretKey(out)
