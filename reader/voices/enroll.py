"""Family voices in the vault: enrolling a voice (consent, checked recordings, the speaker embedding, a
reading preset), verifying a recording against it, listing and crypto-shredding it. One vault group a voice."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from reader.errors import ReaderError
from reader.speech import features
from reader.speech.speaker import similarity
from reader.voices import PRESET_NAME, VAULT_PREFIX, checks, quality
from reader.voices.consent import Consent, ConsentError, consent_meta

log = logging.getLogger(__name__)

SAMPLE_RATE = features.SAMPLE_RATE
# Recordings are kept as 16-bit PCM at 16 kHz: what the speaker encoders take, and half the size of
# float32. 16 bits hold ~96 dB, far more than any room's noise floor leaves.
PCM_FORMAT = "pcm_s16le"
GROUP_PREFIX = "voice:"  # vault group of a voice; other groups (the dialect archive) are not voices
CONSENT_NAME = "consent"
CONSENT_AUDIO_NAME = "consent-audio"
EMBEDDING_NAME = "ge2e-speaker"
MAX_VOICE_NAME_CHARS = 100
# Verification threshold on GE2E cosine similarity (enrolled embedding vs one clip's embedding).
# Measured with leave-one-out enrollment (mean of up to 3 clips, 4-23 s each) against single clips:
#  * Real people (no speech corpus ships with any installed package; these came from Debian packages,
#    fetched with apt-get download for the measurement only, not used by the product or its tests):
#    asterisk-core-sounds-{en,es,fr,ru}-wav (Allison Smith in English and Spanish, June Wallack, a Russian
#    IVR voice), asterisk-prompt-{fr-armelle,es-co,it-menardi-wav}, alsa-utils' channel test voice and
#    codec2-examples' speech samples (16 speakers, 8 of them with several clips; mostly 8 kHz telephone
#    band). Same person: n=53, median 0.947, p5 0.800, min 0.685 (a 3.5 s clip with 2.7 s of speech).
#    Different people: n=577, median 0.589, p95 0.772, max 0.832 (two professional IVR women).
#    Equal error rate 3.7 % at 0.782; at 0.80: 1.9 % false "same", 3.8 % false "not the same".
#  * Bundled model voices (Kokoro's 5 styles, Piper's Joe; 6 sentences each): same voice n=36, min 0.898;
#    different voices n=180, median 0.656, max 0.898 (jf_gongitsune vs jf_nezumi); EER 0.3 % at 0.895.
#    Kokoro's four jf_* styles are closer to one another than any two real people measured, so the
#    synthetic equal-error point says more about Kokoro than about families.
# Chosen: the real recordings' equal-error point, 0.78, plus a 0.02 margin towards fewer false "same
# person" verdicts.
VERIFY_THRESHOLD = 0.80
# Enrolled clips must also agree with each other: a clip whose embedding is under this similarity to the
# mean of the others is another person (real different people: median 0.589; same person min 0.685).
CLIP_AGREEMENT_MIN = 0.70
# The speaker encoder's least (reader.speech.speaker.MIN_SECONDS) and a little: a clip whose pauses cut
# would leave less is embedded whole.
MIN_EMBED_S = 3.2

SAME = "same person"
NOT_SAME = "probably not the same person"


class VoiceError(ReaderError):
    """A voice name, voice or recording the voice store cannot use."""

    title = "Voices"


class VoiceNotFound(VoiceError):
    pass


@dataclass(frozen=True)
class Clip:
    """One recording ready for checks: 16 kHz mono float32, and the samples at the file's own rate
    (the clipping check needs them before resampling)."""

    samples: np.ndarray
    label: str
    original: np.ndarray | None = None
    source: str = "file"  # "file" or "microphone"
    original_rate: int | None = None  # the rate of `original`

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def load_clip(path: Path | str) -> Clip:
    """A WAV, FLAC or OGG file (soundfile) at any rate, resampled to 16 kHz with soxr."""
    from reader.speech.voices import VoiceError as SampleError
    from reader.speech.voices import read_audio

    path = Path(path)
    try:
        samples, rate = read_audio(path)
    except SampleError as exc:
        raise VoiceError(exc.message) from None
    return Clip(features.to_16k(samples, rate), path.name, original=samples, original_rate=rate)


def prepare(clip: Clip, encoder: Any = None) -> tuple[Clip, quality.QualityReport]:
    """Check a clip (QualityError on a refusal) and return it with its speech brought to the normal level
    (quality.normalize), with what was measured; warnings are in the report. The normalized samples are
    what is embedded and stored; they stay in memory (only the vault's ciphertext reaches the disk)."""
    report = quality.check(clip.samples, original=clip.original, original_rate=clip.original_rate,
                           encoder=encoder, label=clip.label)
    return dataclasses.replace(clip, samples=quality.normalize(clip.samples, report), original=None,
                               original_rate=None), report


def embed_clip(encoder: Any, samples16k: np.ndarray, *, narrowband: bool = False) -> np.ndarray:
    """The speaker embedding of a (normalized) clip with its long pauses cut; `narrowband` compares in
    the phone band (300-3400 Hz), for a phone recording against a wideband one."""
    x = np.asarray(samples16k, dtype=np.float32)
    shorter = quality.without_pauses(x, quality.find_speech(x))
    if len(shorter) >= MIN_EMBED_S * SAMPLE_RATE:  # else the clip as it is (the encoder trims it)
        x = shorter
    if narrowband:
        x = quality.band_limit(x)
    return encoder.embed(x, SAMPLE_RATE)


def matched_embeddings(encoder: Any, a: np.ndarray, a_report: quality.QualityReport, b: np.ndarray,
                       b_report: quality.QualityReport) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of two normalized clips compared in one condition: in the phone band when either is
    phone-band, and with the noisy one's room noise added to the other when only one is noisy.

    GE2E moves with the channel: in calibration one person's noisy clip (pink noise, 15 dB SNR) against
    a clean one gave a median 0.72 (9 of 10 under VERIFY_THRESHOLD), in the same noise 0.91 (none under
    it); different voices in the same noise came to a median 0.61 and at most 0.80-0.83 (1-6 of 90 over
    the threshold, against none without the noise)."""
    narrow = a_report.narrowband or b_report.narrowband
    a_noisy, b_noisy = a_report.snr_db < quality.NOISY_SNR_DB, b_report.snr_db < quality.NOISY_SNR_DB
    if a_noisy != b_noisy:
        noisy, clean = (a, "b") if a_noisy else (b, "a")
        frames = quality.find_speech(noisy)
        noise = quality.room_noise(noisy, frames)
        if noise is not None and frames.speech.any():
            # The noisy clip's own speech-to-noise ratio, measured on it as it is now (normalized).
            noise_db = 10 * np.log10(np.mean(np.square(noise, dtype=np.float64)) + 1e-20)
            snr = quality.level_db(frames.energies[frames.speech]) - noise_db
            if clean == "b":
                b = quality.add_noise(b, noise, snr)
            else:
                a = quality.add_noise(a, noise, snr)
    return embed_clip(encoder, a, narrowband=narrow), embed_clip(encoder, b, narrowband=narrow)


def needs_matching(a: quality.QualityReport, b: quality.QualityReport) -> bool:
    """Whether two clips are to be compared in a common condition: the phone band on either side (two
    phone-band clips differ too: an 8 kHz file keeps 0-4 kHz, a phone line 300-3400 Hz; calibration:
    a median 0.70 between them, in the common band 0.9), or noise on one side only."""
    return a.narrowband or b.narrowband or ((a.snr_db < quality.NOISY_SNR_DB) != (b.snr_db < quality.NOISY_SNR_DB))


def to_pcm16(samples: np.ndarray) -> bytes:
    x = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (np.round(x * 32767.0)).astype("<i2").tobytes()


def from_pcm16(data: bytes) -> np.ndarray:
    return (np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0)


def unit_mean(embeddings: Iterable[np.ndarray]) -> np.ndarray:
    """The L2-normalised mean of unit embeddings."""
    mean = np.mean([np.asarray(e, dtype=np.float64) for e in embeddings], axis=0)
    return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)


def check_name(name: str) -> str:
    """A voice name: 1-100 printable characters, NFC-normalised, no leading or trailing space."""
    if not isinstance(name, str) or not name.strip():
        raise VoiceError("Give the voice a name, e.g. grandma.")
    name = unicodedata.normalize("NFC", name.strip())
    if len(name) > MAX_VOICE_NAME_CHARS:
        raise VoiceError(f"A voice name is at most {MAX_VOICE_NAME_CHARS} characters long.")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name):
        raise VoiceError("A voice name cannot hold control characters.")
    return name


@dataclass(frozen=True)
class Verdict:
    similarity: float
    same_speaker: bool
    threshold: float = VERIFY_THRESHOLD

    @property
    def text(self) -> str:
        return SAME if self.same_speaker else NOT_SAME

    def as_json(self) -> dict[str, Any]:
        return {"similarity": round(float(self.similarity), 4), "same_speaker": bool(self.same_speaker)}


@dataclass(frozen=True)
class VoiceSummary:
    name: str
    clips: int
    seconds: float
    consent: Consent | None
    preset: dict[str, Any] | None  # the preset record's meta: pack, kind, spec, similarity, stock
    preset_id: str = ""

    def preset_text(self) -> str:
        if self.preset is None:
            return "no reading preset"
        p = self.preset
        if p.get("kind") == "embedding":
            return f"preset: its own voice on {p.get('pack')} (similarity {p.get('similarity', 0):.2f})"
        stock = p.get("stock_similarity")
        stock_text = f", stock best {stock:.2f}" if stock is not None else ""
        what = f"a fitted voice from {p.get('spec')}" if p.get("kind") == "style" else p.get("spec")
        langs = p.get("langs") or []
        for_langs = f" for {'+'.join(langs)}" if langs else ""
        return f"preset {what} on {p.get('pack')}{for_langs}: similarity {p.get('similarity', 0):.2f}{stock_text}"


@dataclass(frozen=True)
class DeleteReport:
    name: str
    counts: dict[str, int]  # kind -> number of records

    def message(self) -> str:
        nouns = (("recording", "recording", "recordings"), ("embedding", "embedding", "embeddings"),
                 ("preset", "preset", "presets"), ("consent", "consent record", "consent records"))
        parts = [f"{self.counts.get(kind, 0)} {one if self.counts.get(kind, 0) == 1 else many}"
                 for kind, one, many in nouns]
        others = sum(n for kind, n in self.counts.items() if kind not in {k for k, _, _ in nouns})
        if others:
            parts.append(f"{others} other record{'s' if others != 1 else ''}")
        return f"Deleted {self.name}: {', '.join(parts)}; their encryption key was destroyed."


@dataclass(frozen=True)
class EnrollResult:
    name: str
    clips: int
    seconds: float
    embedding: np.ndarray
    reports: tuple[quality.QualityReport, ...]
    enroll_ms: float
    labels: tuple[str, ...] = ()  # the clips' labels, in the order of `reports`

    def warnings(self) -> list[str]:
        """What was accepted but could be better, one "label: sentence" line per warning."""
        labels = self.labels or tuple(f"Recording {i}" for i in range(1, len(self.reports) + 1))
        return [f"{label}: {sentence}" for label, report in zip(labels, self.reports)
                for _, sentence in report.warnings]


class VoiceBook:
    """The voices in an unlocked vault. Every record of voice X lives in the vault group "voice:X", so
    deleting X is one delete_group: records and their key go in one index write (crypto-shredding)."""

    def __init__(self, vault: Any) -> None:
        self.vault = vault

    @staticmethod
    def group(name: str) -> str:
        return GROUP_PREFIX + name

    def names(self) -> list[str]:
        return sorted(g[len(GROUP_PREFIX):] for g in self.vault.groups() if g.startswith(GROUP_PREFIX))

    def exists(self, name: str) -> bool:
        return self.group(name) in self.vault.groups()

    def require(self, name: str) -> str:
        """The checked name of an enrolled voice; VoiceNotFound (naming the enrolled ones) if there is none."""
        name = check_name(name)
        if not self.exists(name):
            known = ", ".join(self.names()) or "none yet"
            raise VoiceNotFound(f"There is no voice named {name}; the enrolled voices are: {known}.")
        return name

    # --- reading -----------------------------------------------------------------------------------

    def records(self, name: str, kind: str | None = None) -> list[Any]:
        return self.vault.list(kind=kind, group=self.group(name))

    def consent(self, name: str) -> Consent | None:
        info = self.vault.find("consent", CONSENT_NAME, self.group(name))
        return None if info is None else Consent.from_bytes(self.vault.get(info.id))

    def _checked(self, name: str, info: Any, data: bytes | None = None) -> bytes | None:
        """`data` of the voice's record `info` if it passes reader.voices.checks (a record may come from a
        crafted backup); else one VoiceError that says what is wrong and what to do."""
        problem = checks.record_problem(info.kind, info.name, info.size, info.meta, data)
        if problem:
            raise VoiceError(damaged_voice(name, problem))
        return data

    def embedding(self, name: str) -> np.ndarray:
        name = self.require(name)
        info = self.vault.find("embedding", EMBEDDING_NAME, self.group(name))
        if info is None:
            raise VoiceError(f"The voice {name} has no speaker embedding; delete it and enroll it again.")
        data = self._checked(name, info, self.vault.get(info.id))
        return np.frombuffer(data, dtype="<f4").copy()

    def recordings(self, name: str) -> list[np.ndarray]:
        """The voice's recordings (16 kHz float32), decrypted into memory only."""
        name = self.require(name)
        return [from_pcm16(self._checked(name, info) or self.vault.get(info.id))
                for info in self.records(name, "recording")]

    def phone_band(self, name: str) -> bool:
        """Whether any of the voice's recordings came through a phone line or at 8 kHz (as measured when
        it was checked): the voice is then fitted and compared in the phone band."""
        return any((info.meta.get("quality") or {}).get("narrowband")
                   for info in self.records(self.require(name), "recording"))

    def preset(self, name: str) -> dict[str, Any] | None:
        name = self.require(name)
        info = self.vault.find("preset", PRESET_NAME, self.group(name))
        if info is None:
            return None
        return preset_doc(self.vault.get(info.id), name)

    def summary(self, name: str) -> VoiceSummary:
        recs = self.records(name, "recording")
        preset = self.vault.find("preset", PRESET_NAME, self.group(name))
        try:
            consent = self.consent(name)
        except ConsentError:
            consent = None
        # 16-bit mono at 16 kHz: the record's size gives its length (streamed ones have no length in meta).
        seconds = sum(r.size / 2 / int(r.meta.get("sample_rate", SAMPLE_RATE)) for r in recs)
        return VoiceSummary(name=name, clips=len(recs), seconds=seconds,
                            consent=consent, preset=None if preset is None else dict(preset.meta),
                            preset_id="" if preset is None else preset.id)

    # --- enrolling ---------------------------------------------------------------------------------

    def check_clips(self, clips: list[Clip], encoder: Any) -> list[quality.QualityReport]:
        """Every quality check on every clip; raises QualityError on the first refusal."""
        return [prepare(c, encoder)[1] for c in clips]

    def enroll(self, name: str, clips: list[Clip], consent: Consent | None, encoder: Any, *,
               consent_audio: Clip | None = None) -> EnrollResult:
        """Check everything, then store consent, recordings and the embedding in the voice's group.

        Nothing is written unless consent is given and every clip passes its checks; if a write fails
        half-way, the group is shredded again, so a voice is stored whole or not at all.
        """
        start = time.perf_counter()
        name = check_name(name)
        if consent is None:
            raise ConsentError("Enrollment needs the person's consent first; give --consent-by and --purpose, "
                               "or answer the consent questions.")
        if self.exists(name):
            raise VoiceError(f"There is already a voice named {name}; delete it first "
                             f"(`reader voices delete {name}`) or choose another name.")
        if not clips:
            raise VoiceError("Give at least one recording (--from FILE, or --mic).")
        prepared = [prepare(c, encoder) for c in clips]
        clips, reports = [c for c, _ in prepared], [r for _, r in prepared]
        if consent_audio is not None:
            consent_audio, _ = prepare(dataclasses.replace(consent_audio, label="The consent recording"))
        embeddings = [embed_clip(encoder, c.samples) for c in clips]
        self._check_agreement(clips, embeddings, reports=reports, encoder=encoder)
        embedding = unit_mean(embeddings)
        group = self.group(name)
        with self.enrolling(name) as tx:  # one index write makes the whole voice appear, or nothing does
            self.store_consent(name, consent, consent_audio, into=tx)
            for i, (clip, report) in enumerate(zip(clips, reports), 1):
                tx.put("recording", f"clip-{i}", to_pcm16(clip.samples), group=group,
                       meta=self._recording_meta(clip.seconds, clip.source, report))
            self.store_embedding(name, embedding, len(clips), into=tx)
        ms = (time.perf_counter() - start) * 1000
        return EnrollResult(name, len(clips), sum(c.seconds for c in clips), embedding, tuple(reports), ms,
                            labels=tuple(c.label for c in clips))

    def _check_agreement(self, clips: list[Clip], embeddings: list[np.ndarray], *,
                         reports: list[quality.QualityReport] | None = None, encoder: Any = None) -> None:
        """Each clip must be of the person the others are of. Phone-band and wideband clips of one person
        differ in GE2E (median 0.67 in calibration, under CLIP_AGREEMENT_MIN): mixed, they are compared
        in the phone band."""
        if len(embeddings) < 2:
            return
        if reports and encoder is not None and any(needs_matching(reports[0], r) for r in reports[1:]):
            # Mixed conditions (a phone memo and a wideband file, a noisy and a quiet room): each clip
            # against each other one in their common condition (matched_embeddings).
            for i, clip in enumerate(clips):
                mine, theirs = [], []
                for j, other in enumerate(clips):
                    if j != i:
                        a, b = matched_embeddings(encoder, clip.samples, reports[i], other.samples, reports[j])
                        mine.append(a)
                        theirs.append(b)
                if similarity(unit_mean(mine), unit_mean(theirs)) < CLIP_AGREEMENT_MIN:
                    raise quality.QualityError(
                        f"{clip.label}: This recording seems to be of another person than the others; "
                        "record one person at a time.", problem="voices")
            return
        for i, clip in enumerate(clips):
            others = unit_mean(e for j, e in enumerate(embeddings) if j != i)
            if similarity(embeddings[i], others) < CLIP_AGREEMENT_MIN:
                raise quality.QualityError(
                    f"{clip.label}: This recording seems to be of another person than the others; "
                    "record one person at a time.", problem="voices")

    @contextlib.contextmanager
    def enrolling(self, name: str) -> Iterator[Any]:
        """A vault transaction for a new voice: what is put into it appears at the end of the block, all at
        once (the voice's group is made then), or, on an error or a crash, not at all."""
        name = check_name(name)
        taken = VoiceError(f"There is already a voice named {name}; delete it first "
                           f"(`reader voices delete {name}`) or choose another name.")
        if self.exists(name):
            raise taken
        from reader.vault.store import GroupConflict

        try:
            with self.vault.transaction() as tx:
                yield tx
        except GroupConflict:
            raise taken from None

    def store_consent(self, name: str, consent: Consent, audio: Clip | None = None, *, into: Any = None) -> None:
        """The consent record (and the spoken consent), into the enrollment's transaction `into`."""
        target = into or self.vault
        group = self.group(name)
        if audio is not None:
            consent = dataclasses.replace(consent, spoken=True)
        target.put("consent", CONSENT_NAME, consent.to_bytes(), group=group, meta=consent_meta(consent))
        if audio is not None:
            target.put("consent", CONSENT_AUDIO_NAME, to_pcm16(audio.samples), group=group,
                           meta={"format": PCM_FORMAT, "sample_rate": SAMPLE_RATE, "seconds": round(audio.seconds, 2)})

    def store_embedding(self, name: str, embedding: np.ndarray, clips: int, *, into: Any = None) -> None:
        (into or self.vault).put("embedding", EMBEDDING_NAME, np.asarray(embedding, dtype="<f4").tobytes(),
                       group=self.group(name), meta={"encoder": EMBEDDING_NAME, "dim": int(len(embedding)),
                                                     "clips": clips})

    @staticmethod
    def _recording_meta(seconds: float, source: str, report: quality.QualityReport | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"format": PCM_FORMAT, "sample_rate": SAMPLE_RATE, "seconds": round(seconds, 2),
                                "source": source}
        if report is not None:
            meta["quality"] = report.as_dict()
        return meta

    def record_stream(self, name: str, record_name: str, chunks: Iterable[bytes], *,
                      source: str = "microphone", into: Any = None) -> Any:
        """Seal PCM chunks into the voice's group as they come (the microphone path): no plaintext file."""
        return (into or self.vault).put_stream("recording", record_name, chunks, group=self.group(name),
                                     meta={"format": PCM_FORMAT, "sample_rate": SAMPLE_RATE, "source": source})

    def store_preset(self, name: str, fit: Any) -> None:
        """The preset (kind "preset"): per reading language the fitted style table, blend spec or stock
        voice (or, for a cloning pack, the embedding), the pack and both encoders' figures. A fit for
        another language of the same pack joins the record; the first language stays the primary one."""
        from reader.voices.fit import merge_preset

        try:
            old = self.preset(name)
        except (ReaderError, ValueError):
            old = None  # a damaged preset is replaced, not merged
        record = merge_preset(old, fit)
        meta = {"pack": fit.pack, "kind": record["kind"], "spec": record["spec"],
                "similarity": round(float(record["similarity"]), 4),
                "judge": None if record.get("judge") is None else round(float(record["judge"]), 4),
                "langs": sorted(record.get("fits") or [fit.lang])}
        stock = record.get("stock") or {}
        meta.update({"stock_spec": stock.get("spec"),
                     "stock_similarity": None if stock.get("similarity") is None else round(stock["similarity"], 4),
                     "stock_judge": None if stock.get("judge") is None else round(stock["judge"], 4)})
        self.vault.put("preset", PRESET_NAME, json.dumps(record).encode("utf-8"), group=self.group(name), meta=meta)

    def reading_spec(self, name: str) -> tuple[str, str, bool]:
        """(settings.voice that reads with the voice's preset, what to call it, whether reading with it
        needs the vault unlocked). An in-vault preset is named by its record's random id, not the person's
        name: settings.json is plaintext and must not say who it is."""
        name = self.require(name)
        preset = self.preset(name)
        record = self.vault.find("preset", PRESET_NAME, self.group(name))
        if preset is None or record is None:
            raise VoiceError(f"The voice {name} has no reading preset yet; fit one with `reader voices fit {name}`.")
        pack = preset.get("pack")
        if not in_vault(preset):
            return (preset["spec"], f"{name}'s closest voice, {preset['spec']} on the {pack} pack (similarity "
                                    f"{float(preset.get('similarity', 0)):.2f})", False)
        if preset.get("kind") == "embedding":
            return VAULT_PREFIX + record.id, f"{name}'s own voice on the {pack} pack", True
        from reader.speech.voices import language_name
        from reader.voices.fit import preset_languages

        langs = " and ".join(language_name(x) for x in preset_languages(preset))
        return (VAULT_PREFIX + record.id, f"{name}'s closest voice on the {pack} pack for {langs} (similarity "
                                          f"{float(preset.get('similarity', 0)):.2f})", True)

    def reading_voice(self, name: str, synth: Any) -> tuple[str, str]:
        """(the voice spec to read with, how to call it) for the voice's preset: a stock voice or blend
        spec, or for an embedding preset "vault:ID", whose embedding is handed to `synth` (in memory)."""
        name = self.require(name)
        preset = self.preset(name)
        record = self.vault.find("preset", PRESET_NAME, self.group(name))
        if preset is None or record is None:
            raise VoiceError(f"The voice {name} has no reading preset yet; enroll it again without --no-preset.")
        if in_vault(preset):
            spec = VAULT_PREFIX + record.id
            return spec, load_enrolled_voice(spec, self.vault, synth)
        return preset["spec"], f"{name}'s closest voice, {preset['spec']}"

    # --- verifying, deleting ----------------------------------------------------------------------

    def verify(self, name: str, clip: Clip, encoder: Any) -> Verdict:
        """Compare one recording with the enrolled voice; the recording is checked like an enrolled one."""
        enrolled = self.embedding(name)
        clip, report = prepare(clip, encoder)
        # A phone recording on either side: both are compared in the phone band (phone vs wideband of
        # one person gave a median 0.67 in calibration, in the band 0.94). Only then: different voices come
        # closer in the band too (bundled voices' median 0.53 -> 0.68), and the VERIFY_THRESHOLD corpus,
        # mostly phone band itself, is what says 0.80 holds there.
        # The same goes for noise on one side only: see matched_embeddings. The recordings are decrypted
        # into memory for it.
        recordings = [(r, quality.assess(r)) for r in self.recordings(name)]
        if any(needs_matching(report, r_report) for _, r_report in recordings):
            pairs = [matched_embeddings(encoder, clip.samples, report, r, r_report) for r, r_report in recordings]
            score = similarity(unit_mean(b for _, b in pairs), unit_mean(a for a, _ in pairs))
        else:
            score = similarity(enrolled, embed_clip(encoder, clip.samples))
        return Verdict(score, score >= VERIFY_THRESHOLD)

    def delete(self, name: str) -> DeleteReport:
        """Crypto-shred the voice: every record of its group and the group key, in one index write."""
        name = self.require(name)
        gone = self.vault.delete_group(self.group(name))
        counts: dict[str, int] = {}
        for info in gone:
            counts[info.kind] = counts.get(info.kind, 0) + 1
        return DeleteReport(name, counts)


