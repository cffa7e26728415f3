"""Finds the reading voice closest to an enrolled speaker: for a cloning pack the embedding itself, for a
style pack (Kokoro) the stock style or blend of styles whose synthesized speech the speaker encoder finds
most similar, judged afterwards by an independent encoder too."""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from reader.speech import features
from reader.speech.speaker import similarity
from reader.voices.quality import embed_any_length

log = logging.getLogger(__name__)

# Every trial speaks this sentence: one fixed text, so trials differ only in the voice. About 2.5 s with
# Kokoro: two GE2E partials (1.6 s each, 0.77 s apart), and 1.5-3 s of synthesis on 2 cores.
FIT_TEXT = "She opened the old book and read aloud."
# FIT_TEXT's language: the stock voices compared are the pack's native voices of it (Kokoro: its 28
# English voices, not all 54, whose other languages would read FIT_TEXT accented; ~1.3 s each on 2 cores,
# once: their embeddings are cached).
FIT_LANG = "en"
# Synthesized trials allowed for blends (stock styles are synthesized once and cached): 24 trials of
# ~2.5 s of speech bound a fit to about a minute on 2 cores.
MAX_TRIALS = 24
# Every pair of the best PAIR_STYLES stock styles is tried half and half first. Not only pairs of the
# styles nearest the target: Kokoro's styles do not blend perceptually in between (measured: 50/50
# jf_alpha + jm_kumo is, to GE2E, nearer jf_gongitsune than either of its parents), so a pair of two far
# styles can be the closest. 5 styles make 10 pairs.
PAIR_STYLES = 5
PAIR_WEIGHTS = (0.5,)
# Then the best pair's weights are moved from 0.5 by these, and searched from there step by step.
PAIR_OFFSETS = (0.25, -0.25)
# Coordinate search on the weights: first step, and the step under which it stops (1/16: weights finer
# than that change the style vector less than the spread between the sentences' embeddings).
FIRST_STEP = 0.125
MIN_STEP = 0.0625
# A third style enters a blend at this weight, then its weight is searched like the others'.
THIRD_WEIGHT = 0.2
WEIGHT_DECIMALS = 4

EMBEDDING_PRESET = "embedding"
BLEND_PRESET = "blend"
STOCK_PRESET = "stock"


@dataclass(frozen=True)
class Trial:
    spec: str
    similarity: float  # our encoder (GE2E) vs the enrolled embedding
    judge: float | None  # the independent encoder vs the enrolled judge embedding


@dataclass(frozen=True)
class FitResult:
    """The preset found for one pack, with both encoders' figures before (best stock style) and after."""

    pack: str
    kind: str  # EMBEDDING_PRESET, BLEND_PRESET or STOCK_PRESET
    spec: str  # a blend spec for Pipeline.voice(), or "" for an embedding preset
    similarity: float
    judge: float | None
    stock_spec: str | None
    stock_similarity: float | None
    stock_judge: float | None
    trials: int  # speech syntheses made by this fit (cached stock styles not counted)
    fitting_ms: float
    encoder: str
    judge_encoder: str | None
    embedding: np.ndarray | None = None  # the conditioning embedding of an EMBEDDING_PRESET
    history: tuple[Trial, ...] = field(default=())

    def to_record(self) -> dict[str, Any]:
        """The preset as stored (JSON) in the vault; the embedding as a list of floats."""
        doc: dict[str, Any] = {
            "format": 1, "pack": self.pack, "kind": self.kind, "spec": self.spec,
            "similarity": self.similarity, "judge": self.judge,
            "stock": None if self.stock_spec is None else {
                "spec": self.stock_spec, "similarity": self.stock_similarity, "judge": self.stock_judge},
            "trials": self.trials, "fitting_ms": round(self.fitting_ms, 1), "encoder": self.encoder,
            "judge_encoder": self.judge_encoder,
            "history": [[t.spec, t.similarity, t.judge] for t in self.history],
        }
        if self.embedding is not None:
            doc["embedding"] = [float(x) for x in np.asarray(self.embedding, dtype=np.float32)]
        return doc

    def describe(self) -> str:
        """What the user is told: honest about what a pack that cannot clone can do."""
        if self.kind == EMBEDDING_PRESET:
            return (f"The {self.pack} pack speaks with the enrolled voice itself (similarity "
                    f"{self.similarity:.2f} by the speaker encoder).")
        judge = ""
        if self.judge is not None and self.stock_judge is not None:
            judge = f"; independent judge {self.judge:.2f} (stock best {self.stock_judge:.2f})"
        return (f"Closest available voice: {self.spec}, similarity {self.similarity:.2f} "
                f"(stock best {self.stock_similarity:.2f}, {self.stock_spec}){judge}. The {self.pack} pack "
                "cannot clone a voice; this is the nearest of its voices and blends.")


