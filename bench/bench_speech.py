"""Speed and memory of each speech pack: load time, first audio, real-time factor, stage shares, peak RSS.

`python bench/bench_speech.py --fresh PACK` is the measuring entry point run in a fresh process: it loads
the pack, synthesizes a paragraph and prints one JSON line with load_ms and peak_rss_mb (VmHWM).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout

SHORT = "Hello, how are you today?"
SHORT_ZH = "你好，今天天气很好。"  # for packs that read Chinese, with their default Mandarin voice
PARAGRAPH = (
    "Reading aloud is a skill that takes practice. The reader must see the words ahead of the voice, "
    "and shape each sentence so that the listener hears its meaning, not just its sounds. "
    "Good readers vary their pace, pause at commas, and let the voice fall at the end of a statement."
)
# Varied running text for the real-time factor; about 15-20 s of speech per pass.
RUNNING_TEXT = [
    "The library opens at nine in the morning and closes at six in the evening.",
    "Most visitors come for the newspapers, but some stay all day with a stack of old novels.",
    "On rainy afternoons the reading room fills up quickly, and every chair by the window is taken.",
    "The librarian knows almost everyone by name, and she remembers which books they liked.",
    "Children's story time is on Saturdays, when the small room at the back gets very loud indeed.",
]
RUNS = 5  # first-audio runs per measure (median)
FRESH_RUNS = 3  # fresh processes for load time and peak memory (median)
# Audio per real-time-factor run, by tier: the rich pack decodes at ~0.5x real time here, so ~20 s of
# speech a run keeps three runs (one minute of speech) within ~35 s; the fast pack gets ~40 s a run.
RTF_PASSES = {"fast": 3, "rich": 1}
RTF_RUNS = 3
FAST_RATE = 3.0  # screen-reader users listen at 2.5-3.5x


def _load(name: str):
    from reader.settings import Settings
    from reader.speech import packs
    from reader.speech.pipeline import Pipeline

    for path, manifest in packs.find_packs():
        if manifest.name == name:
            settings = Settings.load()
            pipeline = Pipeline.load(packs.open_pack(path), settings)
            pipeline.warm_up()
            return pipeline, manifest
    raise SystemExit(f"no pack named {name}")


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a
    "fresh" child started by a large benchmark process would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def fresh_measure(name: str) -> dict:
    """In this (fresh) process: time to a ready pack, then a paragraph, then the peak RSS."""
    t0 = time.perf_counter()
    pipeline, _ = _load(name)
    load_ms = (time.perf_counter() - t0) * 1000
    for sentence in _sentences(PARAGRAPH):
        for _ in pipeline.synthesize(sentence, lang="en"):
            pass
    peak_mb = peak_rss_mb()
    return {"load_ms": load_ms, "peak_rss_mb": peak_mb}


def growth_measure(name: str) -> dict:
    """In this (fresh) process: peak memory after reading RUNNING_TEXT once, and how much reading it a
    second time added. Every sentence has its own length, so a per-shape cache would keep growing."""
    pipeline, _ = _load(name)
    peaks = []
    for _ in range(2):
        for sentence in RUNNING_TEXT:
            for _ in pipeline.synthesize(sentence, lang="en"):
                pass
        peaks.append(peak_rss_mb())
    return {"peak_rss_reading_mb": peaks[0], "second_pass_growth_mb": peaks[1] - peaks[0]}


def _sentences(text: str) -> list[str]:
    from reader.text.sentences import split_sentences

    return [text[a:b] for a, b in split_sentences(text)]


def _fresh(name: str, mode: str = "--fresh") -> dict:
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), mode, name],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"fresh measurement of {name} failed: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _first_audio_ms(synth, text: str, rate: float | None = None, lang: str = "en") -> float:
    """From the request to the first chunk ready, through the streaming synthesizer; then stop."""
    from reader.speech.synthesizer import SpeechText, SynthesisOptions

    sentences = [SpeechText(i, s, lang) for i, s in enumerate(_sentences(text))]
    t0 = time.perf_counter()
    stream = synth.stream(sentences, SynthesisOptions(rate=rate))
    next(stream)
    ms = (time.perf_counter() - t0) * 1000
    synth.cancel()
    stream.close()
    synth.join(5)
    return ms


def bench_pack(name: str) -> Iterator[dict]:
    """Rows for one speech pack (each value a median of several runs)."""
    from reader.speech.synthesizer import Synthesizer

    fresh = [_fresh(name) for _ in range(FRESH_RUNS)]
    row = lambda measure, value, unit: {"pack": name, "measure": measure, "value": round(float(value), 3),
                                        "unit": unit}
    yield row("load_ms", statistics.median(f["load_ms"] for f in fresh), "ms")
    yield row("peak_rss_mb", statistics.median(f["peak_rss_mb"] for f in fresh), "MB")
    growth = _fresh(name, "--growth")
    yield row("peak_rss_reading_mb", growth["peak_rss_reading_mb"], "MB")
    yield row("second_pass_growth_mb", growth["second_pass_growth_mb"], "MB")

    pipeline, manifest = _load(name)
    synth = Synthesizer({name: pipeline})
    yield row("first_audio_short_ms", statistics.median(_first_audio_ms(synth, SHORT) for _ in range(RUNS)), "ms")
    yield row("first_audio_paragraph_ms",
              statistics.median(_first_audio_ms(synth, PARAGRAPH) for _ in range(RUNS)), "ms")
    if "zh" in pipeline.languages:
        pipeline.warm_up(("zh",))
        yield row("first_audio_short_zh_ms",
                  statistics.median(_first_audio_ms(synth, SHORT_ZH, lang="zh") for _ in range(RUNS)), "ms")

    # A fast rate: the model does MODEL_RATE_MAX of it, the time stretch the rest (bench/bench_rate.py
    # measures how intelligible that is).
    yield row("first_audio_short_r3_ms",
              statistics.median(_first_audio_ms(synth, SHORT, rate=FAST_RATE) for _ in range(RUNS)), "ms")
    yield from _fast_rate_rows(pipeline, row)

    passes = RTF_PASSES.get(manifest.tier, 1)
    text = RUNNING_TEXT * passes
    rtfs = []
    totals = {"speaker": 0.0, "acoustic": 0.0, "vocoder": 0.0}
    for _ in range(RTF_RUNS):
        work = audio = 0.0
        for sentence in text:
            t0 = time.perf_counter()
            for chunk in pipeline.synthesize(sentence, lang="en"):
                if chunk.last:
                    times = chunk.times
            work += time.perf_counter() - t0
            audio += times.audio_s
            totals["speaker"] += times.speaker_ms
            totals["acoustic"] += times.acoustic_ms
            totals["vocoder"] += times.vocoder_ms
        rtfs.append(work / audio)
    yield row("rtf", statistics.median(rtfs), "x")
    yield row("rtf_audio_s", audio, "s")
    total = sum(totals.values()) or 1.0
    # The speaker encoder runs only when a voice is cloned from a recording; stock voices use none.
    for stage in ("speaker", "acoustic", "vocoder"):
        yield row(f"share_{stage}", totals[stage] / total, "fraction")


def _fast_rate_rows(pipeline, row) -> Iterator[dict]:
    """At FAST_RATE: the speed-up reached (audio at 1.0 over audio at FAST_RATE), the stretch's time per
    chunk and the real-time factor (fewer model frames, but each second of speech has more text)."""
    from reader.speech.prosody import Prosody

    normal = fast = work = stretch = 0.0
    chunks = 0
    for sentence in RUNNING_TEXT:
        normal += pipeline.render(sentence, lang="en")[1].audio_s
        t0 = time.perf_counter()
        for chunk in pipeline.synthesize(sentence, lang="en", prosody=Prosody(rate=FAST_RATE)):
            chunks += 1
            if chunk.last:
                times = chunk.times
        work += time.perf_counter() - t0
        fast += times.audio_s
        stretch += times.stretch_ms
    yield row("r3_speedup", normal / fast, "x")
    yield row("r3_stretch_ms_per_chunk", stretch / max(chunks, 1), "ms")
    yield row("r3_rtf", work / fast, "x")


def bench_speaker(name: str) -> Iterator[dict]:
    """A speaker-encoder pack: time to embed 3 s of speech-like audio (median of RUNS)."""
    import numpy as np

    from reader.speech import packs
    from reader.speech.speaker import SpeakerStage

    path = next(p for p, m in packs.find_packs() if m.name == name)
    stage = SpeakerStage.load(packs.open_pack(path))
    rate = 16_000
    t = np.arange(3 * rate) / rate
    wav = (0.3 * sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 10))).astype(np.float32)
    stage.embed(wav, rate)
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        stage.embed(wav, rate)
        times.append((time.perf_counter() - t0) * 1000)
    yield {"pack": name, "measure": "embed_3s_ms", "value": round(statistics.median(times), 3), "unit": "ms"}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fresh":
        print(json.dumps(fresh_measure(sys.argv[2])))
    elif len(sys.argv) == 3 and sys.argv[1] == "--growth":
        print(json.dumps(growth_measure(sys.argv[2])))
    else:
        for name in sys.argv[1:]:
            for r in bench_pack(name):
                print(json.dumps(r))
