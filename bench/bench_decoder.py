"""The rich pack's decoder (Kokoro's vocoder stage), A/B: the upstream int8 graph against graph edits and
onnxruntime session options, on the windows the pipeline really decodes, plus how close each sounds.

Variants are built here from the wheels (reader.speech.build.kokoro, reader.speech.build.dequant):
  upstream   the decoder as kokoro-onnx exported it (ConvInteger, activations quantized at run time)
  matmul     what the pack ships: each ConvInteger as an unfolded u8 x s8 MatMulInteger (same int8 numbers)
  fp32       each ConvInteger as a float Conv on the dequantized weights (no activation quantization)
  fp32-2d    the same as 2-D convolutions of height 1, so onnxruntime's blocked (NCHWc) kernels take them
  snake      matmul, with each Snake activation's sin(alpha x)^2 as a polynomial (reader.speech.build.snake)
and `NAME@OPTION` runs a variant with one session option changed: ext (ORT_ENABLE_EXTENDED instead of
ALL), t1 (one intra-op thread), noarena (no CPU memory arena), parallel (ORT_PARALLEL, 2 inter-op threads).

Timing is interleaved finely: every window is decoded by each variant in turn, the order rotating, so
load from other work falls on all alike; figures are medians over rounds (wall and process CPU time).
Quality: on whole sentences (English and Chinese), the log-mel distance (mean |dB|) and waveform SNR
against the upstream decoder and against the fp32 rendering; `--whisper` adds a recognizer round trip
(faster-whisper with Whisper base, see bench/bench_rate.py): word/character errors per variant.

`--pipeline` instead reads the sentences through the whole pipeline (streaming windows, as the app
does) with the installed pack against a copy of it whose vocoder is the upstream one, alternating
sentence by sentence: real-time factor and first audio (times.first_audio_ms) per pack, medians.

`.venv/bin/python bench/bench_decoder.py [--rounds 3] [--variants upstream,matmul,fp32] [--whisper]`
`.venv/bin/python bench/bench_decoder.py --pipeline [--rounds 3]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

RICH = "kokoro-int8"
SENTENCES = {
    "en": ["The library opens at nine in the morning and closes at six in the evening.",
           "Most visitors come for the newspapers, but some stay all day with a stack of old novels.",
           "Could you call Doctor Patel before nine thirty tomorrow morning?"],
    "zh": ["我们明天早上八点在银行门口见面，好吗？", "这条路太长了，走了两个小时，我真受不了。"],
}
DEFAULT_VARIANTS = "upstream,matmul,fp32,fp32-2d,matmul@ext,matmul@t1,matmul@noarena,matmul@parallel"
INPUTS = ("features", "f0", "energy", "style")


def build_variants(folder: Path, names: set[str]) -> dict[str, Path]:
    """The decoder variants as files in `folder`, cut from the wheels' Kokoro model like the recipe does."""
    import onnx

    from reader.speech.build import common, dequant, kokoro, snake

    blob = b"".join(common.require(d, m).file("part.bin").read_bytes() for d, m in kokoro.PART_PACKAGES)
    _, upstream = kokoro._split(onnx.load_from_string(blob))
    data = upstream.SerializeToString()
    edits = {"upstream": lambda m: None, "matmul": dequant.convs_as_matmul, "fp32": dequant.float_convs,
             "fp32-2d": lambda m: (dequant.float_convs(m), dequant.convs_as_2d(m)),
             "snake": lambda m: (dequant.convs_as_matmul(m), snake.snake_as_polynomial(m))}
    paths = {}
    for name, edit in edits.items():
        if name not in names:
            continue
        model = onnx.load_from_string(data)
        edit(model)
        paths[name] = folder / f"{name}.onnx"
        onnx.save(model, str(paths[name]))
    return paths


