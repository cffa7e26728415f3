"""Finds the reading voice closest to an enrolled speaker.

A pack conditioned on a speaker embedding gets the embedding itself. A style pack (Kokoro) cannot clone
a voice, so the fit searches its style space: the stock voices of the reading language are compared
first, the best of a few combinations of them is the start, and a random walk with a shrinking step
(like the KVoiceWalk project) then moves the whole 510 x 256 style table inside the subspace the stock
voices span, plus a small free part. Each step is scored by our speaker encoder (GE2E) on two different
sentences: their similarity to the enrolled speech, how consistent the voice stays between them, and a
penalty for leaving the region of the stock voices (where speech turns unnatural or noisy). The voice
found is then measured on a third sentence that the search never heard, by our encoder and by an
independent one (the judge), which only reports and never steers the search.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from reader.speech import features
from reader.speech.speaker import similarity
from reader.voices.quality import band_limit, embed_any_length

log = logging.getLogger(__name__)

# Each language's sentences: two the search scores every step with (a short and a longer one, so the
# style table's rows for both lengths are exercised; each ~2-4 s of Kokoro speech, over the 1.6 s a GE2E
# partial needs), and one held out, on which the result and the best stock voice are measured.
FIT_TEXTS = {
    "en": ("She opened the old book and read aloud.",
           "The garden was quiet after the rain, and the birds began to sing again.",
           "We walked along the river until the lights came on in the town."),
    "zh": ("她打开那本旧书，大声读了起来。",
           "雨停了以后，花园里很安静，鸟儿又开始唱歌了。",
           "我们沿着河边一直走，直到城里的灯都亮了。"),
}
FIT_TEXT = FIT_TEXTS["en"][0]
FIT_LANG = "en"
FIT_LANGS = tuple(FIT_TEXTS)
# A fit's time budget on 2 cores, comparing the stock voices included (their embeddings are cached
# after the first fit), and the extra time "keep improving" gives.
BUDGET_S = 180.0
MORE_S = 300.0
# The stock voices ranked best on the first sentence that are also heard on the other two.
STOCK_TOP = 4
# The walk: dimensions of the stock subspace it moves in (the principal directions of the language's
# stock style tables, largest first) and of the free part (offsets of the 256 style dimensions, the same
# on every row, orthogonal to the subspace), the first step and its bounds (in units of the stock
# voices' spread along each direction), and how the step grows on success and shrinks on failure.
SUBSPACE_DIMS = 10
FREE_DIMS = 4
FREE_SEED = 20261203
FREE_STEP = 0.5  # the free part's step relative to the subspace's
SIGMA_START, SIGMA_MIN, SIGMA_MAX = 0.3, 0.03, 1.2
GROW, SHRINK = 1.4, 0.75
# The score: mean similarity on the two sentences, plus CONSISTENCY x (the drop of the similarity between
# the two sentences' embeddings under the stock voices' median), minus REGION x (distance past the stock
# voices' radius)^2 and FREE x (free part, in stock spreads)^2.
CONSISTENCY_WEIGHT = 0.5
REGION_WEIGHT = 0.02
FREE_WEIGHT = 0.01
# A walk's result is kept only if, on the held-out sentence, it is at least this much closer than its
# start (else the start is kept: the walk only learned the two sentences).
HELD_OUT_MARGIN = 0.0
WEIGHT_DECIMALS = 4

EMBEDDING_PRESET = "embedding"
BLEND_PRESET = "blend"
STOCK_PRESET = "stock"
STYLE_PRESET = "style"  # a style table of its own, kept (encrypted) in the preset record


class FitCancelled(Exception):
    """The fit was stopped before it found anything better than its start."""


@dataclass(frozen=True)
class Trial:
    spec: str  # a stock voice or blend spec, or "walk N" for the Nth step of the walk
    similarity: float  # our encoder (GE2E) vs the enrolled embedding (the search's score for a walk step)
    judge: float | None  # the independent encoder vs the enrolled judge embedding (held-out sentence only)


@dataclass(frozen=True)
class FitProgress:
    """What a running fit reports: how far it is (0-1 of its time budget), an estimate of the seconds
    left, what it does now, and the best similarity so far."""

    fraction: float
    seconds_left: float
    message: str
    best: float | None = None
    phase: str = ""  # "stock", "start", "walk", "check", "done"


@dataclass(frozen=True)
class FitResult:
    """The preset found for one pack and language, with both encoders' figures on the held-out sentence
    for it and for the best stock voice."""

    pack: str
    kind: str  # EMBEDDING_PRESET, STYLE_PRESET, BLEND_PRESET or STOCK_PRESET
    spec: str  # a stock voice or blend spec; for a style preset the blend the walk started from
    similarity: float
    judge: float | None
    stock_spec: str | None
    stock_similarity: float | None
    stock_judge: float | None
    trials: int  # speech syntheses made by this fit (cached stock voices not counted)
    fitting_ms: float
    encoder: str
    judge_encoder: str | None
    embedding: np.ndarray | None = None  # the conditioning embedding of an EMBEDDING_PRESET
    history: tuple[Trial, ...] = field(default=())
    lang: str = FIT_LANG
    table: np.ndarray | None = None  # the style table of a STYLE_PRESET
    sigma: float | None = None  # the walk's step when it stopped: "keep improving" goes on from there
    search_score: float | None = None  # the walk's own score (two sentences) of the result
    cancelled: bool = False
    walk_steps: int = 0

    def to_record(self) -> dict[str, Any]:
        """The preset as stored (JSON) in the vault; the embedding as a list of floats, a style table as
        base64 float32."""
        doc: dict[str, Any] = {
            "format": 2, "pack": self.pack, "kind": self.kind, "spec": self.spec, "lang": self.lang,
            "similarity": self.similarity, "judge": self.judge,
            "stock": None if self.stock_spec is None else {
                "spec": self.stock_spec, "similarity": self.stock_similarity, "judge": self.stock_judge},
            "trials": self.trials, "fitting_ms": round(self.fitting_ms, 1), "encoder": self.encoder,
            "judge_encoder": self.judge_encoder, "sigma": self.sigma, "search_score": self.search_score,
            "walk_steps": self.walk_steps,
            "history": [[t.spec, t.similarity, t.judge] for t in self.history],
        }
        if self.embedding is not None:
            doc["embedding"] = [float(x) for x in np.asarray(self.embedding, dtype=np.float32)]
        if self.table is not None:
            table = np.ascontiguousarray(self.table, dtype="<f4")
            doc["table"] = {"shape": list(table.shape), "float32": base64.b64encode(table.tobytes()).decode("ascii")}
        return doc

    def describe(self) -> str:
        """What the user is told: honest about what a pack that cannot clone can do."""
        if self.kind == EMBEDDING_PRESET:
            return (f"The {self.pack} pack speaks with the enrolled voice itself (similarity "
                    f"{self.similarity:.2f} by the speaker encoder).")
        judge = ""
        if self.judge is not None and self.stock_judge is not None:
            judge = f", {self.judge:.2f} by an independent encoder (best stock voice {self.stock_judge:.2f})"
        what = {STYLE_PRESET: f"a voice of its own found in {self.pack}'s style space, starting from {self.spec}",
                BLEND_PRESET: f"the blend {self.spec}", STOCK_PRESET: f"the stock voice {self.spec}"}[self.kind]
        stopped = " The fit was stopped early." if self.cancelled else ""
        return (f"Closest available voice: {what}. Similarity {self.similarity:.2f} by our encoder "
                f"(best stock voice {self.stock_similarity:.2f}, {self.stock_spec}){judge}, on a sentence the "
                f"search never heard. The {self.pack} pack cannot clone a voice; this is the closest voice it "
                f"can make.{stopped}")


def preset_entry(doc: dict[str, Any], lang: str | None = None) -> dict[str, Any]:
    """The fit of a stored preset record for `lang` (None: its first language): a record of format 1 or
    2 is one fit; a voice fitted for several languages keeps one per language under "fits"."""
    fits = doc.get("fits")
    if isinstance(fits, dict) and fits:
        if lang and lang in fits:
            return fits[lang]
        return fits.get(doc.get("primary")) or next(iter(fits.values()))
    return doc


def preset_languages(doc: dict[str, Any]) -> list[str]:
    fits = doc.get("fits")
    if isinstance(fits, dict) and fits:
        return [str(k) for k in fits]
    return [str(doc.get("lang") or FIT_LANG)]


def merge_preset(old: dict[str, Any] | None, fit: "FitResult") -> dict[str, Any]:
    """The preset record after `fit`: one fit a language, for one pack; the first language stays primary."""
    record = fit.to_record()
    fits: dict[str, Any] = {}
    primary = fit.lang
    if old and old.get("pack") == fit.pack:
        if isinstance(old.get("fits"), dict):
            fits = dict(old["fits"])
            primary = old.get("primary") or primary
        elif old.get("kind") != EMBEDDING_PRESET:
            fits = {str(old.get("lang") or FIT_LANG): old}
            primary = str(old.get("lang") or FIT_LANG)
    if fit.kind == EMBEDDING_PRESET:
        return record
    fits[fit.lang] = record
    if primary not in fits:
        primary = fit.lang
    first = fits[primary]
    return {**{k: v for k, v in first.items() if k not in ("table", "history")}, "format": 2, "primary": primary,
            "fits": fits}


def table_of(entry: dict[str, Any]) -> np.ndarray | None:
    """The style table of a stored STYLE_PRESET fit (None for another kind); ValueError if damaged."""
    found = entry.get("table")
    if entry.get("kind") != STYLE_PRESET or not isinstance(found, dict):
        return None
    shape = tuple(int(x) for x in found.get("shape", ()))
    data = np.frombuffer(base64.b64decode(found.get("float32", "")), dtype="<f4")
    if not shape or data.size != math.prod(shape) or not np.all(np.isfinite(data)):
        raise ValueError("the stored style table is damaged")
    return data.reshape(shape).astype(np.float32)


class StyleSpace:
    """The style tables of a language's stock voices as a space: their mean, principal directions (each
    with the voices' spread along it), a few free directions outside them, and how far a table lies from
    the region the stock voices occupy."""

    def __init__(self, tables: dict[str, np.ndarray], voices: list[str], *, dims: int = SUBSPACE_DIMS,
                 free: int = FREE_DIMS) -> None:
        first = np.asarray(tables[voices[0]])
        self.shape = first.shape
        X = np.stack([np.asarray(tables[v], dtype=np.float64).reshape(-1) for v in voices])
        self.mean = X.mean(axis=0)
        D = X - self.mean
        w, V = np.linalg.eigh(D @ D.T)  # the Gram matrix: N x N, cheap for N voices of 130,560 values
        order = np.argsort(w)[::-1]
        w, V = np.clip(w[order], 0.0, None), V[:, order]
        keep = w > 1e-9 * max(float(w.max()), 1e-30)
        self.components = (V[:, keep].T @ D) / np.sqrt(w[keep])[:, None]  # K x P, orthonormal rows
        self.spread = np.sqrt(w[keep] / max(len(voices) - 1, 1))  # the voices' std along each
        coords = (D @ self.components.T) / self.spread
        self.radius = float(np.percentile(np.linalg.norm(coords, axis=1), 90)) if len(voices) > 1 else 1.0
        self.dims = int(min(dims, self.components.shape[0]))
        # Free directions: the same offset on every row, orthogonal to the stock subspace, each as long as
        # a typical stock spread.
        rows = first.reshape(first.shape[0], -1)
        per_dim = X.reshape(len(voices), rows.shape[0], rows.shape[1]).std(axis=0).mean(axis=0) + 1e-6
        rng = np.random.default_rng(FREE_SEED)
        unit = float(np.median(self.spread)) if self.spread.size else 1.0
        # A row-constant vector (c on every row) is orthogonal to a direction u when c is orthogonal to
        # the sum of u's rows: so c is made orthogonal to those sums, and to the free directions before it.
        sums = self.components.reshape(len(self.components), rows.shape[0], rows.shape[1]).sum(axis=1)
        basis = np.linalg.qr(sums.T)[0].T if len(sums) else np.zeros((0, rows.shape[1]))
        basis = [b for b in basis if np.linalg.norm(b) > 0.5]
        frees = []
        for _ in range(min(free, rows.shape[1] - len(basis))):
            c = rng.standard_normal(rows.shape[1]) * per_dim
            for b in basis:
                c -= (c @ b) * b
            c /= np.linalg.norm(c) + 1e-12
            basis.append(c)
            frees.append(np.broadcast_to(c, rows.shape).reshape(-1) / math.sqrt(rows.shape[0]))
        self.free = np.array(frees).reshape(len(frees), -1)  # unit rows
        self.unit = unit

    @property
    def size(self) -> int:
        return self.dims + self.free.shape[0]

    def move(self, base: np.ndarray, step: np.ndarray) -> np.ndarray:
        """`base` (a table) moved by `step`: the first `dims` values along the principal directions (in
        stock spreads), the rest along the free directions (in typical spreads)."""
        flat = np.asarray(base, dtype=np.float64).reshape(-1).copy()
        flat += (step[:self.dims] * self.spread[:self.dims]) @ self.components[:self.dims]
        if self.free.size:
            flat += (step[self.dims:] * self.unit) @ self.free
        return flat.reshape(self.shape).astype(np.float32)

    def penalty(self, table: np.ndarray) -> float:
        """How far `table` lies outside the stock voices' region: past their radius in the subspace, and
        off the subspace (the free part), both squared."""
        d = np.asarray(table, dtype=np.float64).reshape(-1) - self.mean
        inside = self.components.T @ (self.components @ d)
        z = (self.components @ d) / self.spread
        outside = np.linalg.norm(d - inside) / max(self.unit, 1e-12)
        past = max(0.0, float(np.linalg.norm(z)) - self.radius)
        return REGION_WEIGHT * past ** 2 + FREE_WEIGHT * float(outside) ** 2


@dataclass
class _Heard:
    ours: np.ndarray
    judge: np.ndarray | None = None


class _Ear:
    """Synthesizes a text with a voice and embeds it, counting syntheses and their time; stock voices'
    embeddings come from and go to the cache. Cancellation stops a synthesis within milliseconds."""

    def __init__(self, pipeline: Any, encoder: Any, judge: Any, lang: str, cache: dict[str, tuple],
                 cancel: threading.Event | None, narrowband: bool = False) -> None:
        from reader.speech.runtime import RunControl

        self.pipeline, self.encoder, self.judge, self.lang = pipeline, encoder, judge, lang
        self.narrowband = narrowband  # hear the voice as a phone line carries it, like the recordings
        self.cache = cache
        self.cancel = cancel
        self.syntheses = 0
        self.seconds = 0.0
        self.control = RunControl()
        self._closed = threading.Event()
        if cancel is not None:
            def watch() -> None:  # stops the synthesis running when `cancel` is set
                while not cancel.wait(0.05):
                    if self._closed.is_set():
                        return
                if self.cancel is not None:
                    self.control.cancel()

            threading.Thread(target=watch, name="fit-cancel", daemon=True).start()

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def uncancellable(self) -> None:
        """From now on `cancel` is ignored (the short final check), with a fresh run control."""
        from reader.speech.runtime import RunControl

        self.cancel = None
        self.control = RunControl()

    def close(self) -> None:
        self._closed.set()

    def per_synthesis(self) -> float:
        return self.seconds / self.syntheses if self.syntheses else 2.0

    def hear(self, text: str, voice: Any, *, with_judge: bool = False, key: str | None = None) -> _Heard:
        from reader.speech.runtime import Cancelled

        if key is not None and key in self.cache:
            ours, theirs = self.cache[key]
            if theirs is not None or not with_judge or self.judge is None:
                return _Heard(ours, theirs)
        if self.cancelled:
            raise FitCancelled()
        start = time.perf_counter()
        try:
            audio, _ = self.pipeline.render(text, lang=self.lang, voice=voice, stream=False, control=self.control)
        except Cancelled:
            raise FitCancelled() from None
        self.syntheses += 1
        wav16k = features.to_16k(audio, self.pipeline.sample_rate)
        if self.narrowband:
            wav16k = band_limit(wav16k)
        heard = _Heard(embed_any_length(self.encoder, wav16k),
                       embed_any_length(self.judge, wav16k) if with_judge and self.judge is not None else None)
        self.seconds += time.perf_counter() - start
        if key is not None:
            self.cache[key] = (heard.ours, heard.judge)
        return heard


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
               budget_s: float = BUDGET_S, stock_cache: "StockCache | None" = None,
               encoder_name: str = "ge2e-speaker", judge_name: str | None = "voicefilter-judge",
               progress: Callable[[FitProgress], None] | None = None, voices: list[str] | None = None,
               lang: str = FIT_LANG, cancel: threading.Event | None = None,
               resume: dict[str, Any] | None = None, seed: int | None = None,
               narrowband: bool = False) -> FitResult:
    """The preset of `pipeline`'s pack closest to the `target` embedding (our encoder's, unit length),
    for reading `lang`.

    A pack conditioned on a speaker embedding gets the embedding itself: its own speaker stage's
    embedding of `clips16k` when it has one (its acoustic stage was trained on that encoder's space),
    else `target`. A style pack gets the search described at the top of this module over its native
    voices of `lang` (or `voices`), within `budget_s` seconds; `resume` (a stored fit of this pack and
    language) goes on from where that fit stopped. `judge`/`target_judge` (an independent encoder and
    its embedding of the same clips) only measure the result; they never steer the search. Setting
    `cancel` stops the search at once: the best voice found so far is returned (marked cancelled), or
    FitCancelled is raised if none was found yet. `narrowband` (the recordings came through a phone
    line or at 8 kHz, and `target` was embedded from them so): every synthesis is heard in the phone band
    too, since GE2E moves with the channel; the stock cache must then be one of phone-band hearings.
    """
    start = time.perf_counter()
    target = _unit(target)
    lang = lang.split("-")[0]
    if lang not in FIT_TEXTS:
        raise ValueError(f"no fitting sentences for {lang!r}")
    if pipeline.conditioning == "speaker_embedding":
        return _fit_embedding(pipeline, encoder, target, judge, target_judge, clips16k, FIT_TEXTS[lang][2],
                              start, encoder_name, judge_name, lang)
    texts = FIT_TEXTS[lang]
    target_j = None if target_judge is None else _unit(target_judge)
    report = progress or (lambda p: None)
    deadline = start + max(budget_s, 1.0)

    def left() -> float:
        return max(0.0, deadline - time.perf_counter())

    def tell(phase: str, message: str, best: float | None = None) -> None:
        spent = time.perf_counter() - start
        report(FitProgress(min(1.0, spent / max(budget_s, 1.0)), left(), message, best, phase))

    if pipeline.conditioning == "none":  # one fixed voice: nothing to choose, only to measure
        ear = _Ear(pipeline, encoder, judge, lang, {}, cancel, narrowband)
        only = pipeline.default_voice()
        heard = ear.hear(texts[2], pipeline.voice(None), with_judge=True)
        ear.close()
        sim, jud = _scores(heard, target, target_j)
        return FitResult(pack=pipeline.name, kind=STOCK_PRESET, spec=only, similarity=sim, judge=jud,
                         stock_spec=only, stock_similarity=sim, stock_judge=jud, trials=ear.syntheses,
                         fitting_ms=(time.perf_counter() - start) * 1000, encoder=encoder_name,
                         judge_encoder=judge_name if judge is not None else None,
                         history=(Trial(only, sim, jud),), lang=lang)
    voices = list(voices) if voices else pipeline.stock_voices(lang)
    if pipeline.conditioning != "style_vector" or not voices:
        raise ValueError(f"the {pipeline.name} pack has no voices to fit")
    cached = stock_cache.load() if stock_cache is not None else {}
    ear = _Ear(pipeline, encoder, judge, lang, dict(cached), cancel, narrowband)
    history: list[Trial] = []
    try:
        # 1. The stock voices on the first sentence, the best few on all three (cached for next time).
        first_time = sum(f"a:{v}" not in ear.cache for v in voices)
        tell("stock", f"Comparing the {len(voices)} stock voices of {pipeline.name}"
                      + (" (the first fit only)…" if first_time else "…"))
        ranked = []
        for v in voices:
            sim = similarity(target, ear.hear(texts[0], pipeline.voice(v), key=f"a:{v}").ours)
            ranked.append((sim, v))
        ranked.sort(key=lambda item: -item[0])
        top = [v for _, v in ranked[:STOCK_TOP]]
        heard_b = {v: ear.hear(texts[1], pipeline.voice(v), key=f"b:{v}") for v in top}
        heard_c = {v: ear.hear(texts[2], pipeline.voice(v), with_judge=True, key=f"c:{v}") for v in top}
        if stock_cache is not None and any(k not in cached or (ear.cache[k][1] is not None and cached[k][1] is None)
                                           for k in ear.cache):
            stock_cache.save(ear.cache)  # only stock voices are heard with a key
        consistency = float(np.median([similarity(ear.cache[f"a:{v}"][0], heard_b[v].ours) for v in top]))
        stock_held = {v: _scores(heard_c[v], target, target_j) for v in top}
        stock_best = max(top, key=lambda v: stock_held[v][0])
        for v in top:
            history.append(Trial(v, *stock_held[v]))
        space = StyleSpace(pipeline.voice_tables, voices)

        def score(heard_a: _Heard, heard_b: _Heard, table: np.ndarray) -> float:
            mean = 0.5 * (similarity(target, heard_a.ours) + similarity(target, heard_b.ours))
            drift = min(0.0, similarity(heard_a.ours, heard_b.ours) - consistency)
            return mean + CONSISTENCY_WEIGHT * drift - space.penalty(table)

        def score_table(table: np.ndarray, name: str) -> float:
            from reader.speech.acoustic import VoiceCondition

            voice = VoiceCondition(name=name, style_table=table)
            return score(ear.hear(texts[0], voice), ear.hear(texts[1], voice), table)

        # 2. The start: the best of the top stock voice and two combinations of the top voices (or, to
        # keep improving, the stored table).
        candidates: dict[str, np.ndarray] = {}
        resumed = table_of(resume) if resume else None
        if resumed is not None and resumed.shape == space.shape:
            start_spec = str(resume.get("spec") or stock_best)
            candidates[start_spec] = resumed
        else:
            sims = np.array([s for s, _ in ranked[:3]])
            weights = np.exp((sims - sims.max()) / 0.02)
            for spec in dict.fromkeys([top[0], blend_spec({top[0]: 0.5, top[1]: 0.5}) if len(top) > 1 else top[0],
                                       blend_spec({v: float(w) for (_, v), w in zip(ranked[:3], weights)})]):
                candidates[spec] = pipeline.voice(spec).style_table.reshape(space.shape)
        tell("start", "Trying combinations of the closest voices…")
        starts = []
        for spec, table in candidates.items():
            if spec in voices and f"b:{spec}" in ear.cache:
                s = score(_Heard(ear.cache[f"a:{spec}"][0]), _Heard(ear.cache[f"b:{spec}"][0]), table)
            else:
                s = score_table(table, spec)
            starts.append((s, spec, table))
            history.append(Trial(spec, s, None))
        start_score, start_spec, start_table = max(starts, key=lambda item: item[0])
        # 3. The walk.
        rng = np.random.default_rng(seed if seed is not None else int.from_bytes(
            hashlib.sha256(target.tobytes()).digest()[:8], "little"))
        sigma = float(resume.get("sigma") or SIGMA_START) if resumed is not None else SIGMA_START
        sigma = min(max(sigma, SIGMA_MIN), SIGMA_MAX)
        best_table, best_score = start_table, start_score
        steps = 0
        reserve = 2.5 * ear.per_synthesis()  # the held-out check at the end
        scale = np.concatenate([np.ones(space.dims), np.full(space.size - space.dims, FREE_STEP)])
        cancelled = False
        try:
            while left() > reserve + 2 * ear.per_synthesis():
                tell("walk", f"Refining the voice: step {steps + 1}, similarity {best_score:.2f}.", best_score)
                step = rng.standard_normal(space.size) * scale * sigma
                improved = False
                for sign in (1.0, -1.0):  # the mirrored step too: half the failures become successes
                    table = space.move(best_table, sign * step)
                    s = score_table(table, f"walk {steps + 1}")
                    steps += 1
                    history.append(Trial(f"walk {steps}", s, None))
                    if s > best_score:
                        best_table, best_score, improved = table, s, True
                        break
                    if left() <= reserve + 2 * ear.per_synthesis():
                        break
                sigma = min(SIGMA_MAX, sigma * GROW) if improved else max(SIGMA_MIN, sigma * SHRINK)
        except FitCancelled:
            cancelled = True
        # 4. The check on the held-out sentence (not cancellable: it is short, and its figures are what
        # the user is told).
        ear.uncancellable()
        tell("check", "Checking the voice on a new sentence…", best_score)
        from reader.speech.acoustic import VoiceCondition

        def held(spec: str, table: np.ndarray, stock: bool) -> tuple[float, float | None]:
            if stock:
                return _scores(ear.hear(texts[2], pipeline.voice(spec), with_judge=True, key=f"c:{spec}"),
                               target, target_j)
            return _scores(ear.hear(texts[2], VoiceCondition(name=spec, style_table=table), with_judge=True),
                           target, target_j)

        if resumed is not None:
            kind = STYLE_PRESET
        else:
            kind = STOCK_PRESET if start_spec in voices else BLEND_PRESET
        start_held = held(start_spec, start_table, kind == STOCK_PRESET)
        chosen_table, chosen_held, chosen_score = start_table, start_held, start_score
        if best_table is not start_table:
            walk_held = held("walk", best_table, False)
            history.append(Trial("held-out check of the walk", *walk_held))
            if walk_held[0] >= start_held[0] + HELD_OUT_MARGIN:
                kind, chosen_table, chosen_held, chosen_score = STYLE_PRESET, best_table, walk_held, best_score
        # The best stock voice on the held-out sentence is a candidate too: a blend or walk that only
        # learned the two search sentences must not be kept over it (measured on five people, such a
        # result was further from the person than the stock voice by both encoders).
        if stock_held[stock_best][0] > chosen_held[0] + HELD_OUT_MARGIN:
            kind, start_spec, chosen_held = STOCK_PRESET, stock_best, stock_held[stock_best]
            chosen_table = pipeline.voice(stock_best).style_table.reshape(space.shape)
            chosen_score = None
    finally:
        ear.close()
    ms = (time.perf_counter() - start) * 1000
    tell("done", "Done.", chosen_held[0])
    log.info("fitted %s (%s) on %s/%s: %.3f held out (stock best %s %.3f) in %d syntheses, %d steps, %.0f ms",
             start_spec, kind, pipeline.name, lang, chosen_held[0], stock_best, stock_held[stock_best][0],
             ear.syntheses, steps, ms)
    return FitResult(pack=pipeline.name, kind=kind, spec=start_spec, similarity=chosen_held[0],
                     judge=chosen_held[1], stock_spec=stock_best, stock_similarity=stock_held[stock_best][0],
                     stock_judge=stock_held[stock_best][1], trials=ear.syntheses, fitting_ms=ms,
                     encoder=encoder_name, judge_encoder=judge_name if judge is not None else None,
                     history=tuple(history), lang=lang,
                     table=chosen_table if kind == STYLE_PRESET else None, sigma=sigma, search_score=chosen_score,
                     cancelled=cancelled, walk_steps=steps)


def _scores(heard: _Heard, target: np.ndarray, target_judge: np.ndarray | None) -> tuple[float, float | None]:
    judged = None
    if heard.judge is not None and target_judge is not None:
        judged = similarity(target_judge, heard.judge)
    return similarity(target, heard.ours), judged


def _fit_embedding(pipeline: Any, encoder: Any, target: np.ndarray, judge: Any, target_judge: np.ndarray | None,
                   clips16k: list[np.ndarray] | None, text: str, start: float, encoder_name: str,
                   judge_name: str | None, lang: str) -> FitResult:
    own = getattr(pipeline, "speaker", None)
    if own is not None and clips16k:
        embedding = _unit(np.mean([own.embed(c, features.SAMPLE_RATE) for c in clips16k], axis=0))
    else:
        embedding = target
    voice = pipeline.embedding_voice(embedding, name="enrolled")
    ear = _Ear(pipeline, encoder, judge, lang if lang in pipeline.languages else pipeline.languages[0], {}, None)
    heard = ear.hear(text if lang in pipeline.languages else FIT_TEXT, voice, with_judge=True)
    sim, jud = _scores(heard, target, None if target_judge is None else _unit(target_judge))
    ms = (time.perf_counter() - start) * 1000
    return FitResult(pack=pipeline.name, kind=EMBEDDING_PRESET, spec="", similarity=sim, judge=jud,
                     stock_spec=None, stock_similarity=None, stock_judge=None, trials=ear.syntheses,
                     fitting_ms=ms, encoder=encoder_name, judge_encoder=judge_name if judge is not None else None,
                     embedding=embedding.astype(np.float32), history=(Trial("embedding", sim, jud),), lang=lang)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    return (x / (np.linalg.norm(x) + 1e-12)).astype(np.float32)


class StockCache:
    """Embeddings of a style pack's stock voices speaking the fitting sentences ("a:", "b:", "c:" + the
    voice id; the judge's only for the held-out "c:"), kept in READER_HOME/cache/voices/.

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