class _Scorer:
    """Synthesizes FIT_TEXT with a voice and scores it with both encoders; counts syntheses."""

    def __init__(self, pipeline: Any, encoder: Any, target: np.ndarray, judge: Any, target_judge: np.ndarray | None,
                 text: str, cache: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> None:
        self.pipeline, self.encoder, self.target = pipeline, encoder, target
        self.judge, self.target_judge = judge, target_judge
        self.text = text
        self.cache = cache
        self.syntheses = 0
        self.history: list[Trial] = []
        self.scored: dict[str, Trial] = {}

    def embeddings(self, spec: str, voice: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        if spec in self.cache:
            return self.cache[spec]
        if voice is None:
            voice = self.pipeline.voice(spec)
        audio, _ = self.pipeline.render(self.text, lang="en", voice=voice, stream=False)
        self.syntheses += 1
        wav16k = features.to_16k(audio, self.pipeline.sample_rate)
        ours = embed_any_length(self.encoder, wav16k)
        theirs = embed_any_length(self.judge, wav16k) if self.judge is not None else None
        self.cache[spec] = (ours, theirs)
        return ours, theirs

    def score(self, spec: str, voice: Any = None) -> Trial:
        if spec in self.scored:
            return self.scored[spec]
        ours, theirs = self.embeddings(spec, voice)
        judged = None
        if theirs is not None and self.target_judge is not None:
            judged = similarity(self.target_judge, theirs)
        trial = Trial(spec, similarity(self.target, ours), judged)
        self.scored[spec] = trial
        self.history.append(trial)
        return trial


def blend_spec(weights: dict[str, float]) -> str:
    """"a:0.6,b:0.4" from {a: 0.6, b: 0.4}; weights normalised, zero weights dropped, largest first."""
    total = sum(w for w in weights.values() if w > 0)
    parts = sorted(((v, round(w / total, WEIGHT_DECIMALS)) for v, w in weights.items() if w > 0),
                   key=lambda item: (-item[1], item[0]))
    if len(parts) == 1:
        return parts[0][0]
    return ",".join(f"{v}:{w:g}" for v, w in parts)


def fit_preset(pipeline: Any, encoder: Any, target: np.ndarray, *, judge: Any = None,
               target_judge: np.ndarray | None = None, clips16k: list[np.ndarray] | None = None,
               budget: int = MAX_TRIALS, text: str = FIT_TEXT, stock_cache: "StockCache | None" = None,
               encoder_name: str = "ge2e-speaker", judge_name: str | None = "voicefilter-judge",
               progress: Callable[[str], None] | None = None, voices: list[str] | None = None,
               lang: str = FIT_LANG) -> FitResult:
    """The preset of `pipeline`'s pack closest to the `target` embedding (our encoder's, unit length).

    A pack conditioned on a speaker embedding gets the embedding itself: its own speaker stage's
    embedding of `clips16k` when it has one (its acoustic stage was trained on that encoder's space),
    else `target`. A style pack gets the best of its stock styles (`voices`, by default the pack's native
    voices of `lang`, the language of `text`) and of blends searched within `budget` synthesized trials. `judge`/`target_judge` (an independent encoder and its embedding of the same
    clips) only measure; they never steer the search.
    """
    start = time.perf_counter()
    target = _unit(target)
    say = progress or (lambda message: None)
    if pipeline.conditioning == "speaker_embedding":
        return _fit_embedding(pipeline, encoder, target, judge, target_judge, clips16k, text, start,
                              encoder_name, judge_name)
    if pipeline.conditioning == "none":  # one fixed voice: nothing to choose, only to measure
        scorer = _Scorer(pipeline, encoder, target, judge, target_judge, text, {})
        only = pipeline.default_voice()
        trial = scorer.score(only, pipeline.voice(None))
        return FitResult(pack=pipeline.name, kind=STOCK_PRESET, spec=only, similarity=trial.similarity,
                         judge=trial.judge, stock_spec=only, stock_similarity=trial.similarity,
                         stock_judge=trial.judge, trials=scorer.syntheses,
                         fitting_ms=(time.perf_counter() - start) * 1000, encoder=encoder_name,
                         judge_encoder=judge_name if judge is not None else None, history=tuple(scorer.history))
    voices = list(voices) if voices else pipeline.stock_voices(lang)
    if pipeline.conditioning != "style_vector" or not voices:
        raise ValueError(f"the {pipeline.name} pack has no voices to fit")
    cache = stock_cache.load() if stock_cache is not None else {}
    scorer = _Scorer(pipeline, encoder, target, judge, target_judge, text, dict(cache))
    say(f"Comparing the {len(voices)} stock voices of {pipeline.name}…")
    stock = sorted((scorer.score(v) for v in voices), key=lambda t: -t.similarity)
    stock_syntheses = scorer.syntheses
    if stock_cache is not None and stock_syntheses:
        stock_cache.save({**cache, **{v: scorer.cache[v] for v in voices}})
    best = stock[0]
    trials_left = budget

    def attempt(weights: dict[str, float]) -> Trial | None:
        nonlocal best, trials_left
        spec = blend_spec(weights)
        if spec in scorer.scored:
            return scorer.scored[spec]
        if trials_left <= 0:
            return None
        trials_left -= 1
        trial = scorer.score(spec)
        if trial.similarity > best.similarity:
            best = trial
        return trial

    say("Trying blends of its voices…")
    top = [t.spec for t in stock[:PAIR_STYLES]]
    pairs = sorted(((a, b) for i, a in enumerate(top) for b in top[i + 1:]),
                   key=lambda pair: -(scorer.scored[pair[0]].similarity + scorer.scored[pair[1]].similarity))
    for a, b in pairs:  # nearest pairs first, in case the budget runs out
        for w in PAIR_WEIGHTS:
            attempt({a: w, b: 1 - w})
    weights = _weights_of(best.spec)
    if len(weights) == 2:
        (a, wa), (b, _) = sorted(weights.items())
        for offset in PAIR_OFFSETS:
            if 0 < wa + offset < 1:
                attempt({a: wa + offset, b: 1 - wa - offset})
        weights = _weights_of(best.spec)
    if len(weights) > 1:
        weights = _coordinate_search(weights, attempt, lambda: best)
    # A third voice: the next-ranked styles not yet in the blend, one at a time.
    for extra in [t.spec for t in stock if t.spec not in weights]:
        if trials_left <= 0 or len(weights) < 2:
            break
        before = best
        trial = attempt({**{v: w * (1 - THIRD_WEIGHT) for v, w in weights.items()}, extra: THIRD_WEIGHT})
        if trial is not None and best is trial and before is not trial:
            weights = _coordinate_search(_weights_of(best.spec), attempt, lambda: best)
    chosen = best
    kind = STOCK_PRESET if chosen.spec in voices else BLEND_PRESET
    ms = (time.perf_counter() - start) * 1000
    log.info("fitted %s on %s: %.3f (stock best %s %.3f) in %d trials, %.0f ms", chosen.spec, pipeline.name,
             chosen.similarity, stock[0].spec, stock[0].similarity, budget - trials_left, ms)
    return FitResult(pack=pipeline.name, kind=kind, spec=chosen.spec, similarity=chosen.similarity,
                     judge=chosen.judge, stock_spec=stock[0].spec, stock_similarity=stock[0].similarity,
                     stock_judge=stock[0].judge, trials=scorer.syntheses, fitting_ms=ms, encoder=encoder_name,
                     judge_encoder=judge_name if judge is not None else None, history=tuple(scorer.history))


def _coordinate_search(weights: dict[str, float], attempt: Callable[[dict[str, float]], Trial | None],
                       best: Callable[[], Trial]) -> dict[str, float]:
    """Move one voice's weight up or down by `step` (the others rescaled to keep the sum 1) while that
    improves the score; halve the step when nothing does; stop under MIN_STEP or out of trials."""
    step = FIRST_STEP
    while step >= MIN_STEP:
        improved = False
        for voice in list(weights):
            for direction in (1, -1):
                w = weights[voice] + direction * step
                if not 0 < w < 1:
                    continue
                rest = 1 - weights[voice]
                trial_weights = {v: (w if v == voice else x * (1 - w) / rest) for v, x in weights.items()}
                before = best()
                trial = attempt(trial_weights)
                if trial is None:
                    return weights
                if best() is trial and before is not trial:
                    weights = _weights_of(trial.spec)
                    improved = True
                    break
        if not improved:
            step /= 2
    return weights


def _weights_of(spec: str) -> dict[str, float]:
    from reader.speech.voices import parse_blend

    return dict(parse_blend(spec))


def _fit_embedding(pipeline: Any, encoder: Any, target: np.ndarray, judge: Any, target_judge: np.ndarray | None,
                   clips16k: list[np.ndarray] | None, text: str, start: float, encoder_name: str,
                   judge_name: str | None) -> FitResult:
    own = getattr(pipeline, "speaker", None)
    if own is not None and clips16k:
        embedding = _unit(np.mean([own.embed(c, features.SAMPLE_RATE) for c in clips16k], axis=0))
    else:
        embedding = target
    voice = pipeline.embedding_voice(embedding, name="enrolled")
    scorer = _Scorer(pipeline, encoder, target, judge, target_judge, text, {})
    trial = scorer.score("embedding", voice)
    ms = (time.perf_counter() - start) * 1000
    return FitResult(pack=pipeline.name, kind=EMBEDDING_PRESET, spec="", similarity=trial.similarity,
                     judge=trial.judge, stock_spec=None, stock_similarity=None, stock_judge=None,
                     trials=scorer.syntheses, fitting_ms=ms, encoder=encoder_name,
                     judge_encoder=judge_name if judge is not None else None, embedding=embedding.astype(np.float32),
                     history=tuple(scorer.history))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    return (x / (np.linalg.norm(x) + 1e-12)).astype(np.float32)


class StockCache:
    """Embeddings of a style pack's stock voices speaking FIT_TEXT, kept in READER_HOME/cache/voices/.

    They describe the pack's own voices, not a person, so they are stored in plaintext; the file name is
    a hash of everything they depend on (pack files, encoders, text), so a rebuilt pack starts afresh.
    """

    def __init__(self, folder: Path, key: str) -> None:
        self.path = Path(folder) / f"stock-{key}.npz"

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]

    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        try:
            with np.load(self.path) as data:
                names = {k.split("/", 1)[1] for k in data.files if k.startswith("ours/")}
                return {n: (data[f"ours/{n}"], data[f"judge/{n}"] if f"judge/{n}" in data.files else None)
                        for n in names}
        except (OSError, ValueError, KeyError):
            return {}

    def save(self, stock: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> None:
        from reader.fileio import write_atomic

        arrays = {f"ours/{n}": ours for n, (ours, _) in stock.items()}
        arrays.update({f"judge/{n}": judged for n, (_, judged) in stock.items() if judged is not None})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        try:
            write_atomic(self.path, buffer.getvalue())
        except OSError as exc:  # a cache that cannot be written only costs time next fit
            log.warning("cannot write the stock voice cache %s: %s", self.path, exc)