def session(path: Path, option: str):
    import onnxruntime as ort

    from reader.speech.runtime import session_options

    options = session_options(2)
    if option == "ext":
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    elif option == "t1":
        options.intra_op_num_threads = 1
    elif option == "noarena":
        options.enable_cpu_mem_arena = False
    elif option == "parallel":
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        options.inter_op_num_threads = 2
    elif option:
        raise SystemExit(f"unknown option {option!r}")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def capture_feeds() -> tuple[list[dict], list[tuple[str, str, dict]]]:
    """(the windows the pipeline decodes, whole sentences as (lang, text, feeds)) from the installed pack."""
    from bench.bench_rate import _pipeline
    from reader.speech import vocoder as stage

    pipeline = _pipeline(RICH)
    pipeline.warm_up(("en", "zh"))
    windows, wholes, seen = [], [], []
    real = stage.VocoderStage._run

    def spy(self, frames, a, b, control):
        seen.append(self._feeds(frames, a, b))
        return real(self, frames, a, b, control)

    stage.VocoderStage._run = spy
    try:
        for lang, texts in SENTENCES.items():
            for text in texts:
                del seen[:]
                for _ in pipeline.synthesize(text, lang=lang, stream=False):
                    pass
                wholes.extend((lang, text, f) for f in seen)
                del seen[:]
                for _ in pipeline.synthesize(text, lang=lang):
                    pass
                windows.extend(seen)
    finally:
        stage.VocoderStage._run = real
    return windows, wholes


def time_variants(sessions: dict, windows: list[dict], rounds: int) -> dict[str, dict[str, float]]:
    names = list(sessions)
    wall = {n: [0.0] * rounds for n in names}
    cpu = {n: [0.0] * rounds for n in names}
    for s in sessions.values():
        s.run(None, windows[0])
    turn = 0
    for r in range(rounds):
        for feeds in windows:
            order = names[turn % len(names):] + names[:turn % len(names)]
            turn += 1
            for n in order:
                t0, c0 = time.perf_counter(), time.process_time()
                sessions[n].run(None, feeds)
                wall[n][r] += time.perf_counter() - t0
                cpu[n][r] += time.process_time() - c0
    audio_s = sum(f["features"].shape[-1] for f in windows) * 600 / 24_000
    return {n: {"wall_s": statistics.median(wall[n]), "cpu_s": statistics.median(cpu[n]),
                "rtf": statistics.median(wall[n]) / audio_s, "audio_s": audio_s} for n in names}


