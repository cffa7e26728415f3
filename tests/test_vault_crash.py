"""Crash safety: a real process writing to the vault is SIGKILLed (at random moments, and exactly before
and after each rename); the vault then opens, check() finds no damage, and every listed record reads."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import time

import pytest

from reader.vault.crypto import KdfParams
from reader.vault.store import Vault
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

FAST = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
PASS = "crash test passphrase"

# The writer: puts (whole and streamed, new and replacing), deletes records and groups, forever. Each
# record's meta holds the SHA-256 of its data, so the test can tell a record file from the wrong write.
WRITER = r"""
import hashlib, os, random, signal, sys
from pathlib import Path
from reader.vault.store import Vault

folder, seed, kill_at, when = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if kill_at:
    real_replace, calls = os.replace, [0]
    def replace(src, dst):
        calls[0] += 1
        if calls[0] == kill_at and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
        if calls[0] == kill_at and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
vault = Vault.open(folder, sys.argv[5])
rng = random.Random(seed)
print("ready", flush=True)
i = 0
while True:
    i += 1
    group = rng.choice(["grandma", "grandpa", "aunt", None])
    data = rng.randbytes(rng.choice([0, 100, 5000, 70_000, 200_000]))
    meta = {"sha256": hashlib.sha256(data).hexdigest(), "n": i}
    op = rng.random()
    if op < 0.55:
        vault.put("recording", f"take-{rng.randrange(12)}", data, group=group, meta=meta)
    elif op < 0.8:
        pieces = [data[j:j + 3000] for j in range(0, len(data), 3000)]
        vault.put_stream("recording", f"live-{rng.randrange(6)}", iter(pieces), group=group, meta=meta)
    elif op < 0.95:
        listed = vault.list()
        if listed:
            vault.delete(rng.choice(listed).id)
    else:
        groups = vault.groups()
        if groups:
            vault.delete_group(rng.choice(groups))
"""


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "vault"
    v = Vault.create(path, PASS, kdf_params=FAST)
    v.put("consent", "grandma consent", b"signed", meta={"sha256": hashlib.sha256(b"signed").hexdigest()})
    v.lock()
    return path


def _start(folder, seed: int, kill_at: int = 0, when: str = "") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(seed), str(kill_at), when or "-", PASS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)


def _assert_consistent(folder) -> None:
    vault = Vault.open(folder, PASS)
    problems = vault.check()
    assert [p.message for p in problems if p.is_damage] == []
    for info in vault.list():
        assert hashlib.sha256(vault.get(info.id)).hexdigest() == info.meta["sha256"], info
    vault.lock()


def test_sigkill_at_random_moments(folder):
    rng = random.Random(20240501)
    for iteration in range(8):
        proc = _start(folder, seed=iteration)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rng.uniform(0.02, 0.6))
        assert proc.poll() is None, proc.stderr.read()  # still writing when killed
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _assert_consistent(folder)
    vault = Vault.open(folder, PASS)
    assert len(vault.list()) >= 1
    vault.check(repair=True, min_age_s=0)  # leftovers of the kills go
    assert vault.check() == []


@pytest.mark.parametrize("when", ["before", "after"])
def test_sigkill_exactly_at_each_rename(folder, when):
    """Killed just before a rename (the temp file is complete and fsynced) or just after it (the index may
    not name the new record yet): both leave the old state or the new, never a mix."""
    for kill_at in range(1, 9):
        proc = _start(folder, seed=100 + kill_at, kill_at=kill_at, when=when)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        _assert_consistent(folder)
    vault = Vault.open(folder, PASS)
    vault.check(repair=True, min_age_s=0)
    assert vault.check() == []
