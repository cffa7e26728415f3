"""Which Mandarin voice sounds most like each English voice (and back), by our speaker encoder (GE2E).

Each speakable voice of the rich pack reads its own language's sample sentence from the catalogue; the
pairs are the most similar voice of the other language and the same gender. Prints the `pairs` list for
voices/catalogue.toml (the default pair first) and the similarities. Run after `make setup`:
`.venv/bin/python bench/voice_pairs.py` (about a minute and a half on 2 cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

RICH, ENCODER = "kokoro-int8", "ge2e-speaker"


def measure() -> tuple[dict, dict[tuple[str, str], float]]:
    import numpy as np

    from reader.settings import Settings
    from reader.speech import features, packs
    from reader.speech.pipeline import Pipeline
    from reader.speech.speaker import SpeakerStage

    found = {m.name: path for path, m in packs.find_packs()}
    settings = Settings.load()
    pipeline = Pipeline.load(packs.open_pack(found[RICH]), settings)
    encoder = SpeakerStage.load(packs.open_pack(found[ENCODER]), threads=settings.threads)
    m = pipeline.manifest
    voices = {v.id: v for v in m.voices if v.speakable}
    emb = {}
    for vid, v in voices.items():
        lang = v.language.split("-")[0]
        audio, _ = pipeline.render(m.voice_samples[lang], lang=lang, voice=pipeline.voice(vid), stream=False)
        emb[vid] = encoder.embed(features.to_16k(audio, pipeline.sample_rate), features.SAMPLE_RATE)
    sims = {(a, b): float(np.dot(emb[a], emb[b])) for a in voices for b in voices
            if voices[a].language[:2] == "en" and voices[b].language[:2] == "zh"}
    return voices, sims


def pairs(voices: dict, sims: dict[tuple[str, str], float], defaults: dict[str, str]) -> list[dict[str, str]]:
    """The default pair, then each Mandarin voice with its closest English voice, then each English voice
    not yet paired with its closest Mandarin voice (same gender). The first pair naming a voice decides
    its partner, so a voice's own best match comes before pairs that name it only as someone else's."""
    out = [{"en": defaults["en"], "zh": defaults["zh"]}]
    gender = {vid: v.gender for vid, v in voices.items()}
    en = [v for v in voices if voices[v].language.startswith("en")]
    zh = [v for v in voices if voices[v].language.startswith("zh")]
    for z in zh:
        if any(p["zh"] == z for p in out):
            continue
        best = max((e for e in en if gender[e] == gender[z]), key=lambda e: sims[e, z])
        out.append({"en": best, "zh": z})
    for e in en:
        if any(p["en"] == e for p in out):
            continue
        best = max((z for z in zh if gender[z] == gender[e]), key=lambda z: sims[e, z])
        out.append({"en": e, "zh": best})
    return out


def main() -> int:
    from reader.speech import packs

    voices, sims = measure()
    manifest = next(m for _, m in packs.find_packs() if m.name == RICH)
    result = pairs(voices, sims, manifest.default_voices)
    print("pairs = [")
    for p in result:
        print(f'  {{ gender = "{voices[p["en"]].gender}", en = "{p["en"]}", zh = "{p["zh"]}" }},'
              f'  # GE2E {sims[p["en"], p["zh"]]:.3f}')
    print("]")
    same = [s for (a, b), s in sims.items() if voices[a].gender == voices[b].gender]
    other = [s for (a, b), s in sims.items() if voices[a].gender != voices[b].gender]
    print(f"# same gender: mean {sum(same) / len(same):.3f}; across genders: mean {sum(other) / len(other):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