def damaged_voice(name: str, problem: str) -> str:
    return (f"The voice {name} cannot be used: {problem}; delete it (`reader voices delete {name}`) and "
            "enroll it again, or import it from a backup.")


def preset_doc(data: bytes, name: str = "enrolled") -> dict[str, Any]:
    """A preset record's JSON, checked (reader.voices.checks) before anything reads a field of it."""
    problem = checks.preset_problem(data)
    if problem:
        raise VoiceError(damaged_voice(name, problem))
    return json.loads(data.decode("utf-8"))


def load_enrolled_voice(spec: str, vault: Any, synth: Any) -> str:
    """Hand the enrolled reading voice `spec` ("vault:" + a preset id) to the synthesizer: its embedding
    is decrypted into memory and conditions the pack the preset was fitted for. Returns its label."""
    from reader.speech.errors import PackError
    from reader.vault.errors import RecordNotFound

    try:
        info = vault.info(spec[len(VAULT_PREFIX):])
        if info.kind != "preset":
            raise RecordNotFound(spec)
    except RecordNotFound:
        raise VoiceNotFound("The enrolled reading voice was deleted; choose another with `reader voices use`.") from None
    who = info.group[len(GROUP_PREFIX):] if (info.group or "").startswith(GROUP_PREFIX) else "enrolled"
    doc = preset_doc(vault.get(info.id), who)
    pack = str(doc.get("pack") or "")
    try:
        pipeline = synth.pipeline(pack)
    except PackError:
        raise VoiceError(f"The enrolled reading voice needs the {pack} voice pack, which is not installed; "
                         "import it with `reader packs import`, or choose another voice.") from None
    condition = resolve_voice(spec, pipeline, vault)
    label = f"{who}'s voice"
    synth.add_voice(spec, pack, condition, label)
    return label


