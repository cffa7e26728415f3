"""The voice list (which packs can clone a voice, which only choose or blend stock voices), blends of
stock styles, reading voice samples, and picking the stock voice that sounds closest to a speaker."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from reader.errors import ReaderError


class VoiceError(ReaderError):
    """A voice name, blend or voice sample the chosen pack cannot use."""

    title = "Voice"


@dataclass(frozen=True)
class VoiceEntry:
    """One line of the voice list."""

    pack: str
    id: str
    title: str
    language: str
    tier: str
    conditioning: str
    can_clone: bool
    note: str
    gender: str | None = None
    accent: str | None = None  # "American", "British", ... where the language has several
    speakable: bool = True  # False: the reader cannot speak the voice's language yet
    default_for: tuple[str, ...] = ()  # languages this voice reads when nobody chose one
    partners: tuple[str, ...] = ()  # voices of other languages it is paired with (same gender)
    source: str | None = None  # "kokoro-js 1.2.1 (Apache-2.0)"


# Kokoro's languages (the voice ids' first letters) and the tags the packs use.
_REGIONAL_NAMES = {"en-US": "US English", "en-GB": "British English"}


# The languages the front end speaks (reader.speech.g2p phonemizes English and Mandarin only): a voice of
# any other language is not speakable, whatever the pack's own list says.
FRONT_END_LANGUAGES = ("en", "zh")


def language_name(tag: str) -> str:
    """"en-GB" -> "British English", "zh-CN" -> "Chinese", "es" -> "Spanish"."""
    from reader.text.scripts import LANGUAGE_NAMES

    return _REGIONAL_NAMES.get(tag) or LANGUAGE_NAMES.get(tag) or LANGUAGE_NAMES.get(tag.split("-")[0], tag)


def voice_entries(manifests: Iterable[Any], *, language: str | None = None, gender: str | None = None,
                  speakable_only: bool = False) -> list[VoiceEntry]:
    """Every voice of the speaking packs, saying honestly what each can do; `language` ("en", "zh"),
    `gender` and `speakable_only` filter the list (a voice picker's filters)."""
    out: list[VoiceEntry] = []
    for m in manifests:
        if "acoustic" not in m.stages:
            continue
        if m.conditioning == "speaker_embedding":
            if gender is None and (language is None or language in m.languages) and not speakable_only:
                out.append(VoiceEntry(
                    m.name, "FILE.wav", "your voice", "/".join(m.languages), m.tier, m.conditioning, True,
                    "can clone a voice: give 3 s or more of clear speech (--voice FILE.wav)"))
            continue
        defaults = getattr(m, "default_voices", None) or {}
        pairs = getattr(m, "voice_pairs", ()) or ()
        for v in m.voices:
            base = v.language.split("-")[0]
            speakable = getattr(v, "speakable", True) and base in m.languages and base in FRONT_END_LANGUAGES
            if (language is not None and base != language) or (gender is not None and v.gender != gender) \
                    or (speakable_only and not speakable):
                continue
            if m.conditioning == "style_vector":
                note = "stock voice; can be blended with the pack's other voices (a+b), cannot clone a voice"
            else:
                note = "the pack's one fixed voice; cannot blend or clone"
            default_for = tuple(lang for lang, vid in defaults.items() if vid == v.id)
            if default_for:
                note = f"default for {' and '.join(language_name(x) for x in default_for)}; " + note
            who = ", ".join(filter(None, [language_name(v.language), v.gender]))
            note = f"{who}; {note}"
            other = [lang for lang in m.languages if lang != base and lang in FRONT_END_LANGUAGES]
            if not speakable:
                name = language_name(base)
                note += f"; the reader cannot speak {name} yet"
                if other:
                    note += f", so {' and '.join(language_name(x) for x in other)} come out with a {name} accent"
            paired = {lang: vid for pair in reversed(pairs) if v.id in pair.values()
                      for lang, vid in pair.items() if vid != v.id}  # the first pair of a language wins
            partners = tuple(paired.values())
            if paired:
                note += "; paired with " + ", ".join(f"{vid} for {language_name(lang)}" for lang, vid in paired.items())
            src = getattr(v, "source", None)
            source = f"{src.package} {src.version} ({src.license})" if src is not None else None
            out.append(VoiceEntry(m.name, v.id, v.title, v.language, m.tier, m.conditioning, False, note,
                                  v.gender, getattr(v, "accent", None), speakable, default_for, partners, source))
    return out


@dataclass(frozen=True)
class EnrolledVoice:
    """An enrolled voice as a style pack speaks it: a condition per language it was fitted for; another
    language is read by the stock voice in `instead` (the partner of its closest stock voice, same
    gender), else the pack's default voice of that language."""

    name: str
    conditions: Mapping[str, Any]
    instead: Mapping[str, str] = field(default_factory=dict)

    def for_lang(self, lang: str, pipeline: Any, control: Any = None) -> Any:
        base = (lang or "").split("-")[0]
        if base in self.conditions:
            return self.conditions[base]
        if not base or base == "auto":
            return next(iter(self.conditions.values()))
        return pipeline.voice(self.instead.get(base), lang=base, control=control)


_BLEND_PART = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:[:*=]\s*([0-9]*\.?[0-9]+))?\s*$")


