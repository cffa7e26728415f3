"""One pack's speech pipeline: text -> normalize -> g2p -> ids -> acoustic -> vocoder -> AudioChunks,
with per-stage times for every sentence."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from reader.settings import DEFAULT_MAX_TOKENS
from reader.speech.acoustic import AcousticFrames, AcousticStage, VoiceCondition
from reader.speech.errors import PackError
from reader.speech.prosody import MODEL_RATE_MAX, NEUTRAL, Prosody, model_part
from reader.speech.runtime import RunControl, SessionPool
from reader.speech.speaker import SpeakerStage
from reader.speech.stretch import TimeStretch
from reader.speech.vocoder import VocoderStage, WindowPlan

log = logging.getLogger(__name__)

# Piece edges get a short raised-cosine fade so a piece that starts or ends mid-waveform cannot click;
# 5 ms is below what the ear hears as a fade (it hears > ~10 ms).
FADE_S = 0.005
# Pieces of one long sentence were cut at clause marks: a clause pause (Kokoro and Piper make
# ~0.1-0.3 s at a comma) keeps the cut from sounding like a stumble.
PIECE_PAUSE_S = 0.15
# Above this the soft limiter bends peaks so that the samples stay inside (-1, 1) at any volume.
LIMIT_KNEE = 0.8
# Piper's ids are [^, _, p1, _, ..., pn, _, $]: 2n + 3 ids for n phonemes.
PIPER_IDS_PER_PHONEME = 2
PIPER_EXTRA_IDS = 3
# A piece whose audio is within 2% of the asked rate is not time-stretched (nobody hears 2%).
STRETCH_TOLERANCE = 0.02


@dataclass
class StageTimes:
    """Where one sentence's time went (ms), and how much audio it made."""

    speaker_ms: float = 0.0
    text_ms: float = 0.0  # normalize + g2p + ids
    acoustic_ms: float = 0.0
    vocoder_ms: float = 0.0
    stretch_ms: float = 0.0  # time-stretching for fast rates
    load_ms: float = 0.0  # stage files loaded during this sentence (lazy loads, memory budget)
    wall_ms: float = 0.0  # all work for the sentence, not counting time waiting for the player
    audio_s: float = 0.0
    first_audio_ms: float = 0.0  # from the start of the sentence's work to its first chunk

    @property
    def rtf(self) -> float:
        """Real-time factor: seconds of work per second of audio (below 1 keeps up with playback)."""
        return self.wall_ms / 1000 / self.audio_s if self.audio_s > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"speaker_ms": self.speaker_ms, "text_ms": self.text_ms, "acoustic_ms": self.acoustic_ms,
                "vocoder_ms": self.vocoder_ms, "stretch_ms": self.stretch_ms, "load_ms": self.load_ms,
                "wall_ms": self.wall_ms, "audio_s": self.audio_s, "first_audio_ms": self.first_audio_ms,
                "rtf": self.rtf}


@dataclass(frozen=True)
class AudioChunk:
    """Mono float32 samples of one sentence, in order; `last` marks its final chunk, which carries the
    sentence's stage times."""

    samples: np.ndarray
    sample_rate: int
    sentence_id: int
    piece: int = 0
    index: int = 0
    last: bool = False
    pack: str = ""
    times: StageTimes | None = field(default=None, compare=False)
    voice: str = ""  # the voice that spoke it: a stock id, a blend spec or an enrolled voice's name

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Piece:
    """A piece of a sentence under the model's limits, ready for the acoustic stage."""

    text: str
    phonemes: str
    ids: tuple[int, ...]
    lang: str


def soft_limit(x: np.ndarray) -> np.ndarray:
    """Samples above LIMIT_KNEE are bent towards 1 (tanh), never past it: no hard clipping at any volume."""
    x = np.asarray(x, dtype=np.float32)
    mag = np.abs(x)
    over = mag > LIMIT_KNEE
    if not over.any():
        return x
    room = 1.0 - LIMIT_KNEE
    out = x.copy()
    out[over] = np.sign(x[over]) * (LIMIT_KNEE + room * np.tanh((mag[over] - LIMIT_KNEE) / room))
    return out


def _fade(samples: np.ndarray, n: int, *, out: bool) -> None:
    n = min(n, len(samples))
    if n <= 0:
        return
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
    if out:
        samples[-n:] *= ramp[::-1]
    else:
        samples[:n] *= ramp