def upstream_pack(folder: Path) -> Path:
    """A copy of the installed rich pack whose vocoder is the upstream graph (manifest hashes updated)."""
    import json
    import shutil

    from reader.speech import packs
    from reader.speech.build.common import sha256_bytes

    source = next(p for p, m in packs.find_packs() if m.name == RICH)
    dest = folder / "packs" / RICH
    shutil.copytree(source, dest)
    (dest / "vocoder.onnx").unlink()
    paths = build_variants(folder, {"upstream"})
    data = paths["upstream"].read_bytes()
    (dest / "vocoder.onnx").write_bytes(data)
    manifest = json.loads((dest / packs.MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest["stages"]["vocoder"].update(sha256=sha256_bytes(data), bytes=len(data), graph="")
    (dest / packs.MANIFEST_NAME).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return dest


def pipeline_ab(rounds: int) -> None:
    from bench.bench_speech import RUNNING_TEXT
    from reader.settings import Settings
    from reader.speech import packs
    from reader.speech.pipeline import Pipeline

    with tempfile.TemporaryDirectory() as tmp:
        pipelines = {"installed pack": Pipeline.load(packs.open_pack(next(p for p, m in packs.find_packs()
                                                                          if m.name == RICH)), Settings.load()),
                     "upstream": Pipeline.load(packs.open_pack(upstream_pack(Path(tmp))), Settings.load())}
        for p in pipelines.values():
            p.warm_up(("en", "zh"))
        texts = [(t, "en") for t in RUNNING_TEXT] + [(t, "zh") for t in SENTENCES["zh"]]
        work = {n: [0.0] * rounds for n in pipelines}
        audio = {n: [0.0] * rounds for n in pipelines}
        first = {n: [] for n in pipelines}
        names = list(pipelines)
        for r in range(rounds):
            for i, (text, lang) in enumerate(texts):
                for n in names if (r + i) % 2 == 0 else names[::-1]:
                    t0 = time.perf_counter()
                    for chunk in pipelines[n].synthesize(text, lang=lang):
                        if chunk.last:
                            times = chunk.times
                    work[n][r] += time.perf_counter() - t0
                    audio[n][r] += times.audio_s
                    first[n].append(times.first_audio_ms)
        print(f"pipeline, {len(texts)} sentences x {rounds} rounds, alternating packs sentence by sentence:")
        for n in names:
            rtf = statistics.median(w / a for w, a in zip(work[n], audio[n]))
            print(f"  {n:14} RTF {rtf:.3f}  first audio median {statistics.median(first[n]):.0f} ms")


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(float(np.sum((reference - other) ** 2)), 1e-20)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    parser.add_argument("--whisper", action="store_true", help="recognizer round trip on the whole sentences")
    parser.add_argument("--pipeline", action="store_true", help="the whole pipeline, pack against upstream")
    args = parser.parse_args(argv)
    if args.pipeline:
        pipeline_ab(args.rounds)
        return 0
    from reader.speech.build.piper import logmel_distance

    names = args.variants.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        paths = build_variants(Path(tmp), {n.split("@")[0] for n in names} | {"upstream", "fp32"})
        windows, wholes = capture_feeds()
        sessions = {n: session(paths[n.split("@")[0]], n.partition("@")[2]) for n in names}
        print(f"{len(windows)} windows, {sum(f['features'].shape[-1] for f in windows) * 600 / 24_000:.1f} s of "
              f"audio, {args.rounds} rounds, interleaved")
        times = time_variants(sessions, windows, args.rounds)
        base = times[names[0]]
        for n in names:
            t = times[n]
            print(f"  {n:18} wall {t['wall_s']:6.2f} s ({t['wall_s'] / base['wall_s'] - 1:+6.1%})  cpu "
                  f"{t['cpu_s']:6.2f} s ({t['cpu_s'] / base['cpu_s'] - 1:+6.1%})  decoder RTF {t['rtf']:.3f}")

        references = {k: session(paths[k], "") for k in ("upstream", "fp32")}
        audio: dict[str, list[np.ndarray]] = {}
        for n in dict.fromkeys(["upstream", "fp32"] + [n.split("@")[0] for n in names]):
            s = references.get(n) or session(paths[n], "")
            audio[n] = [s.run(None, f)[0].ravel() for _, _, f in wholes]
        print("closeness on whole sentences (log-mel mean |dB|, waveform SNR dB), per sentence:")
        for n in audio:
            for ref in ("upstream", "fp32"):
                if n == ref:
                    continue
                db = [logmel_distance(a, b, 24_000) for a, b in zip(audio[ref], audio[n])]
                snr = [snr_db(a, b) for a, b in zip(audio[ref], audio[n])]
                print(f"  {n:10} vs {ref:8} log-mel {' '.join(f'{x:.2f}' for x in db)} (mean {np.mean(db):.2f})"
                      f"  SNR {' '.join(f'{x:.1f}' for x in snr)}")
        if args.whisper:
            recognize(audio, wholes)
    return 0


def recognize(audio: dict[str, list[np.ndarray]], wholes: list[tuple[str, str, dict]]) -> None:
    from bench.bench_rate import edit_distance, transcribe, whisper
    from bench.voice_defaults import english_tokens, mandarin_tokens

    model, why = whisper()
    if model is None:
        print(f"recognizer: {why}")
        return
    print("recognizer round trip (Whisper base; errors / reference tokens):")
    for n, clips in audio.items():
        errors = {"en": [0, 0], "zh": [0, 0]}
        heard = []
        for clip, (lang, text, _) in zip(clips, wholes):
            said = transcribe(model, clip, 24_000, lang)
            tokens = english_tokens if lang == "en" else mandarin_tokens
            errors[lang][0] += edit_distance(tokens(text), tokens(said))
            errors[lang][1] += len(tokens(text))
            heard.append(said.strip())
        print(f"  {n:10} English WER {errors['en'][0]}/{errors['en'][1]}, Mandarin CER {errors['zh'][0]}/"
              f"{errors['zh'][1]}: {' | '.join(heard)}")


if __name__ == "__main__":
    sys.exit(main())
