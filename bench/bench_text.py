"""Speed of the text stage: split ~1 MB of mixed English and Chinese into sentences (median of 5 runs).
Run as `python bench/bench_text.py`; prints one JSON line per measure."""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

from reader.text.sentences import split_sentences  # noqa: E402

RUNS = 5
SEED = 1234
# Paragraph lengths in sentences: short and long paragraphs, as in real documents.
MIN_PARAGRAPH, MAX_PARAGRAPH = 1, 8
# Now and then a sentence with no full stop at all, to exercise the long-sentence cutter.
LONG_SENTENCE_EVERY = 200

ENGLISH = [
    "Dr. Smith arrived at 3 p.m. and met Mr. Jones of Acme Inc. in Washington, D.C.",
    "The results (see Fig. 3) show a 1.5x speed-up over v2.0.1, i.e. about 50% more.",
    "Visit https://example.com/a.b?c=d. or write to user.name@example.co.uk for details.",
    "J. R. R. Tolkien wrote many books, e.g. The Hobbit, and he taught at Oxford.",
    '"Stop." he said, and then he asked, "Why?"',
    "Wait... what happened? Nobody knew!",
    "It costs $3.14, which is cheap, isn't it?!",
    "We bought apples, pears, plums, etc. The shop closed at 9 p.m.",
    "She lives on Baker St. near the U.S. embassy, and works for the U.K. government.",
    "1. First item",
]
CHINESE = [
    "我喜欢Python 3.12版本。它很好用！",
    "他说：“你好。”然后走了。",
    "真的吗？！是的……我不知道；也许吧。",
    "今天天气很好，我们去公园散步，看到了很多花。",
    "这是第１２３．５页的内容（参见图３）。",
    "在U.S.A.读书的时候，他学会了英语。",
]
LONG_ENGLISH = " ".join(["word"] * 400) + "."
LONG_CHINESE = "长" * 400 + "。"


def build_text(size_bytes: int, seed: int = SEED) -> str:
    """About size_bytes (UTF-8) of mixed English and Chinese paragraphs, separated by blank lines."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    size = 0
    count = 0
    while size < size_bytes:
        pool = ENGLISH if rng.random() < 0.6 else CHINESE
        joiner = " " if pool is ENGLISH else ""
        parts = []
        for _ in range(rng.randint(MIN_PARAGRAPH, MAX_PARAGRAPH)):
            count += 1
            if count % LONG_SENTENCE_EVERY == 0:
                parts.append(LONG_ENGLISH if pool is ENGLISH else LONG_CHINESE)
            else:
                parts.append(rng.choice(pool))
            # Now and then a single newline inside a paragraph, as in hard-wrapped text.
            parts.append("\n" if rng.random() < 0.1 else joiner)
        paragraph = "".join(parts).strip()
        paragraphs.append(paragraph)
        size += len(paragraph.encode("utf-8")) + 2
    return "\n\n".join(paragraphs)


def bench_split(size_bytes: int = 1_000_000) -> dict:
    """Median time to split ~size_bytes of mixed text into sentences, in milliseconds."""
    text = build_text(size_bytes)
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        split_sentences(text)
        times.append((time.perf_counter() - t0) * 1000)
    return {"measure": "split_1mb_ms", "value": round(statistics.median(times), 1), "unit": "ms"}


def main() -> None:
    print(json.dumps(bench_split()))


if __name__ == "__main__":
    main()
