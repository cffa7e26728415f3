"""Calibration of the voice-recording checks (reader/voices/quality.py) on degraded speech: which clips
are refused or warned about, how the single-speaker score spreads for one voice and for two, and whether
an embedding enrolled from a degraded clip still verifies against a clean clip of the same speaker.

    .venv/bin/python -m tests.calibrate_voice_quality [--json OUT] [--speakers CACHE.npz]

Material: the bundled voices (Piper's Joe, several Kokoro voices and a blend) and, when installed, real
recordings (tests/voice_material.py: pyannote-audio's sample dialogue, codec2-examples' speech). Takes
about 6 minutes on two cores. Not collected by pytest."""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reader.speech import features  # noqa: E402
from reader.speech.speaker import similarity  # noqa: E402
from reader.voices import quality  # noqa: E402
from reader.voices.enroll import VERIFY_THRESHOLD, embed_clip, matched_embeddings, needs_matching  # noqa: E402
from tests import voice_material as vm  # noqa: E402

SR = vm.SR
KOKORO_VOICES = ("jm_kumo", "af_heart", "am_michael", "bf_emma", "zf_xiaoxiao")
KOKORO_TEXTS = ("The old lighthouse keeper climbed the stairs every evening to light the lamp for the ships.",
                "Please remember to water the tomatoes on the windowsill before you leave for work.")


def synthetic_speakers(cache: Path | None) -> dict[str, list[np.ndarray]]:
    """speaker -> clean 16 kHz clips of the bundled voices (rendered, or read from `cache`)."""
    if cache is not None and cache.is_file():
        data = dict(np.load(cache))
    else:
        import tempfile

        from reader.settings import Settings
        from reader.speech import packs
        from reader.speech.pipeline import Pipeline
        from tests.speakers import BLEND, JOE_SENTENCES, pack_dir

        settings = Settings(home=Path(tempfile.mkdtemp()))
        joe = Pipeline.load(packs.open_pack(pack_dir("piper-joe-en")), settings)
        kokoro = Pipeline.load(packs.open_pack(pack_dir("kokoro-int8")), settings)
        data = {}
        pause = np.zeros(int(0.3 * joe.sample_rate), np.float32)
        for i, (a, b) in enumerate(JOE_SENTENCES):
            x, _ = joe.render(a, lang="en", stream=False)
            y, _ = joe.render(b, lang="en", stream=False)
            data[f"joe{i}"] = features.to_16k(np.concatenate([x, pause, y]), joe.sample_rate)
        for v in KOKORO_VOICES + (BLEND,):
            for j, text in enumerate(KOKORO_TEXTS):
                x, _ = kokoro.render(text, lang="en", voice=kokoro.voice(v), stream=False)
                data[f"{'blend' if v == BLEND else v}{j}"] = features.to_16k(x, kokoro.sample_rate)
        if cache is not None:
            np.savez(cache, **data)
    out: dict[str, list[np.ndarray]] = {}
    for key in sorted(data):
        out.setdefault(key.rstrip("0123456789"), []).append(np.asarray(data[key], np.float32))
    return out


