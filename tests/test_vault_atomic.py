"""Operations that write several records are atomic: `reader voices enroll` and `reader archive add`,
run as real CLI processes, are SIGKILLed just before and just after each rename they make; afterwards
the voice or the recording is there whole or not at all, and nothing the index does not name outlives
`vault check --repair`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from reader.archive.records import AUDIO_KIND, META_KIND, ArchiveEntry
from reader.archive.store import ArchiveStore
from reader.vault.crypto import KdfParams
from reader.vault.store import Vault
from reader.voices.enroll import VoiceBook
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

FAST = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
PASS = "atomic test passphrase"
VOICE = "Oma Kill"

# `python -m reader ARGS`, killed by its own hand at the KILL_AT-th rename (os.replace and os.rename),
# just before it (the temp file complete and fsynced) or just after it: what strace's
# `-e inject=rename:signal=KILL:when=N` does, without strace.
KILLED_CLI = r"""
import os, runpy, signal, sys
kill_at, when = int(os.environ["KILL_AT"]), os.environ["KILL_WHEN"]
calls = [0]
def hooked(real):
    def rename(src, dst, *a, **kw):
        calls[0] += 1
        if calls[0] == kill_at and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst, *a, **kw)
        if calls[0] == kill_at and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
    return rename
os.replace, os.rename = hooked(os.replace), hooked(os.rename)
sys.argv = ["reader", *sys.argv[1:]]
runpy.run_module("reader", run_name="__main__")
"""


@pytest.fixture
def home(reader_home, tmp_path) -> tuple[Path, Path]:
    Vault.create(reader_home / "vault", PASS, kdf_params=FAST).lock()
    passfile = tmp_path / "pass"
    passfile.write_text(PASS + "\n")
    passfile.chmod(0o600)
    return reader_home, passfile


def _killed(home: Path, kill_at: int, when: str, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "READER_HOME": str(home), "KILL_AT": str(kill_at), "KILL_WHEN": when,
           "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-c", KILLED_CLI, *argv], capture_output=True, env=env, cwd=ROOT,
                          timeout=300)


def _no_orphans(vault: Vault) -> None:
    """After a repair, the records folder holds exactly the files the index names."""
    vault.check(repair=True, min_age_s=0)
    assert vault.check() == []
    assert len(list((vault.folder / "records").iterdir())) == len(vault.list())


def _kill_at_every_rename(home: Path, argv: list[str], look) -> tuple[int, set]:
    """Run the command killed at rename 1, 2, ... (before and after) until it completes; `look(vault)`
    says what state the vault is in after each. Returns the renames counted and the states seen."""
    seen = set()
    for kill_at in range(1, 40):
        for when in ("before", "after"):
            result = _killed(home, kill_at, when, *argv)
            with Vault.open(home / "vault", PASS) as vault:
                state = look(vault)
                seen.add(state)
                if result.returncode == 0:
                    assert state == "whole", result.stderr.decode()
                    return kill_at - 1, seen
                assert result.returncode == -signal.SIGKILL, result.stderr.decode()
                if state == "whole":  # killed after the commit: tidy up for the next round
                    look.undo(vault)
                _no_orphans(vault)
    raise AssertionError("the command never completed")


def test_enroll_killed_at_every_rename_leaves_the_whole_voice_or_none(home, joe_files):
    home, passfile = home
    argv = ["voices", "enroll", VOICE, "--from", *map(str, joe_files[:3]), "--consent-by", "Oma",
            "--purpose", "bedtime stories", "--no-preset", "--passphrase-file", str(passfile)]

    def look(vault: Vault) -> str:
        book = VoiceBook(vault)
        if not book.exists(VOICE):
            assert [i for i in vault.list() if (i.group or "").startswith("voice:")] == []
            return "none"
        kinds = sorted(i.kind for i in book.records(VOICE))
        assert kinds == ["consent", "embedding", "recording", "recording", "recording"], kinds
        assert book.embedding(VOICE).shape == (256,)
        assert len(book.recordings(VOICE)) == 3
        return "whole"

    look.undo = lambda vault: VoiceBook(vault).delete(VOICE)
    renames, seen = _kill_at_every_rename(home, argv, look)
    assert seen == {"none", "whole"} and renames >= 6  # consent, 3 recordings, embedding, the index


def test_archive_add_killed_at_every_rename_leaves_the_recording_or_nothing(home, tmp_path):
    home, passfile = home
    wav = tmp_path / "oma.wav"
    t = np.arange(22050) / 22050
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 22050, subtype="PCM_16")
    argv = ["archive", "add", str(wav), "--dialect", "Sichuanese", "--consent-by", "Oma",
            "--passphrase-file", str(passfile)]

    def look(vault: Vault) -> str:
        infos = vault.list()
        if not infos:
            assert vault.groups() == []
            return "none"
        assert sorted(i.kind for i in infos) == [AUDIO_KIND, META_KIND]
        entry = ArchiveStore(vault).entries()
        assert len(entry) == 1 and isinstance(entry[0], ArchiveEntry)
        assert ArchiveStore(vault).flac(entry[0])
        return "whole"

    look.undo = lambda vault: ArchiveStore(vault).remove(ArchiveStore(vault).entries()[0].id)
    renames, seen = _kill_at_every_rename(home, argv, look)
    assert seen == {"none", "whole"} and renames >= 3  # audio, description, the index


def test_files_of_an_interrupted_transaction_are_invisible_and_collected_at_open(tmp_path):
    vault = Vault.create(tmp_path / "v", PASS, kdf_params=FAST)
    tx = vault.transaction()
    tx.put("recording", "clip-1", b"x" * 1000, group="voice:half")
    tx.put("consent", "consent", b"yes", group="voice:half")
    assert vault.list() == [] and vault.groups() == []  # nothing visible before the commit
    files = list((vault.folder / "records").iterdir())
    assert len(files) == 2
    vault.lock()  # as a crash would leave it: files written, no index naming them
    for path in files:
        os.utime(path, (1, 1))  # old enough to be nobody's write in progress
    with Vault.open(tmp_path / "v", PASS) as again:
        assert list((again.folder / "records").iterdir()) == []
        assert again.check() == []


def test_a_failed_transaction_leaves_nothing(tmp_path):
    with Vault.create(tmp_path / "v", PASS, kdf_params=FAST) as vault:
        with pytest.raises(RuntimeError):
            with vault.transaction() as tx:
                tx.put("recording", "a", b"1", group="g")
                raise RuntimeError("stop")
        assert vault.list() == [] and vault.groups() == []
        assert list((vault.folder / "records").iterdir()) == []
        with vault.transaction() as tx:
            tx.put("recording", "a", b"1", group="g")
            tx.put("recording", "b", b"2", group="g")
            tx.discard("recording", "b", "g")
            tx.put("recording", "a", b"3", group="g")  # replaces the earlier put of this transaction
        assert [(i.name, vault.get(i.id)) for i in vault.list()] == [("a", b"3")]
        assert len(list((vault.folder / "records").iterdir())) == 1