def parse_blend(spec: str) -> list[tuple[str, float]]:
    """"jf_alpha" -> [(jf_alpha, 1)]; "a+b" -> equal parts; "a:0.7,b:0.3" or "a*0.7+b*0.3" -> weighted.
    Weights are normalized to sum to 1."""
    parts = [p for p in re.split(r"[+,]", spec) if p.strip()]
    if not parts:
        raise VoiceError("Name a voice, or a blend like jf_alpha+jm_kumo or jf_alpha:0.7,jm_kumo:0.3.")
    out = []
    for part in parts:
        m = _BLEND_PART.match(part)
        if not m:
            raise VoiceError(f"{part.strip()!r} is not a voice name or name:weight.")
        out.append((m.group(1), float(m.group(2)) if m.group(2) else 1.0))
    total = sum(w for _, w in out)
    if total <= 0:
        raise VoiceError("The weights of a voice blend must add up to more than zero.")
    return [(name, w / total) for name, w in out]


def blend_styles(tables: Mapping[str, np.ndarray], spec: str, *, pack: str = "this pack") -> np.ndarray:
    """The style table of a stock voice or a weighted blend of several (Kokoro's voices mix linearly)."""
    parts = parse_blend(spec)
    for name, _ in parts:
        if name not in tables:
            raise VoiceError(f"The {pack} pack has no voice {name!r}; it has {', '.join(sorted(tables)) or 'none'}.")
    shapes = {tables[name].shape for name, _ in parts}
    if len(shapes) > 1:
        raise VoiceError(f"The voices {spec} have different shapes and cannot be blended.")
    table = sum(tables[name].astype(np.float64) * w for name, w in parts)
    return np.asarray(table, dtype=np.float32)


def read_audio(path: Path | str) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the sample rate of a WAV/FLAC/OGG file (soundfile)."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise VoiceError(f"The voice sample {path} does not exist.")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise VoiceError(f"The voice sample {path} is not audio the reader can read ({exc}).") from None
    return data.mean(axis=1), int(rate)


def closest_voice(target: np.ndarray, candidates: Mapping[str, np.ndarray]) -> tuple[str, float]:
    """The candidate whose speaker embedding is most similar to `target` (cosine), and its similarity.
    Candidates are embeddings of speech synthesized with each stock voice (preset_embeddings)."""
    from reader.speech.speaker import similarity

    if not candidates:
        raise VoiceError("There are no voices to compare with.")
    scores = {name: similarity(target, emb) for name, emb in candidates.items()}
    best = max(scores, key=scores.get)
    return best, scores[best]


# Read by every stock voice when their embeddings are compared: long enough (> 3 s of speech) for the
# speaker encoder, with varied vowels and consonants.
PRESET_TEXT = ("The north wind and the sun were arguing about which of them was stronger, "
               "when a traveller came along wrapped in a warm cloak.")


def preset_embeddings(pipeline: Any, encoder: Any, voice_ids: Iterable[str] | None = None,
                      text: str = PRESET_TEXT) -> dict[str, np.ndarray]:
    """Speaker embeddings of each stock voice of `pipeline`, from speech it synthesizes."""
    out = {}
    for vid in voice_ids or pipeline.voice_ids:
        audio, _ = pipeline.render(text, lang="en", voice=pipeline.voice(vid), stream=False)
        out[vid] = encoder.embed(audio, pipeline.sample_rate)
    return out
