"""The reader as a person uses it: time from pressing play to the first sound at the device, and the
app's peak memory, with each speaking pack. Measured in a fresh process on the paced device.
Run as `python bench/bench_app.py`; prints one JSON line per measure."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout

from bench.bench_player import run_on_paced_device  # noqa: E402
from bench.bench_speech import peak_rss_mb  # noqa: E402

SAMPLE = ROOT / "reader" / "data" / "sample.md"
RUNS = 5
READ_SECONDS = 20.0  # long enough to reach the Chinese part and the plateau of a session's memory
# The paced device stalls about 1.5 s after a new stream's first blocks; wait that out before timing.
DEVICE_SETTLE_CALLBACKS = 40


def _row(pack: str, measure: str, value: float, unit: str) -> dict:
    return {"pack": pack, "measure": measure, "value": round(value, 3), "unit": unit}


def _wait(predicate, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return False


def pipeline_languages(pack: str) -> tuple[str, ...]:
    from reader.speech import packs

    return next(tuple(m.languages) for _, m in packs.find_packs() if m.name == pack)


def _measure(pack: str) -> list[dict]:
    from reader.reading import ReadingSession
    from reader.text.sentences import detect_lang
    from reader.settings import Settings
    from reader.text.extract import load_document

    home = Path(tempfile.mkdtemp(prefix="reader-bench-"))
    document = load_document(SAMPLE)
    if "zh" not in pipeline_languages(pack):
        # An English-only voice reads an English document: Chinese would bring in the other pack.
        from reader.text.extract import document_from_text

        english = "\n\n".join(b.text for b in document.blocks if detect_lang(b.text) == "en")
        document = document_from_text(english, source="bench", title="English sample")
    session = ReadingSession(document, Settings(home=home), self_voicing=False)
    synth = session.synthesizer()
    pipeline = synth.pipeline(pack)
    session.set_voice(pipeline.default_voice())
    pipeline.warm_up()
    player = session._ensure_player()
    _wait(lambda: player.stats().callbacks >= DEVICE_SETTLE_CALLBACKS, 10)
    first: list[float] = []
    for run in range(RUNS):
        # A different sentence each run, so a position left over from the last run cannot count.
        start = 2 * run + 1
        session.move_to(start)
        t0 = time.perf_counter()
        session.play()  # what the space bar does
        if not _wait(lambda: player.position().sentence_id == start and player.position().sample_in_sentence > 0,
                     30):
            raise RuntimeError("no sound reached the device within 30 s")
        first.append((time.perf_counter() - t0) * 1000)
        session.stop()
        time.sleep(0.3)
    session.play()
    time.sleep(READ_SECONDS)
    session.close()
    peak = peak_rss_mb()
    return [_row(pack, "app_play_to_sound_ms", statistics.median(first), "ms"),
            _row(pack, "app_peak_rss_mb", peak, "MB")]


def bench_app(pack: str) -> list[dict]:
    return run_on_paced_device([__file__, "--child", pack], label=pack, timeout=300)


def main() -> None:
    if "--child" in sys.argv:
        rows = _measure(sys.argv[sys.argv.index("--child") + 1])
    else:
        rows = [row for pack in sys.argv[1:] or ["piper-joe-en", "kokoro-int8"] for row in bench_app(pack)]
    for row in rows:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