def in_vault(preset: dict[str, Any] | None) -> bool:
    """Whether reading with this preset needs the vault: an embedding, a style table of its own, or fits
    for several languages; a single stock voice or blend is read by its plain spec."""
    if not preset:
        return False
    return preset.get("kind") in ("embedding", "style") or len(preset.get("fits") or ()) > 1


def resolve_voice(spec: str | None, pipeline: Any, vault: Any = None) -> Any:
    """The voice for settings.voice: a stock voice or blend spec as Pipeline.voice() takes it, or "vault:"
    + a preset record id, decrypted into memory: an embedding conditions a cloning pack, a style preset
    becomes an EnrolledVoice (its fitted table per language; other languages read by the partner of its
    closest stock voice)."""
    if not spec or not spec.startswith(VAULT_PREFIX):
        return pipeline.voice(spec)
    if vault is None:
        raise VoiceError("The reading voice is an enrolled voice; unlock the vault to use it.")
    from reader.vault.errors import RecordNotFound

    try:
        doc = preset_doc(vault.get(spec[len(VAULT_PREFIX):]))
    except RecordNotFound:
        raise VoiceNotFound("The enrolled reading voice was deleted; choose another with `reader voices use`.") from None
    if doc.get("kind") != "embedding" or "embedding" not in doc:
        return _style_voice(doc, pipeline)
    if pipeline.conditioning != "speaker_embedding":
        raise VoiceError(f"The enrolled reading voice needs the {doc.get('pack')} pack, which clones voices; "
                         f"the {pipeline.name} pack cannot.")
    return pipeline.embedding_voice(np.asarray(doc["embedding"], dtype=np.float32), name="enrolled voice")


