"""All measurements: `run_all(pack)` yields {"pack", "measure", "value", "unit"} rows (text, then each pack).
Run as `python bench/run.py [--json] [--pack NAME]`; `reader bench` calls run_all."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

from bench import bench_app, bench_player, bench_speech, bench_text, bench_vault, bench_voices  # noqa: E402
from bench.rows import print_rows  # noqa: E402


def _speech_packs() -> list[tuple[str, str]]:
    """(name, tier) of installed packs, speaking packs first (fast, rich), then speaker encoders."""
    from reader.speech import packs

    found = [(m.name, m.tier if "acoustic" in m.stages else "speaker") for _, m in packs.find_packs()]
    order = {"fast": 0, "rich": 1, "speaker": 2}
    return sorted(found, key=lambda x: (order.get(x[1], 3), x[0]))


def run_all(pack: str | None = None) -> Iterator[dict]:
    """Rows of every measure; `pack` limits them to one pack ("text" for the text stage alone)."""
    if pack in (None, "text"):
        yield {"pack": "text", **bench_text.bench_split()}
    if pack in (None, "player"):
        yield from bench_player.bench_player()
    if pack in (None, "vault"):
        yield from bench_vault.bench_vault()
        yield from bench_vault.bench_archive()
    if pack in (None, "voices"):
        yield from bench_voices.bench_voices()
    for name, tier in _speech_packs():
        if pack not in (None, name):
            continue
        if tier == "speaker":
            yield from bench_speech.bench_speaker(name)
        else:
            yield from bench_speech.bench_pack(name)
            yield from bench_app.bench_app(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    parser.add_argument("--pack", help="only this pack (or 'text')")
    args = parser.parse_args(argv)
    print_rows(run_all(args.pack), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