def real_speakers() -> tuple[dict[str, list[np.ndarray]], dict[str, np.ndarray]]:
    """(speaker -> clips of one real voice, name -> real clips of two or more voices)."""
    import soundfile

    single: dict[str, list[np.ndarray]] = {}
    several: dict[str, np.ndarray] = {}
    sample = vm.pyannote_sample()
    if sample is not None:
        x, rate = soundfile.read(str(sample), dtype="float32")
        x = features.to_16k(x, rate)
        # Diane speaks 8.3 s alone: one clip (verified against its own clean version); Sheila 9.2 s: two.
        single["diane"] = [vm.stretches(x, vm.DIANE)]
        single["sheila"] = [vm.stretches(x, vm.SHEILA[1:]), vm.stretches(x, vm.SHEILA[:1])]
        several["pyannote dialogue"] = x
        several["diane then sheila"] = vm.one_then_other(vm.stretches(x, vm.DIANE), vm.stretches(x, vm.SHEILA))
    if vm.CODEC2_WAV.is_dir():
        def load(name: str) -> np.ndarray:
            y, r = soundfile.read(str(vm.CODEC2_WAV / name), dtype="float32")
            return features.to_16k(y, r)

        ve = load("ve9qrp.wav")  # one radio amateur, 112 s over HF: 12 s pieces
        single["ve9qrp"] = [ve[i * 12 * SR:(i + 1) * 12 * SR] for i in range(len(ve) // (12 * SR))]
        vk = load("vk5qi.wav")
        single["vk5qi"] = [vk[: len(vk) // 2], vk[len(vk) // 2:]]
        several["hts1a then hts2a"] = vm.one_then_other(load("hts1a.wav"), load("hts2a.wav"))
        several["codec2 all.wav"] = load("all.wav")
    return single, several


DEGRADE = {
    "clean": lambda x: x,
    "phone": lambda x: features.to_16k(vm.phone(x), vm.PHONE_RATE),
    "quiet -40": lambda x: vm.at_level(x, -40),
    "quiet -50": lambda x: vm.at_level(x, -50),
    "pink 15 dB": lambda x: vm.noisy(x, 15, "pink"),
    "pink 10 dB": lambda x: vm.noisy(x, 10, "pink"),
    "brown 10 dB": lambda x: vm.noisy(x, 10, "brown"),
    "white 15 dB": lambda x: vm.noisy(x, 15, "white"),
    "reverb 0.4 s": lambda x: vm.reverberant(x, 0.4),
    "reverb 0.8 s": lambda x: vm.reverberant(x, 0.8),
    "reverb 0.6 s": lambda x: vm.reverberant(x, 0.6),
    "clip 0.2 %": lambda x: vm.clipped(x, 0.002),
    "clip 1 %": lambda x: vm.clipped(x, 0.01),
    "pauses": lambda x: vm.noisy(vm.with_pauses(x), 30, "pink"),
    "phone+pink 10+quiet": lambda x: vm.at_level(features.to_16k(vm.phone(vm.noisy(x, 10, "pink")), vm.PHONE_RATE), -42),
    "reverb 0.6+pink 15": lambda x: vm.noisy(vm.reverberant(x, 0.6), 15, "pink"),
}
REFUSE = {
    "clip 20x": lambda x: np.clip(vm.at_level(x, -23) * 20, -1, 1).astype(np.float32),  # a normal level, +26 dB
}


def split_stats(encoder, speech: np.ndarray) -> dict:
    """Candidate two-voice scores over consecutive 2 s parts of the speech."""
    size = int(quality.PART_S * SR)
    n = len(speech) // size
    if n < 2:
        return {}
    parts = [quality.embed_any_length(encoder, speech[i * size:(i + 1) * size]) for i in range(n)]
    E = np.array(parts, dtype=np.float64)
    sims = E @ E.T
    cut = min(similarity(E[:k].mean(0), E[k:].mean(0)) for k in range(1, n))
    best = 1.0
    if n <= 14:
        for size_a in range(1, n // 2 + 1):
            for a in combinations(range(n), size_a):
                b = [i for i in range(n) if i not in a]
                best = min(best, similarity(E[list(a)].mean(0), E[b].mean(0)))
    return {"cut_all": cut, "partition": best, "min_pair": float(sims[np.triu_indices(n, 1)].min()), "parts": n}


def run(encoder, cache: Path | None) -> dict:
    synth = synthetic_speakers(cache)
    real_single, real_several = real_speakers()
    speakers = {**synth, **real_single}
    rows = []
    t0 = time.perf_counter()
    # One voice, every degradation; verify against another clean clip of the same speaker (or the same
    # clip's clean version where there is only one).
    for who, clips in speakers.items():
        clean = [quality.normalize(c, quality.assess(c)) for c in clips]
        clean_reports = [quality.assess(c) for c in clean]
        clean_embs = [embed_clip(encoder, c) for c in clean]
        for i, clip in enumerate(clips):
            j = (i + 1) % len(clips)
            for how, make in {**DEGRADE, **REFUSE}.items():
                y = make(clip)
                report = quality.assess(y, encoder=encoder)
                row = {"speaker": who, "clip": i, "real": who in real_single, "how": how, "voices": 1,
                       "problems": [c for c, _ in report.problems], "warnings": [c for c, _ in report.warnings],
                       **report.as_dict()}
                if report.ok:  # enrolled from the degraded clip, verified with a clean one (as VoiceBook does)
                    y = quality.normalize(y, report)
                    if needs_matching(report, clean_reports[j]):
                        row["verify"] = similarity(*matched_embeddings(encoder, y, report, clean[j], clean_reports[j]))
                    else:
                        row["verify"] = similarity(embed_clip(encoder, y), clean_embs[j])
                    row["verify_unmatched"] = similarity(embed_clip(encoder, y), clean_embs[j])
                    row.update(split_stats(encoder, quality.speech_only(y)))
                rows.append(row)
    # Other people against a degraded enrollment, compared as VoiceBook.verify does (false "same").
    for who, clips in speakers.items():
        for how in ("clean", "phone", "pink 15 dB", "pink 10 dB", "brown 10 dB", "quiet -50", "reverb 0.4 s"):
            y = DEGRADE[how](clips[0])
            report = quality.assess(y)
            if not report.ok:
                continue
            y = quality.normalize(y, report)
            for other, theirs in speakers.items():
                if other == who:
                    continue
                z = quality.normalize(theirs[0], quality.assess(theirs[0]))
                z_report = quality.assess(z)
                if needs_matching(report, z_report):
                    score = similarity(*matched_embeddings(encoder, y, report, z, z_report))
                else:
                    score = similarity(embed_clip(encoder, y), embed_clip(encoder, z))
                rows.append({"speaker": f"{who} vs {other}", "how": how, "voices": -1, "impostor": score,
                             "real": who in real_single and other in real_single, "problems": [], "warnings": []})
    # Two voices: pairs of different speakers, three ways, clean and degraded.
    names = list(speakers)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    for a, b in pairs:
        x, y = speakers[a][0], speakers[b][0]
        for how, clip in {"one then other": vm.one_then_other(x, y), "taking turns": vm.taking_turns(x, y),
                          "talking over (second half)": vm.talking_over(x, y, 0.0, 0.5),
                          "talking over, -6 dB": vm.talking_over(x, y, -6.0, 0.3)}.items():
            for deg in ("clean", "pink 10 dB", "phone", "reverb 0.6 s"):
                z = DEGRADE[deg](clip)
                report = quality.assess(z, encoder=encoder)
                row = {"speaker": f"{a}+{b}", "how": f"{how} / {deg}", "voices": 2,
                       "real": a in real_single or b in real_single,
                       "problems": [c for c, _ in report.problems], "warnings": [c for c, _ in report.warnings],
                       **report.as_dict()}
                row.update(split_stats(encoder, quality.speech_only(z)))
                rows.append(row)
    for name, clip in real_several.items():
        for deg in ("clean", "pink 10 dB", "phone"):
            z = DEGRADE[deg](clip)
            report = quality.assess(z, encoder=encoder)
            row = {"speaker": name, "how": f"real / {deg}", "voices": 2, "real": True,
                   "problems": [c for c, _ in report.problems], "warnings": [c for c, _ in report.warnings],
                   **report.as_dict()}
            row.update(split_stats(encoder, quality.speech_only(z)))
            rows.append(row)
    # Nothing to enroll: silence, noise, modem signals, tones.
    rng = np.random.default_rng(7)
    empty = {"digital silence": np.zeros(8 * SR, np.float32),
             "dither": rng.normal(0, 3e-5, 8 * SR).astype(np.float32)}
    for kind in ("white", "pink", "brown"):
        for level in (-50, -30, -15):
            empty[f"{kind} noise {level} dBFS"] = vm.colored_noise(10 * SR, kind, 3) * 10 ** (level / 20)
    empty["1 kHz tone"] = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(8 * SR) / SR)).astype(np.float32)
    empty["hum 50 Hz + harmonics"] = sum((0.1 / k) * np.sin(2 * np.pi * 50 * k * np.arange(8 * SR) / SR)
                                         for k in range(1, 8)).astype(np.float32)
    bursts = vm.colored_noise(10 * SR, "pink", 4) * 0.01
    for s in range(0, 10 * SR, SR):  # a door, steps: bursts of loud noise
        bursts[s: s + SR // 4] *= 30
    empty["noise bursts"] = bursts
    if vm.CODEC2_WAV.is_dir():
        import soundfile

        for name in ("david4.wav", "vk2tpm_004.wav"):  # FreeDV modem audio, no speech
            z, r = soundfile.read(str(vm.CODEC2_WAV / name), dtype="float32")
            empty[f"codec2 {name}"] = features.to_16k(z, r)
    for name, clip in empty.items():
        report = quality.assess(clip, encoder=encoder)
        rows.append({"speaker": name, "how": "no speech", "voices": 0, "real": name.startswith("codec2"),
                     "problems": [c for c, _ in report.problems], "warnings": [c for c, _ in report.warnings],
                     **report.as_dict()})
    return {"rows": rows, "seconds": time.perf_counter() - t0, "verify_threshold": VERIFY_THRESHOLD}


def summarize(result: dict) -> str:
    rows = result["rows"]
    out = []
    one = [r for r in rows if r["voices"] == 1]
    out.append("One voice, by degradation: refused / n, warnings (count), verify min / median, part sim min")
    for how in list(DEGRADE) + list(REFUSE):
        sel = [r for r in one if r["how"] == how]
        refused = [r for r in sel if r["problems"]]
        warns: dict[str, int] = {}
        for r in sel:
            for w in r["warnings"]:
                warns[w] = warns.get(w, 0) + 1
        ver = [r["verify"] for r in sel if "verify" in r]
        parts = [r["part_similarity"] for r in sel if r.get("part_similarity") is not None]
        out.append(f"  {how:22s} refused {len(refused):2d}/{len(sel):2d} "
                   f"{sorted({p for r in refused for p in r['problems']})} warn {warns} "
                   f"verify min {min(ver, default=float('nan')):.3f} med {np.median(ver) if ver else float('nan'):.3f} "
                   f"(<{VERIFY_THRESHOLD}: {sum(v < VERIFY_THRESHOLD for v in ver)}) part min {min(parts, default=float('nan')):.3f}")
        for r in refused:
            if how not in REFUSE:
                out.append(f"      refused: {r['speaker']}#{r.get('clip')} {r['problems']} speech {r['speech_s']} "
                           f"voiced {r['voiced_s']} part {r['part_similarity']}")
    two = [r for r in rows if r["voices"] == 2]
    out.append(f"Two voices: refused as voices {sum('voices' in r['problems'] for r in two)}/{len(two)}")
    for how in sorted({r["how"].split(" / ")[0] for r in two}):
        sel = [r for r in two if r["how"].split(" / ")[0] == how]
        out.append(f"  {how:28s} caught {sum('voices' in r['problems'] for r in sel):3d}/{len(sel):3d} "
                   f"other refusals {sum(bool(r['problems']) and 'voices' not in r['problems'] for r in sel)}")
    for r in two:
        if r["real"] and r["how"].startswith("real"):
            out.append(f"    {r['speaker']} {r['how']}: {r['problems']} part {r['part_similarity']} "
                       f"partition {r.get('partition')}")
    imp = [r for r in rows if r["voices"] == -1]
    out.append(f"Other people against a degraded enrollment (threshold {VERIFY_THRESHOLD}): falsely 'same' / n, max")
    for how in sorted({r["how"] for r in imp}):
        sel = [r["impostor"] for r in imp if r["how"] == how]
        real = [r["impostor"] for r in imp if r["how"] == how and r["real"]]
        out.append(f"  {how:14s} {sum(v >= VERIFY_THRESHOLD for v in sel):3d}/{len(sel)} max {max(sel):.3f} "
                   f"median {np.median(sel):.3f}; real people only {sum(v >= VERIFY_THRESHOLD for v in real)}/{len(real)}")
    none = [r for r in rows if r["voices"] == 0]
    out.append(f"No speech: refused {sum(bool(r['problems']) for r in none)}/{len(none)}")
    for r in none:
        if not r["problems"]:
            out.append(f"    ACCEPTED {r['speaker']}: speech {r['speech_s']} voiced {r['voiced_s']}")
    out.append(f"({result['seconds']:.0f} s)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write every row here")
    parser.add_argument("--speakers", type=Path, help="cache the rendered bundled voices in this .npz")
    args = parser.parse_args(argv)
    from reader.speech import packs
    from reader.speech.speaker import SpeakerStage
    from tests.speakers import pack_dir

    encoder = SpeakerStage.load(packs.open_pack(pack_dir("ge2e-speaker")), threads=2)
    result = run(encoder, args.speakers)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))
    print(summarize(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
