"""Family voices: enrolling 3 clips, fitting a Kokoro preset, and how close the fit gets by both encoders.
Run as `python bench/bench_voices.py [--json]`; `bench_voices()` returns the rows."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

from bench.rows import print_rows  # noqa: E402
from reader.settings import Settings  # noqa: E402
from reader.speech import features, packs  # noqa: E402
from reader.speech.pipeline import Pipeline  # noqa: E402
from reader.speech.speaker import SpeakerStage  # noqa: E402
from reader.vault.crypto import KdfParams  # noqa: E402
from reader.vault.store import Vault  # noqa: E402
from reader.voices import fit  # noqa: E402
from reader.voices.consent import Consent  # noqa: E402
from reader.voices.enroll import VERIFY_THRESHOLD, Clip, VoiceBook, unit_mean  # noqa: E402

PASSPHRASE = "benchmark passphrase"
# The enrolled "person": a blend of two of Kokoro's styles, which no single stock style matches, read
# in three sentences of ~5 s (3 s of speech or more each, as enrollment requires).
TARGET = "jf_alpha:0.5,jm_kumo:0.5"
SENTENCES = (
    "The old lighthouse keeper climbed the stairs every evening to light the lamp for the ships.",
    "Please remember to water the tomatoes on the windowsill before you leave for work.",
    "My grandmother kept every letter she ever received in a small wooden box under her bed.",
)


def _row(measure: str, value: float, unit: str) -> dict:
    return {"pack": "voices", "measure": measure, "value": round(float(value), 4), "unit": unit}


def _pack(name: str) -> Path:
    for path, manifest in packs.find_packs(packs.default_pack_dirs()):
        if manifest.name == name:
            return path
    raise SystemExit(f"the pack {name} is not built; run `reader packs build`")


def bench_voices() -> list[dict]:
    """Enroll the target (quality checks, embeddings, sealed writes), then fit a preset within the default
    trial budget starting from an empty stock-voice cache, as a first enrollment does."""
    with tempfile.TemporaryDirectory(prefix="bench-voices-") as tmp:
        settings = Settings(home=Path(tmp))
        kokoro = Pipeline.load(packs.open_pack(_pack("kokoro-int8")), settings)
        encoder = SpeakerStage.load(packs.open_pack(_pack("ge2e-speaker")), threads=settings.threads)
        judge = SpeakerStage.load(packs.open_pack(_pack("voicefilter-judge")), threads=settings.threads)
        kokoro.warm_up()
        voice = kokoro.voice(TARGET)
        clips = [features.to_16k(kokoro.render(s, lang="en", voice=voice, stream=False)[0], kokoro.sample_rate)
                 for s in SENTENCES]
        encoder.embed(clips[0], features.SAMPLE_RATE)  # load the encoder before timing
        with Vault.create(Path(tmp) / "vault", PASSPHRASE, kdf_params=KdfParams(8 * 1024, 1, 1)) as vault:
            book = VoiceBook(vault)
            start = time.perf_counter()
            result = book.enroll("bench", [Clip(c, f"clip {i}") for i, c in enumerate(clips, 1)],
                                 Consent.now("bench", "bench", "benchmark"), encoder)
            enroll_ms = (time.perf_counter() - start) * 1000
            target_judge = unit_mean(judge.embed(c, features.SAMPLE_RATE) for c in clips)
            fitted = fit.fit_preset(kokoro, encoder, result.embedding, judge=judge, target_judge=target_judge,
                                    stock_cache=fit.StockCache(Path(tmp) / "cache", "bench"))
            book.store_preset("bench", fitted)
    return [
        _row("enrollment_ms", enroll_ms, "ms"),
        _row("fitting_ms", fitted.fitting_ms, "ms"),
        _row("fitting_trials", fitted.trials, "syntheses"),
        _row("similarity_before_ge2e", fitted.stock_similarity, "cosine"),
        _row("similarity_after_ge2e", fitted.similarity, "cosine"),
        _row("similarity_before_judge", fitted.stock_judge, "cosine"),
        _row("similarity_after_judge", fitted.judge, "cosine"),
        _row("verify_threshold", VERIFY_THRESHOLD, "cosine"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    args = parser.parse_args(argv)
    print_rows(bench_voices(), args.json, decimals=4, pack_width=8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
