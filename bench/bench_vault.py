"""Speed of the voice vault: unlock with the default Argon2id cost, and sealed write/read of a 10 MB blob.
Run as `python bench/bench_vault.py [--json]`; `bench_vault()` returns the rows."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

from bench.rows import print_rows  # noqa: E402
from reader.vault.crypto import KdfParams  # noqa: E402
from reader.vault.store import Vault  # noqa: E402

RUNS = 3
BLOB_BYTES = 10 * 1000 * 1000  # "10 MB", about a minute of 48 kHz float32 mono audio
PASSPHRASE = "benchmark passphrase"


def _row(measure: str, value: float, unit: str) -> dict:
    return {"pack": "vault", "measure": measure, "value": round(value, 3), "unit": unit}


def bench_vault() -> list[dict]:
    """Median of RUNS: unlock (Argon2id with the defaults + unwrap + index), put and get of BLOB_BYTES."""
    blob = os.urandom(BLOB_BYTES)
    with tempfile.TemporaryDirectory(prefix="bench-vault-") as tmp:
        folder = Path(tmp) / "vault"
        Vault.create(folder, PASSPHRASE, kdf_params=KdfParams()).lock()
        unlock, write, read = [], [], []
        for _ in range(RUNS):
            start = time.perf_counter()
            vault = Vault.open(folder, PASSPHRASE)
            unlock.append(time.perf_counter() - start)
            start = time.perf_counter()
            info = vault.put("recording", "bench", blob)  # includes fsync of file and folder, and the index
            write.append(time.perf_counter() - start)
            start = time.perf_counter()
            got = vault.get(info.id)
            read.append(time.perf_counter() - start)
            if got != blob:
                raise RuntimeError("the vault returned different bytes")
            vault.lock()
    mb = BLOB_BYTES / 1e6
    return [
        _row("unlock_ms", 1000 * statistics.median(unlock), "ms"),
        _row("write_mb_s", mb / statistics.median(write), "MB/s"),
        _row("read_mb_s", mb / statistics.median(read), "MB/s"),
    ]


ARCHIVE_MINUTES = 10
ARCHIVE_RATE = 44_100
SEEKS = 9
# The child that streams the archived recording through the decoder, as playback does, and reports its peak
# memory (VmHWM: this process's own peak, not inherited) before and after.
_STREAM_CHILD = """
import sys, json
sys.path.insert(0, {root!r})
import soundfile as sf
from reader.vault.store import Vault
from reader.archive.store import ArchiveStore

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
with Vault.open({folder!r}, {passphrase!r}) as vault:
    store = ArchiveStore(vault)
    entry = store.entry({entry!r})
    before = hwm()
    with store.open_reader(entry) as reader, sf.SoundFile(reader) as decoder:
        frames = 0
        while True:
            block = decoder.read(entry.sample_rate, dtype="float32", always_2d=True)
            frames += len(block)
            if len(block) < entry.sample_rate:
                break
    print(json.dumps({{"before": before, "after": hwm(), "frames": frames}}))
"""


def bench_archive() -> list[dict]:
    """A 10-minute 44.1 kHz recording: archiving it (FLAC, sealed), a seek to a random point (decrypt and
    decode the first second there), and the memory that streaming all of it takes (a fresh process)."""
    import subprocess

    import numpy as np
    import soundfile as sf

    from reader.archive.store import ArchiveStore

    rng = np.random.default_rng(0)
    frames = ARCHIVE_MINUTES * 60 * ARCHIVE_RATE
    t = np.arange(frames) / ARCHIVE_RATE
    # Speech-like for FLAC: a wandering tone under noise (pure noise would not compress, a tone too well).
    signal = 0.3 * np.sin(2 * np.pi * (180 + 40 * np.sin(t / 3)) * t) + 0.05 * rng.normal(size=frames)
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        wav = Path(tmp) / "interview.wav"
        sf.write(wav, signal.astype(np.float32), ARCHIVE_RATE, subtype="PCM_16")
        del signal, t
        folder = Path(tmp) / "vault"
        Vault.create(folder, PASSPHRASE, kdf_params=KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)).lock()
        with Vault.open(folder, PASSPHRASE) as vault:
            store = ArchiveStore(vault)
            start = time.perf_counter()
            entry = store.add(wav, dialect="sichuanese", consent_by="bench")
            add_s = time.perf_counter() - start
            seeks = []
            with store.open_reader(entry) as reader, sf.SoundFile(reader) as decoder:
                for target in rng.integers(0, frames - ARCHIVE_RATE, SEEKS):
                    start = time.perf_counter()
                    decoder.seek(int(target))
                    decoder.read(ARCHIVE_RATE, dtype="float32")
                    seeks.append(time.perf_counter() - start)
        code = _STREAM_CHILD.format(root=str(Path(__file__).resolve().parent.parent), folder=str(folder),
                                    passphrase=PASSPHRASE, entry=entry.id)
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
        if child.returncode != 0:
            raise RuntimeError(f"the streaming child failed: {child.stderr[-500:]}")
        peak = json.loads(child.stdout.strip().splitlines()[-1])
        if peak["frames"] != frames:
            raise RuntimeError("the streamed recording has another length than the archived one")
    return [
        _row("archive_add_10min_s", add_s, "s"),
        _row("archive_seek_ms", 1000 * statistics.median(seeks), "ms"),
        # Peak memory of the whole streaming process, and how much streaming added to what it had before.
        _row("archive_stream_10min_peak_mb", peak["after"], "MB"),
        _row("archive_stream_10min_extra_mb", peak["after"] - peak["before"], "MB"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    args = parser.parse_args(argv)
    print_rows([*bench_vault(), *bench_archive()], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
