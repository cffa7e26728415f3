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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    args = parser.parse_args(argv)
    for row in bench_vault():
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{row['pack']:>18}  {row['measure']:<26} {row['value']:>10.3f} {row['unit']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
