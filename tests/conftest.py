"""Every test gets its own READER_HOME in a temp folder: nothing a test does touches the user's files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.speakers import encoder, joe_files, judge, kokoro, speakers, speech_settings  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def reader_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("reader_home")
    monkeypatch.setenv("READER_HOME", str(home))
    # New vaults calibrate Argon2id to ~0.7 s an unlock; tests use the cheapest cost (reader/vault/README.md).
    monkeypatch.setenv("READER_VAULT_KDF", "8192:1:1")
    # `reader say` speaks in its own process in tests, unless a test of the speech service asks for one
    # (else each would start a resident service that outlives it).
    monkeypatch.setenv("READER_SERVICE", "off")
    return home


@pytest.fixture
def run_cli(reader_home):
    """Run `python -m reader ARGS` in a subprocess, as a user would, and return the CompletedProcess."""
    import subprocess

    def run(*args: str, input: bytes | str | None = None, env: dict | None = None, timeout: float = 120):
        full_env = {**os.environ, "READER_HOME": str(reader_home), "PYTHONIOENCODING": "utf-8"}
        full_env.update(env or {})
        if isinstance(input, str):
            input = input.encode("utf-8")
        return subprocess.run(
            [sys.executable, "-m", "reader", *args],
            input=input, capture_output=True, env=full_env, timeout=timeout, cwd=ROOT,
        )

    return run
