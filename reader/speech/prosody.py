"""Prosody (rate, pitch, energy, volume multipliers) and the style instructions that set it.

A style instruction ("read slowly and softly", "悲伤地", "a bit faster") is matched against a small
keyword table in English and Chinese; it changes prosody only (speed, pitch, emphasis, loudness), not
the voice's timbre or emotion model, since none of the packs has an emotion input.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# One rate range everywhere (the app's keys, `reader say --rate`): screen-reader users listen at 2.5-3.5x.
RATE_MIN, RATE_MAX, RATE_STEP = 0.5, 3.5, 0.1
RATE_RANGE = (RATE_MIN, RATE_MAX)
# The part of a fast rate the acoustic models do themselves, by shortening their durations; the rest is
# done by time-stretching their audio at the same pitch (reader.speech.stretch). Past about 2x Kokoro's
# speed and Piper's length scale squeeze phonemes to one frame and drop them (Piper asked for 3.5x
# reaches only 1.9x, its words run together); see bench/bench_rate.py for the recognizer's word error
# rate by split.
MODEL_RATE_MAX = 1.6
# F0 scaled past +-50% leaves the range the models were trained on.
PITCH_RANGE = (0.7, 1.5)
ENERGY_RANGE = (0.5, 1.5)
VOLUME_RANGE = (0.0, 2.0)


@dataclass(frozen=True)
class Prosody:
    """Multipliers: 1.0 is the voice's own. rate > 1 is faster, pitch > 1 higher, energy > 1 more
    emphasis (Kokoro's energy curve), volume scales the samples."""

    rate: float = 1.0
    pitch: float = 1.0
    energy: float = 1.0
    volume: float = 1.0

    def __mul__(self, other: "Prosody") -> "Prosody":
        return Prosody(self.rate * other.rate, self.pitch * other.pitch, self.energy * other.energy,
                       self.volume * other.volume)

    def clamped(self) -> "Prosody":
        def clamp(v: float, bounds: tuple[float, float]) -> float:
            return min(max(v, bounds[0]), bounds[1])

        return Prosody(clamp(self.rate, RATE_RANGE), clamp(self.pitch, PITCH_RANGE),
                       clamp(self.energy, ENERGY_RANGE), clamp(self.volume, VOLUME_RANGE))

    def __pow__(self, k: float) -> "Prosody":
        return Prosody(self.rate ** k, self.pitch ** k, self.energy ** k, self.volume ** k)


NEUTRAL = Prosody()

# keyword -> multipliers. Values are modest on purpose: "slowly" is 20% slower, which listeners hear
# clearly without the voice breaking up; intensity words scale them (in the log domain) below.
_SLOW = Prosody(rate=0.8)
_FAST = Prosody(rate=1.25)
_SOFT = Prosody(energy=0.9, volume=0.7)
_LOUD = Prosody(energy=1.15, volume=1.4)
_WHISPER = Prosody(rate=0.9, pitch=0.97, energy=0.8, volume=0.5)
_SAD = Prosody(rate=0.85, pitch=0.93, energy=0.9, volume=0.85)
_HAPPY = Prosody(rate=1.08, pitch=1.08, energy=1.1)
_EXCITED = Prosody(rate=1.15, pitch=1.12, energy=1.2, volume=1.15)
_CALM = Prosody(rate=0.92, pitch=0.98, energy=0.95)
_ANGRY = Prosody(rate=1.08, pitch=1.03, energy=1.25, volume=1.25)
_SERIOUS = Prosody(rate=0.95, pitch=0.96)
_HIGH = Prosody(pitch=1.12)
_LOW = Prosody(pitch=0.9)

STYLE_WORDS: dict[str, Prosody] = {
    # English
    "slow": _SLOW, "slowly": _SLOW, "slower": _SLOW, "unhurried": _SLOW,
    "fast": _FAST, "faster": _FAST, "quick": _FAST, "quickly": _FAST, "quicker": _FAST, "rapidly": _FAST,
    "soft": _SOFT, "softly": _SOFT, "softer": _SOFT, "quiet": _SOFT, "quietly": _SOFT, "quieter": _SOFT,
    "gently": _SOFT, "gentle": _SOFT,
    "loud": _LOUD, "loudly": _LOUD, "louder": _LOUD,
    "whisper": _WHISPER, "whispering": _WHISPER, "whispered": _WHISPER,
    "sad": _SAD, "sadly": _SAD, "sadder": _SAD, "sorrowful": _SAD, "gloomy": _SAD,
    "happy": _HAPPY, "happily": _HAPPY, "cheerful": _HAPPY, "cheerfully": _HAPPY, "joyful": _HAPPY,
    "excited": _EXCITED, "excitedly": _EXCITED, "exciting": _EXCITED, "energetic": _EXCITED,
    "enthusiastic": _EXCITED, "enthusiastically": _EXCITED,
    "calm": _CALM, "calmly": _CALM, "relaxed": _CALM,
    "angry": _ANGRY, "angrily": _ANGRY,
    "serious": _SERIOUS, "seriously": _SERIOUS, "solemn": _SERIOUS, "solemnly": _SERIOUS,
    "high": _HIGH, "higher": _HIGH, "high-pitched": _HIGH,
    "low": _LOW, "lower": _LOW, "deep": _LOW, "deeper": _LOW,
    # Chinese (longest match first, so 高兴 is happy, not 高 high)
    "慢": _SLOW, "缓慢": _SLOW, "慢慢": _SLOW,
    "快": _FAST, "快速": _FAST, "迅速": _FAST,
    "轻": _SOFT, "轻声": _SOFT, "小声": _SOFT, "轻柔": _SOFT, "温柔": _SOFT, "柔和": _SOFT,
    "大声": _LOUD, "响亮": _LOUD, "响": _LOUD,
    "耳语": _WHISPER, "低语": _WHISPER, "悄悄": _WHISPER, "悄声": _WHISPER,
    "悲伤": _SAD, "难过": _SAD, "伤心": _SAD, "忧伤": _SAD,
    "开心": _HAPPY, "高兴": _HAPPY, "快乐": _HAPPY, "愉快": _HAPPY,
    "兴奋": _EXCITED, "激动": _EXCITED, "热情": _EXCITED,
    "平静": _CALM, "冷静": _CALM, "平和": _CALM,
    "生气": _ANGRY, "愤怒": _ANGRY,
    "严肃": _SERIOUS, "庄重": _SERIOUS,
    "高": _HIGH, "高音": _HIGH, "尖": _HIGH,
    "低": _LOW, "低沉": _LOW, "低音": _LOW,
}

# Intensity words: the exponent applied to the keyword they modify. Before a keyword ("very slowly",
# "非常慢", "有点快") they modify the next one; after it ("慢一点", "快一些") the previous one.
INTENSITY_BEFORE: dict[str, float] = {
    "a bit": 0.5, "a little": 0.5, "a little bit": 0.5, "slightly": 0.5, "somewhat": 0.6, "kind of": 0.6,
    "rather": 1.3, "quite": 1.3, "very": 1.6, "really": 1.6, "so": 1.6, "much": 1.6, "extremely": 2.0,
    "super": 2.0,
    "有点": 0.5, "有一点": 0.5, "稍微": 0.5, "稍": 0.5, "略": 0.5, "比较": 1.3, "很": 1.6, "非常": 1.6,
    "特别": 1.6, "十分": 1.6, "极其": 2.0, "极": 2.0, "超级": 2.0,
}
INTENSITY_AFTER: dict[str, float] = {"一点": 0.5, "一些": 0.5, "点": 0.5, "些": 0.5, "一点儿": 0.5, "点儿": 0.5,
                                     "得多": 1.6, "很多": 1.6}

_ASCII = re.compile(r"[a-z\- ]+")


def _pattern() -> re.Pattern[str]:
    keys = sorted({*STYLE_WORDS, *INTENSITY_BEFORE, *INTENSITY_AFTER}, key=len, reverse=True)
    parts = []
    for key in keys:
        escaped = re.escape(key)
        # English words match whole words only ("so" is not in "softly"); Chinese has no spaces.
        parts.append(rf"(?<![a-z]){escaped}(?![a-z])" if _ASCII.fullmatch(key) else escaped)
    return re.compile("|".join(parts))


_STYLE_RE = _pattern()


def parse_style(instruction: str | None) -> Prosody:
    """A style instruction in English or Chinese -> prosody multipliers (clamped). Unknown words are
    ignored; several keywords combine by multiplication. Changes prosody only."""
    if not instruction:
        return NEUTRAL
    text = instruction.lower()
    result = NEUTRAL
    pending: float | None = None  # an intensity word waiting for its keyword
    last: Prosody | None = None  # the last keyword, for a following "一点"
    last_end = -1
    for m in _STYLE_RE.finditer(text):
        word = m.group()
        if word in STYLE_WORDS:
            base = STYLE_WORDS[word]
            k = pending if pending is not None else 1.0
            result = result * base ** k
            last, last_end, pending = base ** k, m.end(), None
        elif word in INTENSITY_AFTER and last is not None and text[last_end:m.start()].strip() == "":
            # "慢一点": undo the keyword's full effect, apply it at this intensity.
            result = result * Prosody(*(1 / v for v in _values(last))) * last ** INTENSITY_AFTER[word]
            last = None
        elif word in INTENSITY_BEFORE:
            pending = INTENSITY_BEFORE[word]
    return result.clamped()


def _values(p: Prosody) -> tuple[float, float, float, float]:
    return (p.rate, p.pitch, p.energy, p.volume)


def describe(prosody: Prosody) -> str:
    """'rate 0.80, pitch 1.00, ...' for logs and the debug panel."""
    return ", ".join(f"{name} {value:.2f}" for name, value in zip(("rate", "pitch", "energy", "volume"),
                                                               _values(prosody)))


def model_part(rate: float, model_max: float = MODEL_RATE_MAX) -> float:
    """How much of `rate` the acoustic model is asked for: all of a slow or moderate rate, at most
    `model_max` of a fast one (the audio is time-stretched for the rest)."""
    return min(rate, model_max)


def semitones(factor: float) -> float:
    """A pitch factor in semitones (for messages)."""
    return 12 * math.log2(factor)