def _style_voice(doc: dict[str, Any], pipeline: Any) -> Any:
    from reader.speech.acoustic import VoiceCondition
    from reader.speech.voices import EnrolledVoice
    from reader.voices.fit import preset_entry, preset_languages, table_of

    conditions: dict[str, Any] = {}
    stock: str | None = None
    for lang in preset_languages(doc):
        entry = preset_entry(doc, lang)
        try:
            table = table_of(entry)
        except (ValueError, TypeError) as exc:
            raise VoiceError(f"The enrolled voice's preset is damaged ({exc}); fit it again with "
                             "`reader voices fit NAME`.") from None
        if table is not None:
            conditions[lang] = VoiceCondition(name="enrolled voice", style_table=table)
        else:
            conditions[lang] = pipeline.voice(entry.get("spec") or None, lang=lang)
        stock = stock or (entry.get("stock") or {}).get("spec") or entry.get("spec")
    manifest = getattr(pipeline, "manifest", None)
    instead: dict[str, str] = {}
    first = (stock or "").replace(",", "+").split("+")[0].split(":")[0]
    for lang in getattr(pipeline, "languages", ()):
        if lang not in conditions and manifest is not None and first:
            partner = manifest.partner(first, lang)
            if partner:
                instead[lang] = partner
    return EnrolledVoice("enrolled voice", conditions, instead)
