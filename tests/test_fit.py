"""Fitting an enrolled voice in Kokoro's style space (reader.voices.fit): the style space of a tiny set of
voice tables, the search on the real rich pack within its time budget (its own score never worse than its
start, the result measured on a sentence it never heard, the judge only reporting), going on from a
stored fit, stopping it, per-language presets in the vault, and no plaintext left when a fit is stopped."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from reader.settings import Settings
from reader.speech import features
from reader.speech.voices import EnrolledVoice
from reader.vault.crypto import KdfParams
from reader.vault.store import Vault
from reader.voices import fit
from reader.voices.consent import Consent
from reader.voices.enroll import VoiceBook, resolve_voice, unit_mean

SR = features.SAMPLE_RATE
FAST_KDF = KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1)
JAPANESE = ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]


def _tables(n: int = 6, rows: int = 8, dim: int = 16, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((rows, 1, dim))
    return {f"v{i}": (base + 0.3 * rng.standard_normal((rows, 1, dim))).astype(np.float32) for i in range(n)}


# --- the style space, on a tiny set of tables -------------------------------------------------------


def test_the_style_space_of_a_few_tables():
    tables = _tables()
    space = fit.StyleSpace(tables, list(tables), dims=3, free=2)
    k = space.components.shape[0]
    assert k == len(tables) - 1  # N voices span N-1 directions around their mean
    assert np.allclose(space.components @ space.components.T, np.eye(k), atol=1e-6)
    assert np.allclose(space.free @ space.components.T, 0, atol=1e-6)  # the free part is outside the span
    assert np.allclose(space.free @ space.free.T, np.eye(2), atol=1e-6)
    # A free direction is the same offset on every row.
    rows = space.free[0].reshape(8, 16)
    assert np.allclose(rows, rows[0])
    # Inside the stock region nothing is penalised; moving out of it costs, the more the farther.
    assert sum(space.penalty(t) < 1e-9 for t in tables.values()) >= len(tables) - 1
    start = tables["v0"]
    near = space.move(start, np.array([0.1, 0, 0, 0, 0]))
    far = space.move(start, np.array([8.0, 0, 0, 0, 0]))
    off = space.move(start, np.array([0, 0, 0, 3.0, 0]))
    assert space.penalty(far) > space.penalty(near)
    assert space.penalty(off) == pytest.approx(fit.FREE_WEIGHT * 9.0 + space.penalty(start), rel=0.05)
    assert near.shape == start.shape and near.dtype == np.float32


def test_a_style_preset_round_trips_and_merges_per_language():
    table = _tables()["v1"]
    base = dict(pack="kokoro-int8", spec="a:0.5,b:0.5", similarity=0.7, judge=0.6, stock_spec="a",
                stock_similarity=0.65, stock_judge=0.55, trials=10, fitting_ms=1.0, encoder="ge2e", judge_encoder="j")
    en = fit.FitResult(kind=fit.STYLE_PRESET, lang="en", table=table, sigma=0.2, **base)
    zh = fit.FitResult(kind=fit.STOCK_PRESET, lang="zh", **{**base, "spec": "zf_xiaoxiao"})
    record = en.to_record()
    assert np.array_equal(fit.table_of(record), table)
    merged = fit.merge_preset(fit.merge_preset(None, en), zh)
    assert fit.preset_languages(merged) == ["en", "zh"] and merged["primary"] == "en"
    assert merged["kind"] == fit.STYLE_PRESET  # the primary language's figures stay on top
    assert fit.preset_entry(merged, "zh")["spec"] == "zf_xiaoxiao"
    assert np.array_equal(fit.table_of(fit.preset_entry(merged, "en")), table)
    # A record of the first format (one fit, no language) is an English fit.
    old = {"format": 1, "pack": "kokoro-int8", "kind": "blend", "spec": "a:0.5,b:0.5", "similarity": 0.7}
    assert fit.preset_languages(fit.merge_preset(old, zh)) == ["en", "zh"]
    damaged = {**record, "table": {"shape": [510, 1, 256], "float32": "AAAA"}}
    with pytest.raises(ValueError):
        fit.table_of(damaged)


# --- the search on the real rich pack ----------------------------------------------------------------


def _target(speakers, encoder, judge, name: str = "blend"):
    clips = speakers[name]
    return clips, unit_mean(encoder.embed(c, SR) for c in clips), unit_mean(judge.embed(c, SR) for c in clips)


def test_a_fit_searches_the_style_space_and_keeps_to_its_budget(speakers, kokoro, encoder, judge, tmp_path):
    """Target: a 50/50 blend of two Japanese stock styles; the fit over the five Japanese voices starts
    from the best combination of them, walks (stopped here after six steps, whatever the machine's
    speed), and reports both encoders on the held-out sentence."""
    clips, target, target_judge = _target(speakers, encoder, judge)
    cache = fit.StockCache(tmp_path / "cache", "test")
    seen: list[fit.FitProgress] = []
    stop = threading.Event()

    def progress(p: fit.FitProgress) -> None:
        seen.append(p)
        if sum(q.phase == "walk" for q in seen) > 3:  # each report is one mirrored pair: up to 2 steps
            stop.set()

    result = fit.fit_preset(kokoro, encoder, target, judge=judge, target_judge=target_judge, budget_s=900,
                            stock_cache=cache, voices=JAPANESE, progress=progress, cancel=stop)
    phases = [p.phase for p in seen]
    assert phases[0] == "stock" and "start" in phases and phases[-2:] == ["check", "done"]
    assert all(0 <= p.fraction <= 1 and p.seconds_left >= 0 for p in seen)
    assert [p.fraction for p in seen] == sorted(p.fraction for p in seen)
    starts = [t for t in result.history if t.judge is None and not t.spec.startswith("walk")]
    walked = [t for t in result.history if t.spec.startswith("walk ")]
    assert starts and 3 <= len(walked) <= 8 and result.walk_steps == len(walked) and result.cancelled
    # Its own score never gets worse than the start's; the judge measured only the held-out sentence.
    assert result.search_score >= max(t.similarity for t in starts) - 1e-9
    assert all(t.judge is None for t in walked)
    assert result.stock_spec in JAPANESE and result.judge is not None and result.stock_judge is not None
    assert result.similarity >= result.stock_similarity - 0.02
    if result.kind == fit.STYLE_PRESET:
        assert result.table.shape == kokoro.voice_tables["jf_alpha"].shape
    text = result.describe()
    assert "cannot clone" in text and "never heard" in text and f"{result.similarity:.2f}" in text
    # The stock voices' embeddings were cached; with a budget already spent there is no walk, and the
    # start is still measured and returned.
    assert set(cache.load()) >= {f"a:{v}" for v in JAPANESE}
    again = fit.fit_preset(kokoro, encoder, target, budget_s=1, stock_cache=cache, voices=JAPANESE)
    assert again.walk_steps == 0 and again.stock_spec == result.stock_spec
    assert again.trials <= 2 * 2 + 1  # two combinations on two sentences, one held-out check; no stock voice


def test_keep_improving_goes_on_from_the_stored_table_and_stop_keeps_the_best(speakers, kokoro, encoder, judge,
                                                                             tmp_path):
    clips, target, target_judge = _target(speakers, encoder, judge)
    cache = fit.StockCache(tmp_path / "cache", "test")
    table = kokoro.voice("jf_alpha:0.6,jm_kumo:0.4").style_table.reshape(kokoro.voice_tables["jf_alpha"].shape)
    stored = {"kind": fit.STYLE_PRESET, "spec": "jf_alpha:0.6,jm_kumo:0.4", "lang": "en", "sigma": 0.2,
              "table": fit.FitResult(pack="k", kind=fit.STYLE_PRESET, spec="", similarity=0, judge=None,
                                     stock_spec=None, stock_similarity=None, stock_judge=None, trials=0,
                                     fitting_ms=0, encoder="", judge_encoder=None, table=table).to_record()["table"]}
    stop = threading.Event()
    steps = []

    def progress(p: fit.FitProgress) -> None:
        if p.phase == "walk":
            steps.append(p)
            if len(steps) == 3:
                stop.set()  # stopped during the walk: the best found so far comes back

    result = fit.fit_preset(kokoro, encoder, target, judge=judge, target_judge=target_judge, budget_s=120,
                            stock_cache=cache, voices=JAPANESE, progress=progress, resume=stored, cancel=stop)
    assert result.cancelled and result.kind == fit.STYLE_PRESET and result.table is not None
    assert result.spec == "jf_alpha:0.6,jm_kumo:0.4"  # it went on from the stored fit, not a new start
    assert not any(t.spec.startswith("jf_alpha:0.5") for t in result.history)
    # Stopped before anything was measured: nothing comes back.
    early = threading.Event()
    early.set()
    with pytest.raises(fit.FitCancelled):
        fit.fit_preset(kokoro, encoder, target, budget_s=60, voices=JAPANESE, cancel=early)


def test_a_voice_enrolled_from_chinese_gets_a_mandarin_reading_voice(speakers, kokoro, encoder, judge, tmp_path):
    """A fit for Chinese compares Mandarin voices on Mandarin sentences; in the vault the preset keeps
    one fit a language, and reading English with it takes the partner of its closest Mandarin voice."""
    from reader.speech.synthesizer import SynthesisOptions, Synthesizer

    clips, target, target_judge = _target(speakers, encoder, judge, "kumo")
    mandarin = kokoro.stock_voices("zh")
    assert len(mandarin) == 8 and all(v.startswith(("zf_", "zm_")) for v in mandarin)
    result = fit.fit_preset(kokoro, encoder, target, judge=judge, target_judge=target_judge, budget_s=30,
                            voices=mandarin[:3], lang="zh")
    assert result.lang == "zh" and result.stock_spec in mandarin[:3]
    with Vault.create(tmp_path / "v", "pass phrase", kdf_params=FAST_KDF) as vault:
        book = VoiceBook(vault)
        book.store_consent("nai nai", Consent.now("nai nai", "nai nai", "reading letters"))
        book.store_embedding("nai nai", target, len(clips))
        book.store_preset("nai nai", result)
        spec, what, locked = book.reading_spec("nai nai")
        assert "Chinese" in what or not locked
        preset_id = vault.find("preset", "preset", book.group("nai nai")).id
        voice = resolve_voice("vault:" + preset_id, kokoro, vault)
    assert isinstance(voice, EnrolledVoice) and set(voice.conditions) == {"zh"}
    partner = kokoro.manifest.partner(result.stock_spec, "en")
    assert voice.instead.get("en") == partner and partner.startswith(("af_", "am_", "bf_", "bm_"))
    synth = Synthesizer({kokoro.name: kokoro}, settings=Settings(home=tmp_path))
    synth.add_voice("vault:x", kokoro.name, voice, "nai nai's voice")
    for text, lang in (("我们明天去公园。", "zh"), ("We go to the park tomorrow.", "en")):
        chunks = list(synth.stream([text], SynthesisOptions(voice="vault:x", lang=lang)))
        audio = np.concatenate([c.samples for c in chunks])
        assert len(audio) > 0.5 * kokoro.sample_rate and np.abs(audio).max() > 0.05


def test_a_stopped_fit_changes_nothing_and_leaves_no_plaintext(speakers, kokoro, encoder, judge, tmp_path):
    """Stopped from the TUI's Escape (the cancel event) in the middle of the stock comparison: the preset
    stays as it was, and nothing under READER_HOME holds the person's embedding or recordings in the
    clear (the stock cache holds only the pack's own voices)."""
    import argparse

    from reader.voices.commands import fit_for

    home = tmp_path / "home"
    settings = Settings(home=home)
    clips, target, _ = _target(speakers, encoder, judge, "joe")
    with Vault.create(home / "vault", "pass phrase", kdf_params=FAST_KDF) as vault:
        book = VoiceBook(vault)
        book.store_consent("grandpa", Consent.now("grandpa", "grandpa", "reading letters"))
        book.store_embedding("grandpa", target, len(clips))
        stop = threading.Event()
        calls = []

        def progress(p):
            calls.append(p)
            stop.set()

        with pytest.raises(fit.FitCancelled):
            fit_for(book, "grandpa", settings, argparse.Namespace(pack="kokoro-int8", minutes=None), encoder=encoder,
                    clips16k=clips, cancel=stop, progress=progress)
        assert calls and book.preset("grandpa") is None
    needles = [np.asarray(target, dtype=np.float32).tobytes()[:64]]
    needles += [(c[SR:SR + 400] * 32767).astype("<i2").tobytes() for c in clips]
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path


def test_a_stored_style_fit_passes_the_preset_checks():
    # merge_preset keeps each fit's style table under "fits" and only a summary at the top level; the
    # checks read the fits (the top level used to be taken for a damaged style preset).
    import json

    from reader.voices import checks

    table = np.full((4, 256), 0.5, dtype=np.float32)
    style = fit.FitResult(pack="kokoro-int8", kind=fit.STYLE_PRESET, spec="zf_xiaoxiao", similarity=0.8,
                          judge=0.7, stock_spec="zf_xiaoxiao", stock_similarity=0.75, stock_judge=0.7, trials=3,
                          fitting_ms=1.0, encoder="ge2e", judge_encoder="judge", lang="zh", table=table)
    doc = fit.merge_preset(None, style)
    assert "table" not in doc and doc["fits"]["zh"]["table"]
    assert checks.preset_problem(json.dumps(doc).encode()) is None
    broken = json.loads(json.dumps(doc))
    broken["fits"]["zh"]["table"] = "not a table"
    assert checks.preset_problem(json.dumps(broken).encode()) == "its reading preset's style table is damaged"