class Pipeline:
    """The three stages of one pack plus its text front end. Stages are injected (tests pass tiny
    sessions); `load()` builds them lazily from a verified pack under a shared memory budget."""

    def __init__(self, *, name: str, acoustic: AcousticStage, vocoder: VocoderStage,
                 phoneme_map: dict[str, Any], alphabet: str, languages: tuple[str, ...] = ("en",),
                 speaker: SpeakerStage | None = None, voices: dict[str, np.ndarray] | None = None,
                 voice_ids: tuple[str, ...] = (), tier: str = "rich", max_phonemes: int | None = None,
                 max_tokens: int = DEFAULT_MAX_TOKENS, punctuation: str = "some", dictionary: Any = None,
                 pool: SessionPool | None = None, default_voices: dict[str, str] | None = None,
                 voice_languages: dict[str, str] | None = None, manifest: Any = None) -> None:
        self.name = name
        self.acoustic = acoustic
        self.vocoder = vocoder
        self.speaker = speaker
        self.phoneme_map = phoneme_map
        self.alphabet = alphabet
        self.scheme = "piper" if alphabet == "espeak-ipa" else "kokoro"
        self.languages = tuple(languages)
        self.voice_tables = voices or {}
        self.voice_ids = tuple(voice_ids) or tuple(self.voice_tables)
        # Language ("en", "zh") -> the pack's voice for it when nobody chose one (the manifest's default_voices).
        self.default_voices = dict(default_voices or {})
        # Voice id -> its language ("en", "zh", ...) for the speakable voices; the others map to "".
        self.voice_languages = dict(voice_languages or {})
        self.manifest = manifest  # the pack's Manifest when loaded from one (voice table, pairs)
        self.tier = tier
        self.max_phonemes = max_phonemes
        self.max_tokens = max_tokens
        self.punctuation = punctuation
        self.dictionary = dictionary
        self.pool = pool
        # Rate: the acoustic model shortens its durations up to model_rate_max, the audio is
        # time-stretched for the rest (and for what the model fell short of). time_stretch=False asks the
        # model for the whole rate (the old way, kept for the benchmark's comparison).
        self.model_rate_max = MODEL_RATE_MAX
        self.time_stretch = True
        self._voice_cache: dict[str, VoiceCondition] = {}

    @classmethod
    def load(cls, pack: Any, settings: Any, *, pool: SessionPool | None = None,
             plan: WindowPlan = WindowPlan(), dictionary: Any = None) -> "Pipeline":
        """Stages of a verified pack (reader.speech.packs.open_pack); nothing heavy is loaded until used."""
        from reader.speech.runtime import PRECISIONS

        m = pack.manifest
        if "acoustic" not in m.stages or "vocoder" not in m.stages:
            raise PackError(f"Pack {pack.name} is a {m.tier} pack without acoustic and vocoder stages; it cannot speak.")
        if m.phonemes is None:
            raise PackError(f"Pack {pack.name} has no phoneme table; it cannot be read aloud.")
        precision = getattr(settings, "precision", "auto")
        if precision not in PRECISIONS:
            from reader.errors import SettingsError

            raise SettingsError(f"The precision setting {precision!r} is unknown; use one of {', '.join(PRECISIONS)}.")
        threads = getattr(settings, "threads", None)
        pool = pool or SessionPool(getattr(settings, "memory_budget_mb", None))
        table = pack.phonemes()
        max_phonemes = None
        if m.max_tokens:
            max_phonemes = m.max_tokens
            if m.phonemes.alphabet == "espeak-ipa":
                max_phonemes = (m.max_tokens - PIPER_EXTRA_IDS) // PIPER_IDS_PER_PHONEME
        speaker = None
        if "speaker" in m.stages:
            speaker = SpeakerStage.load(pack, threads=threads, precision=precision, pool=pool)
        return cls(
            name=pack.name,
            acoustic=AcousticStage.load(pack, threads=threads, precision=precision, pool=pool),
            vocoder=VocoderStage.load(pack, threads=threads, precision=precision, pool=pool, plan=plan),
            speaker=speaker, phoneme_map=table.get("id_map", {}), alphabet=m.phonemes.alphabet,
            languages=tuple(m.languages), voices=pack.voices() if m.voices_file else {},
            voice_ids=tuple(v.id for v in m.voices), tier=m.tier, max_phonemes=max_phonemes,
            max_tokens=getattr(settings, "max_tokens", DEFAULT_MAX_TOKENS),
            punctuation=getattr(settings, "punctuation", "some"), dictionary=dictionary, pool=pool,
            default_voices=dict(m.default_voices),
            voice_languages={v.id: v.language.split("-")[0] if v.speakable else "" for v in m.voices},
            manifest=m,
        )

    # --- state ------------------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.vocoder.sample_rate

    @property
    def conditioning(self) -> str:
        return self.acoustic.conditioning

    def resident(self) -> list[str]:
        """Stage sessions loaded right now (the memory budget may have released others)."""
        if self.pool is not None:
            return [label for label in self.pool.resident() if label.startswith(f"{self.name} ")]
        return []

    def reads(self, lang: str) -> bool:
        return lang in self.languages

    # --- voices -----------------------------------------------------------------------------------

    def voice(self, spec: str | None = None, *, lang: str | None = None,
              control: RunControl | None = None) -> VoiceCondition:
        """A voice of this pack: a stock voice id, a blend ("a+b", "a:0.7,b:0.3"), or, for a cloning pack,
        a speech file (WAV/FLAC, >= 3 s) or a saved embedding (.npy). No spec: the pack's default voice for
        `lang` (a native voice of it when the pack has one)."""
        from reader.speech import voices

        if not spec and self.conditioning == "style_vector":
            spec = self.default_voice(lang)
        key = spec or ""
        if key in self._voice_cache:
            return self._voice_cache[key]
        if self.conditioning == "speaker_embedding":
            if not spec:
                raise voices.VoiceError(
                    f"The {self.name} pack clones a voice: give a recording of at least 3 s of speech "
                    "(--voice FILE.wav)."
                )
            voice = self.clone_voice(Path(spec), control=control)
        elif self.conditioning == "style_vector":
            table = voices.blend_styles(self.voice_tables, spec or self.default_voice(), pack=self.name)
            voice = VoiceCondition(name=spec or self.default_voice(), style_table=table)
        else:
            if spec and spec not in self.voice_ids:
                raise voices.VoiceError(
                    f"The {self.name} pack has one voice ({', '.join(self.voice_ids) or 'its own'}); "
                    f"it cannot speak as {spec}."
                )
            voice = VoiceCondition(name=spec or (self.voice_ids[0] if self.voice_ids else self.name))
        # Later requests get the cached voice with no encoder time: its cost is counted once.
        self._voice_cache[key] = dataclasses.replace(voice, speaker_ms=0.0)
        return voice

    def default_voice(self, lang: str | None = None) -> str:
        """The voice for `lang` when nobody chose one: the pack's default for it, else its first voice."""
        chosen = self.default_voices.get((lang or "").split("-")[0])
        if chosen and (chosen in self.voice_tables or not self.voice_tables):
            return chosen
        for v in self.voice_ids:
            if v in self.voice_tables:
                return v
        if self.voice_tables:
            return next(iter(self.voice_tables))
        return self.voice_ids[0] if self.voice_ids else self.name

    def stock_voices(self, lang: str | None = None) -> list[str]:
        """The stock style voices, those that speak `lang` natively when given and the pack says which do
        (all of them when it does not)."""
        ids = [v for v in self.voice_ids if v in self.voice_tables]
        if lang is None or not self.voice_languages:
            return ids
        return [v for v in ids if self.voice_languages.get(v) == lang.split("-")[0]] or ids

    def embedding_voice(self, embedding: np.ndarray, name: str = "embedding") -> VoiceCondition:
        """A voice from a speaker embedding (a cloning pack), e.g. one kept in the voice vault."""
        vec = np.asarray(embedding, dtype=np.float32).ravel()
        return VoiceCondition(name=name, embedding=vec / (np.linalg.norm(vec) + 1e-12))

    def clone_voice(self, path: Path, *, control: RunControl | None = None) -> VoiceCondition:
        from reader.speech import voices

        if path.suffix.lower() == ".npy":
            try:
                return self.embedding_voice(np.load(path), name=path.stem)
            except (OSError, ValueError) as exc:
                raise voices.VoiceError(f"Cannot read the embedding {path}: {exc}.") from None
        if self.speaker is None:
            raise PackError(f"Pack {self.name} clones voices but has no speaker stage.")
        wav, rate = voices.read_audio(path)
        start = time.perf_counter()
        embedding = self.speaker.embed(wav, rate, control=control)
        ms = (time.perf_counter() - start) * 1000
        return VoiceCondition(name=path.stem, embedding=embedding, speaker_ms=ms)

    # --- text -------------------------------------------------------------------------------------

    def pieces(self, text: str, lang: str = "auto") -> list[Piece]:
        """Normalize, cut under the text-token limit at clause marks, phonemize, cut under the phoneme
        limit, and map to ids. Raises PhonemizerError for a language this pack cannot read."""
        from reader.speech.g2p import PhonemizerError, UnsupportedAlphabet, split_phonemes, to_ids
        from reader.speech.g2p import phonemize as g2p
        from reader.text.normalize import normalize
        from reader.text.scripts import LANGUAGE_NAMES
        from reader.text.sentences import detect_lang, split_sentences

        if lang == "auto":
            lang = detect_lang(text)
        if lang not in self.languages:
            raise UnsupportedAlphabet(
                f"The {self.name} voice cannot read {LANGUAGE_NAMES.get(lang, lang)}; choose a voice of a pack "
                f"that does (the rich pack reads English and Chinese)."
            )
        spoken = normalize(text, lang=lang, punctuation=self.punctuation, dictionary=self.dictionary).text
        out: list[Piece] = []
        for start, end in split_sentences(spoken, self.max_tokens):
            piece_text = spoken[start:end]
            try:
                phonemes = g2p(piece_text, lang, self.alphabet)
            except PhonemizerError:
                raise
            chunks = split_phonemes(phonemes, self.max_phonemes) if self.max_phonemes else [phonemes]
            for ph in chunks:
                ids = tuple(to_ids(ph, self.phoneme_map, scheme=self.scheme))
                if ids and (self.scheme != "piper" or len(ids) > PIPER_EXTRA_IDS):
                    out.append(Piece(piece_text, ph, ids, lang))
        return out

    # --- synthesis --------------------------------------------------------------------------------

    def synthesize(self, text: str, *, sentence_id: int = 0, lang: str = "auto",
                   voice: VoiceCondition | None = None, prosody: Prosody = NEUTRAL,
                   control: RunControl | None = None, stream: bool = True) -> Iterator[AudioChunk]:
        """Chunks of one sentence, in order; the last carries its StageTimes. With stream=False the
        vocoder decodes each piece whole (one chunk a piece)."""
        times = StageTimes()
        clock = _Clock()
        loads_before = self._loads()
        if voice is None:
            if lang == "auto":
                from reader.text.sentences import detect_lang

                lang = detect_lang(text)
            voice = self.voice(None, lang=lang, control=control)
        times.speaker_ms = voice.speaker_ms
        start = time.perf_counter()
        pieces = self.pieces(text, lang)
        times.text_ms = (time.perf_counter() - start) * 1000
        if not pieces:
            times.wall_ms = clock.elapsed_ms()
            yield AudioChunk(np.zeros(0, np.float32), self.sample_rate, sentence_id, last=True, pack=self.name,
                             times=times, voice=voice.name)
            return
        sr = self.sample_rate
        # Without an F0 output (Piper), pitch is shifted by stretching the durations by the pitch factor
        # and resampling the audio back to the original length: duration is kept, pitch moves, and the
        # formants move with it (a smaller or larger "head"), as in any resampling pitch shift.
        resample_pitch = not self.acoustic.has_f0 and abs(prosody.pitch - 1.0) > 1e-3
        fade = max(1, int(FADE_S * sr))
        # The clause pause shortens with a fast rate like everything else (a slow rate keeps it).
        pause = np.zeros(int(PIECE_PAUSE_S / max(prosody.rate, 1.0) * sr), np.float32)
        index = 0
        produced = 0
        for p_index, piece in enumerate(pieces):
            if control is not None:
                control.check()
            t0 = time.perf_counter()
            asked = dataclasses.replace(prosody, rate=model_part(prosody.rate, self.model_rate_max)) \
                if self.time_stretch else prosody
            frames = self.acoustic.infer(piece.ids, voice, asked,
                                         length_factor=prosody.pitch if resample_pitch else 1.0, control=control)
            times.acoustic_ms += (time.perf_counter() - t0) * 1000
            resampler = None
            if resample_pitch:
                import soxr

                resampler = soxr.ResampleStream(sr * prosody.pitch, sr, 1, dtype="float32")
            # The rest of the rate, and what the model fell short of: one stretch across the piece's
            # windows, so their joins stay as smooth as the audio inside them.
            speed = prosody.rate / frames.rate if self.time_stretch else 1.0
            stretcher = TimeStretch(speed, sr) if abs(speed - 1.0) > STRETCH_TOLERANCE else None
            windows = self.vocoder.windows(frames) if stream else [(0, frames.n_frames)]
            parts = self._decode(frames, windows, control, times)
            for w_index, samples in enumerate(parts):
                last_window = w_index == len(windows) - 1
                final = last_window and p_index == len(pieces) - 1
                if resampler is not None:
                    samples = resampler.resample_chunk(samples, last=last_window)
                if stretcher is not None:
                    t0 = time.perf_counter()
                    samples = stretcher.process(samples, last=last_window)
                    times.stretch_ms += (time.perf_counter() - t0) * 1000
                samples = np.array(samples, dtype=np.float32)
                if w_index == 0:
                    _fade(samples, fade, out=False)
                    if p_index > 0:
                        samples = np.concatenate([pause, samples])
                if last_window:
                    _fade(samples, fade, out=True)
                if prosody.volume != 1.0:
                    samples *= np.float32(prosody.volume)
                samples = soft_limit(samples)
                if produced == 0:
                    times.first_audio_ms = clock.elapsed_ms()
                produced += len(samples)
                chunk_times = None
                if final:
                    times.audio_s = produced / sr
                    times.load_ms = self._loads() - loads_before
                    times.wall_ms = clock.elapsed_ms()
                    chunk_times = times
                yield from clock.pause(AudioChunk(samples, sr, sentence_id, p_index, index, last=final,
                                                  pack=self.name, times=chunk_times, voice=voice.name))
                index += 1

    def _decode(self, frames: AcousticFrames, windows: list, control: RunControl | None,
                times: StageTimes) -> Iterator[np.ndarray]:
        it = self.vocoder.stream(frames, control=control, bounds=windows)
        while True:
            t0 = time.perf_counter()
            try:
                samples = next(it)
            except StopIteration:
                return
            finally:
                times.vocoder_ms += (time.perf_counter() - t0) * 1000
            yield samples

    def _loads(self) -> float:
        """Total ms spent loading this pipeline's stage files so far."""
        total = 0.0
        for stage in (self.acoustic, self.vocoder, self.speaker):
            session = getattr(stage, "session", None)
            total += getattr(session, "loads", 0) * getattr(session, "load_ms", 0.0)
        return total

    def render(self, text: str, **kwargs: Any) -> tuple[np.ndarray, StageTimes]:
        """The whole sentence as one array (tests, benchmarks, voice fitting)."""
        chunks = list(self.synthesize(text, **kwargs))
        audio = np.concatenate([c.samples for c in chunks]) if chunks else np.zeros(0, np.float32)
        return audio, chunks[-1].times or StageTimes()

    def warm_up(self, langs: tuple[str, ...] = ("en",)) -> None:
        """Load the g2p dictionaries and run each stage once on a few words, so the first real sentence
        pays no one-time costs (lexicon ~0.1 s, onnxruntime's first-run allocations)."""
        samples = {"en": "Hello.", "zh": "你好。"}
        voice = None
        if self.conditioning == "speaker_embedding":
            rng = np.random.default_rng(0)
            voice = self.embedding_voice(rng.normal(size=256).astype(np.float32), name="warm-up")
        for lang in langs:
            if lang in self.languages:
                for _ in self.synthesize(samples.get(lang, "Hello."), lang=lang, voice=voice):
                    pass




class _Clock:
    """Work time of a generator, not counting the time its consumer holds it suspended."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._paused = 0.0

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._start - self._paused) * 1000

    def pause(self, chunk: AudioChunk) -> Iterator[AudioChunk]:
        t0 = time.perf_counter()
        yield chunk
        self._paused += time.perf_counter() - t0
