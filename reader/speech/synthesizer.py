"""The streaming synthesizer: sentences in, AudioChunks out, made by a background thread a bounded queue
ahead of playback; cancellable at once; per-sentence timeouts, language fallback and slow-machine downgrade.

A Chinese sentence given to a pack that cannot read it (the fast English pack) is read by the rich pack
automatically when one is installed (a Notice says so once); with none installed it is a clear error."""

from __future__ import annotations

import collections
import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from reader.errors import ReaderError
from reader.speech.errors import PackError
from reader.speech.pipeline import AudioChunk, Pipeline, StageTimes
from reader.speech.prosody import Prosody, parse_style
from reader.speech.runtime import Cancelled, RunControl, SessionPool
from reader.text.scripts import LANGUAGE_NAMES
from reader.speech.vocoder import WindowPlan

log = logging.getLogger(__name__)

# Chunks the worker may run ahead of the player: Kokoro's windows are 0.5-4 s, so 8 chunks hold the
# current sentence and most of the next one, and bound memory to a few MB of samples.
QUEUE_CHUNKS = 8
# Sentences whose real-time factor is averaged to decide the machine is too slow for a pack.
RTF_WINDOW = 3
# How often a blocked worker looks up to see whether it was cancelled.
POLL_S = 0.02


@dataclass(frozen=True)
class SynthesisOptions:
    """Per-call choices; None means the voice's own default. The style instruction ("read slowly and
    softly", "悲伤地") changes prosody only: rate, pitch, emphasis and volume, not the voice itself."""

    voice: str | None = None
    pack: str | None = None
    lang: str = "auto"  # "auto": detected per sentence
    rate: float | None = None
    pitch: float | None = None
    volume: float | None = None
    style: str | None = None
    allow_downgrade: bool = True
    # A chosen stock voice reads the sentences of its own language; a sentence of another language is read
    # by its partner of the same gender (the pack's voice_pairs) when it has one. False: one voice for all.
    voice_per_language: bool = True

    def prosody(self) -> Prosody:
        explicit = Prosody(rate=self.rate or 1.0, pitch=self.pitch or 1.0, energy=1.0,
                           volume=1.0 if self.volume is None else self.volume)
        return (explicit * parse_style(self.style)).clamped()


@dataclass(frozen=True)
class SpeechText:
    """A sentence to speak: its id (for highlighting), text and language ("auto" to detect)."""

    id: int
    text: str
    lang: str = "auto"


@dataclass(frozen=True)
class Notice:
    """Something the UI should say: a sentence skipped, a pack changed. kind: "timeout", "fallback",
    "downgrade", "skipped" or "unspoken" (text in a language no installed voice reads)."""

    kind: str
    message: str
    sentence_id: int | None = None


@dataclass(frozen=True)
class SentenceReport:
    sentence_id: int
    pack: str
    times: StageTimes


_END = object()


class Synthesizer:
    """Speaks sentences through one or more pipelines (a fast and a rich pack), one stream at a time."""

    def __init__(self, pipelines: dict[str, Pipeline] | None = None, *, settings: Any = None,
                 loader: Callable[[str], Pipeline] | None = None, available: Sequence[Any] = (),
                 default_pack: str | None = None, on_notice: Callable[[Notice], None] | None = None,
                 on_error: str = "raise", queue_chunks: int = QUEUE_CHUNKS) -> None:
        """`pipelines` are ready pipelines by pack name; `loader` makes others on demand from `available`
        manifests (tier, languages) so a pack is loaded only when a sentence needs it."""
        self._pipelines: dict[str, Pipeline] = dict(pipelines or {})
        self._loader = loader
        self._manifests = {m.name: m for m in available}
        for name, p in self._pipelines.items():
            self._manifests.setdefault(name, getattr(p, "manifest", None) or _PipelineInfo(
                name, p.tier, p.languages, tuple(_VoiceId(v) for v in p.voice_ids)))
        self.settings = settings
        self.timeout_s = float(getattr(settings, "sentence_timeout_s", 30.0) or 30.0)
        self.slow_rtf = float(getattr(settings, "slow_rtf", 0.8) or 0.8)
        self._default_given = default_pack is not None
        self.default_pack = default_pack or next(iter(self._manifests), None)
        self.on_notice = on_notice
        self.punctuation: str | None = None  # set_punctuation(): overrides each pack's setting
        self.on_error = on_error
        self.queue_chunks = queue_chunks
        self.notices: list[Notice] = []
        self.reports: collections.deque[SentenceReport] = collections.deque(maxlen=200)
        self._rtfs: dict[str, collections.deque[float]] = {}
        self._downgraded_from: set[str] = set()
        # Enrolled voices by spec ("vault:" + a preset id): (pack, VoiceCondition, label). Decrypted from
        # the vault into memory only, for as long as this synthesizer lives or until forget_voice().
        self._enrolled: dict[str, tuple[str, Any, str]] = {}
        self._control: RunControl | None = None
        self._queue: queue.Queue | None = None
        self.worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pipeline_lock = threading.Lock()  # loading packs; shared with fork()s

    # --- construction -----------------------------------------------------------------------------

    @classmethod
    def load(cls, settings: Any, *, search_dirs: Iterable[Path] | None = None, default_pack: str | None = None,
             plan: WindowPlan = WindowPlan(), **kwargs: Any) -> "Synthesizer":
        """A synthesizer over the installed speaking packs; each pack is verified and loaded when first used."""
        from reader.speech import packs

        found = [(path, m) for path, m in packs.find_packs(search_dirs)
                 if "acoustic" in m.stages and "vocoder" in m.stages]
        if not found:
            raise PackError("No voice pack is installed; run `reader packs build` to build the default ones.")
        paths = {m.name: path for path, m in found}
        pool = SessionPool(getattr(settings, "memory_budget_mb", None))
        dictionary = _dictionary(settings)

        def loader(name: str) -> Pipeline:
            pack = packs.open_pack(paths[name])
            return Pipeline.load(pack, settings, pool=pool, plan=plan, dictionary=dictionary)

        return cls(settings=settings, loader=loader, available=[m for _, m in found],
                   default_pack=default_pack, **kwargs)

    def fork(self) -> "Synthesizer":
        """A second synthesizer over the same loaded packs and enrolled voices, with a stream of its own:
        an export runs beside the app's own speech without loading the voices twice."""
        other = Synthesizer(settings=self.settings, loader=self._loader, available=list(self._manifests.values()),
                            default_pack=self.default_pack if self._default_given else None,
                            on_notice=self.on_notice, on_error=self.on_error, queue_chunks=self.queue_chunks)
        other._pipelines, other._enrolled, other._pipeline_lock = self._pipelines, self._enrolled, self._pipeline_lock
        return other

    @property
    def pack_names(self) -> list[str]:
        return list(self._manifests)

    def pipeline(self, name: str) -> Pipeline:
        """The loaded pipeline of a pack (loading it now if needed)."""
        with self._pipeline_lock:
            if name not in self._pipelines:
                if name not in self._manifests or self._loader is None:
                    raise PackError(f"There is no voice pack named {name}; installed: {', '.join(self._manifests) or 'none'}.")
                self._pipelines[name] = self._loader(name)
                if self.punctuation is not None:
                    self._pipelines[name].punctuation = self.punctuation
            return self._pipelines[name]

    def set_punctuation(self, level: str) -> None:
        """How much punctuation is spoken from now on, by the loaded packs and those loaded later."""
        self.punctuation = level
        for pipeline in self._pipelines.values():
            pipeline.punctuation = level

    def release_stages(self) -> None:
        """Unload every stage session not running now (e.g. when reading pauses); they reload on use."""
        with self._lock:
            for p in self._pipelines.values():
                if p.pool is not None:
                    p.pool.release_all()

    def add_voice(self, spec: str, pack: str, condition: Any, label: str) -> None:
        """Make `spec` (an enrolled voice's "vault:ID") speak through `pack` with `condition`."""
        if pack not in self._manifests:
            raise PackError(f"There is no voice pack named {pack}; installed: {', '.join(self._manifests) or 'none'}.")
        with self._lock:
            self._enrolled[spec] = (pack, condition, label)

    def forget_voice(self, spec: str | None = None) -> None:
        """Drop one enrolled voice (or all) from memory."""
        with self._lock:
            if spec is None:
                self._enrolled.clear()
            else:
                self._enrolled.pop(spec, None)

    def has_voice(self, spec: str) -> bool:
        return spec in self._enrolled

    def voice_label(self, spec: str) -> str | None:
        """What to call an enrolled voice on screen ("Grandma's voice"), None for a stock spec."""
        found = self._enrolled.get(spec)
        return None if found is None else found[2]

    def pack_for_voice(self, voice: str) -> str | None:
        """The pack of an enrolled voice, or the pack that has a stock voice of this id (the first one of a blend)."""
        if voice in self._enrolled:
            return self._enrolled[voice][0]
        first = voice.replace(",", "+").split("+")[0].split(":")[0].split("*")[0].strip()
        for m in self._manifests.values():
            if first in [v.id for v in getattr(m, "voices", ())]:
                return m.name
        return None

    def pack_with(self, lang: str, prefer_tier: str = "rich") -> str | None:
        """A pack that reads `lang`: one whose own voice is a native speaker of it first (a listener
        should never meet an accented voice by default), then the preferred tier."""
        names = [m.name for m in self._manifests.values() if lang in m.languages]
        # A cloning pack has no voice of its own: it reads only with a speaker's embedding, so last.
        names.sort(key=lambda n: (getattr(self._manifests[n], "conditioning", "") == "speaker_embedding",
                                  not _native(self._manifests[n], lang), self._manifests[n].tier != prefer_tier))
        return names[0] if names else None

    def default_pack_for(self, lang: str) -> str | None:
        """The pack that reads `lang` when nobody chose one: a pack with a native voice of it, the fast
        tier first (English: Piper, first audio ~70 ms against Kokoro's ~300 ms here; Chinese: Kokoro's
        Mandarin voices, the only native ones), else the first pack. Which voice is most intelligible is
        for a recognizer to measure (issue 11); until then the fast native voice reads English."""
        return self.pack_with(lang, prefer_tier="fast") or self.default_pack

    def default_voice_for(self, lang: str, pack: str | None = None) -> str | None:
        """The stock voice that reads `lang` when nobody chose one (on `pack`, else default_pack_for)."""
        name = pack or self.default_pack_for(lang)
        manifest = self._manifests.get(name) if name else None
        if manifest is None:
            return None
        default = getattr(manifest, "default_voice_for", None)
        found = default(lang) if default is not None else None
        if found:
            return found
        voices = [v.id for v in getattr(manifest, "voices", ())]
        return voices[0] if voices else None

    def partner_voice(self, pack: str, voice: str, lang: str) -> str | None:
        """The voice of `pack` that reads `lang` in place of the chosen stock `voice` when that is of
        another language: its partner of the same gender (voice_pairs), None when it has none (a blend,
        an enrolled voice, a voice of a language without pairs)."""
        manifest = self._manifests.get(pack)
        info = getattr(manifest, "voice_info", None)
        chosen = info(voice) if info is not None else None
        if chosen is None or chosen.language.split("-")[0] == lang.split("-")[0]:
            return None
        return manifest.partner(voice, lang)

    def interface_pack(self, lang: str = "en") -> str | None:
        """The voice of the app's own speech: the fast pack with a native voice of the interface
        language (the Piper voice for English: 7% of interface words misheard by a recognizer, against
        32% for Kokoro's Japanese voice), else the most native pack for it."""
        return self.pack_with(lang, prefer_tier="fast") or self.default_pack

    # --- streaming --------------------------------------------------------------------------------

    def stream(self, sentences: Iterable[SpeechText | str | Any], options: SynthesisOptions = SynthesisOptions()
               ) -> Iterator[AudioChunk]:
        """AudioChunks of the sentences, in order, made by a background thread ahead of the consumer.
        Closing the iterator or cancel() stops the work at once.

        The stream starts (and cancels the one before) when this is called, not at the first next(): a
        caller that decides under its own lock whether to start one (the speech channel) then knows that
        no stream it gave up on can start later and cancel the newer one."""
        self.cancel()
        control = RunControl()
        chunks: queue.Queue = queue.Queue(maxsize=self.queue_chunks)
        worker = threading.Thread(target=self._work, args=(list(sentences), options, control, chunks),
                                  name="speech-synthesis", daemon=True)
        with self._lock:
            self._control, self._queue, self.worker = control, chunks, worker
        worker.start()
        return self._chunks(control, chunks)

    def _chunks(self, control: RunControl, chunks: queue.Queue) -> Iterator[AudioChunk]:
        try:
            while True:
                item = chunks.get()
                if item is _END or control.cancelled:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            control.cancel()

    def cancel(self) -> None:
        """Stop the current stream now: running models are terminated, queued chunks dropped. Returns
        at once (it does not wait for the worker thread, which ends within milliseconds)."""
        with self._lock:
            control, chunks = self._control, self._queue
        if control is None or chunks is None:
            return
        control.cancel()
        try:
            while True:
                chunks.get_nowait()
        except queue.Empty:
            pass
        try:
            chunks.put_nowait(_END)
        except queue.Full:  # pragma: no cover - just drained; only a racing worker put could fill it
            pass

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread to end; True if it has."""
        worker = self.worker
        if worker is None:
            return True
        worker.join(timeout)
        return not worker.is_alive()

    def _put(self, chunks: queue.Queue, item: Any, control: RunControl) -> None:
        while True:
            if control.cancelled:
                raise Cancelled("cancelled")
            try:
                chunks.put(item, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def _notice(self, notice: Notice) -> None:
        # Logged as a warning only when nobody else tells the user (else `say` printed it twice).
        log.log(logging.WARNING if self.on_notice is None else logging.INFO, "%s", notice.message)
        self.notices.append(notice)
        if self.on_notice is not None:
            try:
                self.on_notice(notice)
            except Exception:  # a UI callback must not stop the reading
                log.exception("notice callback failed")

    def _work(self, sentences: list[Any], options: SynthesisOptions, control: RunControl,
              chunks: queue.Queue) -> None:
        try:
            self._speak_all(sentences, options, control, chunks)
            self._put(chunks, _END, control)
        except Cancelled:
            pass
        except BaseException as exc:  # handed to the consumer, who raises it in its own thread
            if not isinstance(exc, ReaderError):
                log.exception("speech worker failed")
            try:
                self._put(chunks, exc, control)
            except Cancelled:
                pass

    def _speak_all(self, sentences: list[Any], options: SynthesisOptions, control: RunControl,
                   chunks: queue.Queue) -> None:
        from reader.text.scripts import language_runs
        from reader.text.sentences import detect_lang

        prosody = options.prosody()
        chosen = options.pack or (self.pack_for_voice(options.voice) if options.voice else None)
        pinned = bool(options.pack) or not options.allow_downgrade
        # Nobody chose a pack: each sentence is read by the pack with a native voice of its language.
        current = chosen or (self.default_pack if self._default_given else None)
        if current is None and self.default_pack is None:
            raise PackError("No voice pack is installed; run `reader packs build` to build the default ones.")
        voices: dict[tuple[str, str], Any] = {}  # (pack, language) -> its voice
        fallback_said: set[tuple[str, str]] = set()
        unspoken_said: set[str] = set()

        def speaker_for(lang: str, sid: int) -> tuple[str, Pipeline, Any]:
            """The pack and voice that read `lang`: the current pack if it can, else one that can."""
            name = current or self.default_pack_for(lang)
            if lang not in self._manifests[name].languages:
                other = self.pack_with(lang)
                if other is None:
                    from reader.speech.g2p import UnsupportedAlphabet

                    raise UnsupportedAlphabet(
                        f"The {name} voice cannot read {LANGUAGE_NAMES.get(lang, lang)} and no installed pack can; "
                        "run `reader packs build` to build the rich pack (Kokoro), which reads English and Chinese."
                    )
                if (name, other) not in fallback_said:
                    fallback_said.add((name, other))
                    self._notice(Notice("fallback", f"The {name} voice cannot read {LANGUAGE_NAMES.get(lang, lang)}; "
                                        f"{LANGUAGE_NAMES.get(lang, lang)} sentences are read by the {other} pack.", sid))
                name = other
            pipeline = self.pipeline(name)
            key = (name, lang)
            if key not in voices:
                spec = options.voice if name == (chosen or self.default_pack_for(lang)) else None
                if spec and options.voice_per_language:
                    spec = self.partner_voice(name, spec, lang) or spec
                enrolled = self._enrolled.get(spec) if spec else None
                if enrolled is not None and enrolled[0] == name:
                    condition = enrolled[1]
                    if hasattr(condition, "for_lang"):  # an enrolled voice fitted per language
                        condition = condition.for_lang(lang, pipeline, control)
                    voices[key] = condition
                else:
                    voices[key] = pipeline.voice(spec, lang=lang, control=control)
            voice = voices[key]
            voices[key] = dataclasses.replace(voice, speaker_ms=0.0)  # encoder time counted once
            return name, pipeline, voice

        for i, item in enumerate(sentences):
            if control.cancelled:
                return
            sid, text, lang = _as_sentence(item, i)
            if options.lang != "auto":
                lang = options.lang
            elif lang == "auto":
                lang = detect_lang(text)
            # Each run of another language is read by a voice of that language, in the same sentence; a
            # language no installed pack reads is named where it stands ("Russian text, not spoken" the
            # first time, "Russian text" after), in the sentence's own language: never skipped in silence.
            parts: list[tuple[str, str]] = []  # (text, language) to speak, in order
            runs = language_runs(text, lang)
            for run in runs:
                if run.lang == lang or self.pack_with(run.lang) is not None:
                    parts.append((text if len(runs) == 1 else text[run.start:run.end].strip(), run.lang))
                elif text[run.start:run.end].strip():
                    first = run.lang not in unspoken_said
                    if first:
                        unspoken_said.add(run.lang)
                        what = run.name
                        self._notice(Notice("unspoken", f"{what} text, not spoken: no installed voice reads "
                                            f"{what}.", sid))
                    parts.append((_unspoken(run.lang, lang, first), lang))
            for n, (part, part_lang) in enumerate(parts):
                name, pipeline, voice = speaker_for(part_lang, sid)
                report = self._speak_one(pipeline, sid, part, part_lang, voice, prosody, control, chunks,
                                         final=n == len(parts) - 1)
                if report is None or len(parts) > 1:
                    continue
                if not pinned and name == (current or name) and self._too_slow(name, report.times.rtf):
                    fast = self._fast_pack_for(lang, exclude=name)
                    if fast is not None:
                        self._downgraded_from.add(name)
                        current = fast
                        self._notice(Notice(
                            "downgrade",
                            f"This machine is too slow for the {name} voice (it needed {report.times.rtf:.2f} "
                            f"s of work per second of speech); switching to the faster {fast} voice.", sid))

    def _speak_one(self, pipeline: Pipeline, sid: int, text: str, lang: str, voice: Any, prosody: Prosody,
                   control: RunControl, chunks: queue.Queue, *, final: bool = True) -> SentenceReport | None:
        """Synthesize one sentence (or, final=False, a run of it that more runs follow) into the queue
        under its deadline (work time, not waiting time)."""
        control.renew()
        gen = pipeline.synthesize(text, sentence_id=sid, lang=lang, voice=voice, prosody=prosody, control=control)
        work = 0.0
        try:
            while True:
                remaining = self.timeout_s - work
                if remaining <= 0:
                    control.expire()
                timer = threading.Timer(max(remaining, 0.0), control.expire)
                timer.daemon = True
                timer.start()
                t0 = time.perf_counter()
                try:
                    chunk = next(gen)
                except StopIteration:
                    return None
                finally:
                    timer.cancel()
                    work += time.perf_counter() - t0
                self._put(chunks, chunk if final or not chunk.last else dataclasses.replace(chunk, last=False),
                          control)
                if chunk.last:
                    report = SentenceReport(sid, pipeline.name, chunk.times or StageTimes())
                    self.reports.append(report)
                    return report
        except Cancelled as stop:
            if stop.reason != "timeout" or control.cancelled:
                raise
            control.renew()
            self._notice(Notice("timeout", f"Sentence {sid + 1} took more than {self.timeout_s:g} s to "
                                f"synthesize and was skipped; reading goes on with the next one.", sid))
            return None
        except ReaderError as exc:
            if self.on_error == "raise":
                raise
            self._notice(Notice("skipped", f"Sentence {sid + 1} was skipped: {exc.message}", sid))
            return None
        finally:
            gen.close()

    def _too_slow(self, name: str, rtf: float) -> bool:
        window = self._rtfs.setdefault(name, collections.deque(maxlen=RTF_WINDOW))
        if rtf > 0:
            window.append(rtf)
        return len(window) == RTF_WINDOW and sum(window) / len(window) > self.slow_rtf

    def _fast_pack_for(self, lang: str, exclude: str) -> str | None:
        for m in self._manifests.values():
            if m.name != exclude and m.tier == "fast" and lang in m.languages:
                return m.name
        return None


def _native(manifest: Any, lang: str) -> bool:
    """Whether a pack has a native voice of `lang` to read it with: its default voice for it, or (a pack
    without defaults) a speakable voice of that language; a pack that lists no voices with languages
    counts as native for the languages it declares."""
    if lang in (getattr(manifest, "default_voices", None) or {}):
        return True
    voices = [v for v in getattr(manifest, "voices", ()) if getattr(v, "language", None)]
    if not voices:
        return lang in getattr(manifest, "languages", ())
    return any(v.language.split("-")[0] == lang and getattr(v, "speakable", True) for v in voices)


@dataclass(frozen=True)
class _VoiceId:
    id: str


@dataclass(frozen=True)
class _PipelineInfo:
    name: str
    tier: str
    languages: tuple[str, ...]
    voices: tuple = ()


# Language names said in Chinese, where a Chinese sentence holds text no voice reads.
_LANG_ZH = {"en": "英文", "ru": "俄文", "uk": "乌克兰文", "ar": "阿拉伯文", "fa": "波斯文", "th": "泰文", "ja": "日文",
            "ko": "韩文", "el": "希腊文", "he": "希伯来文", "hi": "印地文"}


def _unspoken(run_lang: str, lang: str, first: bool) -> str:
    """What is said in place of text no installed voice reads, in the sentence's language."""
    if lang == "zh":
        return _LANG_ZH.get(run_lang, "外文") + ("，无法朗读。" if first else "。")
    return f"{LANGUAGE_NAMES.get(run_lang, 'Foreign')} text" + (", not spoken." if first else ".")


def _as_sentence(item: Any, index: int) -> tuple[int, str, str]:
    """(id, text, lang) of a SpeechText, a reader.text.document.Sentence or a plain string."""
    if isinstance(item, str):
        return index, item, "auto"
    return int(getattr(item, "id", index)), str(item.text), str(getattr(item, "lang", "auto") or "auto")


def _dictionary(settings: Any) -> Any:
    """The user's pronunciation dictionary, or None when there is none."""
    path = getattr(settings, "dictionary_file", None)
    if path is None or not Path(path).exists():
        return None
    from reader.text.dictionary import PronunciationDictionary

    return PronunciationDictionary.load(path)
