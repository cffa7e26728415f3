"""The stock voice catalogue (`voices/catalogue.toml` at the top of the checkout), read and checked at build.

The catalogue is data: each voice's id, language, accent, gender and source, the languages with a sample
sentence, whether the reader can speak them and their default voice, and the cross-language pairs. The
rich pack's recipe copies it into the manifest; the app reads only the manifest.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reader.speech.errors import PackBuildError

# reader/speech/build/catalogue.py -> the checkout's top folder, beside reader/ and models/.
CATALOGUE_PATH = Path(__file__).resolve().parents[3] / "voices" / "catalogue.toml"
FORMAT = 1
GENDERS = ("female", "male")


@dataclass(frozen=True)
class SourceInfo:
    key: str
    registry: str
    package: str
    version: str
    license: str
    note: str = ""


@dataclass(frozen=True)
class LanguageInfo:
    code: str  # "en", "zh", ...
    name: str
    speakable: bool
    sample: str
    default: str | None


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    language: str  # BCP 47
    gender: str
    source: str  # a key of Catalogue.sources
    accent: str | None = None
    grade: str | None = None

    @property
    def base_language(self) -> str:
        return self.language.split("-")[0]


@dataclass(frozen=True)
class Catalogue:
    path: Path
    sha256: str
    sources: dict[str, SourceInfo]
    languages: dict[str, LanguageInfo]
    voices: tuple[VoiceInfo, ...]
    pairs: tuple[dict[str, str], ...]

    def voice(self, voice_id: str) -> VoiceInfo:
        return next(v for v in self.voices if v.id == voice_id)

    def speakable(self, voice: VoiceInfo) -> bool:
        return self.languages[voice.base_language].speakable

    @property
    def defaults(self) -> dict[str, str]:
        return {code: lang.default for code, lang in self.languages.items() if lang.default}

    @property
    def samples(self) -> dict[str, str]:
        return {code: lang.sample for code, lang in self.languages.items()}


def catalogue_sha256(path: Path = CATALOGUE_PATH) -> str | None:
    """The catalogue file's sha256 (the build records it, so editing the catalogue rebuilds the pack)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """The checked catalogue; PackBuildError in one sentence naming what is wrong."""
    path = Path(path)
    where = f"The voice catalogue {path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackBuildError(f"{where} cannot be read ({exc.strerror or exc}); it ships with the reader's "
                             "source, beside reader/ and models/.") from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PackBuildError(f"{where} is not valid TOML ({exc}).") from None
    if raw.get("format") != FORMAT:
        raise PackBuildError(f"{where} has format {raw.get('format')!r}; this build reads format {FORMAT}.")

    def text(table: dict, key: str, what: str, *, optional: bool = False) -> Any:
        value = table.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise PackBuildError(f"{where}: {what} needs a text '{key}'.")
        return value

    sources = {}
    for key, s in _table(raw, "sources", where).items():
        sources[key] = SourceInfo(key, text(s, "registry", f"source {key}"), text(s, "package", f"source {key}"),
                                  text(s, "version", f"source {key}"), text(s, "license", f"source {key}"),
                                  s.get("note", ""))
    default_source = raw.get("default_source")
    languages = {}
    for code, lang in _table(raw, "languages", where).items():
        speakable = lang.get("speakable")
        if not isinstance(speakable, bool):
            raise PackBuildError(f"{where}: language {code} needs speakable = true or false.")
        languages[code] = LanguageInfo(code, text(lang, "name", f"language {code}"), speakable,
                                       text(lang, "sample", f"language {code}"),
                                       text(lang, "default", f"language {code}", optional=True))
    voices = []
    seen: set[str] = set()
    for i, v in enumerate(raw.get("voices") or []):
        if not isinstance(v, dict):
            raise PackBuildError(f"{where}: voice number {i + 1} is not a table.")
        vid = text(v, "id", f"voice number {i + 1}")
        info = VoiceInfo(vid, text(v, "name", f"voice {vid}"), text(v, "language", f"voice {vid}"),
                         text(v, "gender", f"voice {vid}"), v.get("source", default_source),
                         text(v, "accent", f"voice {vid}", optional=True),
                         text(v, "grade", f"voice {vid}", optional=True))
        if vid in seen:
            raise PackBuildError(f"{where} lists the voice {vid} twice.")
        seen.add(vid)
        if info.gender not in GENDERS:
            raise PackBuildError(f"{where}: voice {vid} has gender {info.gender!r}; use female or male.")
        if info.base_language not in languages:
            raise PackBuildError(f"{where}: voice {vid} is in {info.language}, a language it does not describe.")
        if info.source not in sources:
            raise PackBuildError(f"{where}: voice {vid} names the source {info.source!r}, which it does not describe.")
        voices.append(info)
    if not voices:
        raise PackBuildError(f"{where} lists no voices.")
    by_id = {v.id: v for v in voices}
    for code, lang in languages.items():
        if lang.default is None:
            continue
        v = by_id.get(lang.default)
        if v is None or v.base_language != code:
            raise PackBuildError(f"{where}: the default voice of {lang.name}, {lang.default}, is not one of its voices.")
        if not lang.speakable:
            raise PackBuildError(f"{where}: {lang.name} cannot be spoken yet, so it has no default voice "
                                 f"({lang.default}).")
    pairs = []
    for pair in raw.get("pairs") or []:
        members = {k: val for k, val in pair.items() if k != "gender"}
        label = " + ".join(members.values())
        if len(members) < 2 or any(k not in languages or not languages[k].speakable for k in members):
            raise PackBuildError(f"{where}: the pair {label} must join voices of two speakable languages.")
        for code, vid in members.items():
            if vid not in by_id or by_id[vid].base_language != code:
                raise PackBuildError(f"{where}: the pair {label} names {vid} as a {code} voice, which it is not.")
        genders = {by_id[vid].gender for vid in members.values()}
        if genders != {pair.get("gender")}:
            raise PackBuildError(f"{where}: the pair {label} must be of one gender, the one it names.")
        pairs.append(members)
    defaults = {code: lang.default for code, lang in languages.items() if lang.default}
    if pairs and len(defaults) > 1 and any(pairs[0].get(code) != vid for code, vid in defaults.items()):
        raise PackBuildError(f"{where}: the first pair is the default pair, so it must join the default voices "
                             f"({', '.join(defaults.values())}).")
    return Catalogue(path, hashlib.sha256(data).hexdigest(), sources, languages, tuple(voices), tuple(pairs))


def _table(raw: dict, key: str, where: str) -> dict:
    value = raw.get(key)
    if not isinstance(value, dict) or not value or not all(isinstance(v, dict) for v in value.values()):
        raise PackBuildError(f"{where} needs a [{key}.NAME] table for each of its {key}.")
    return value
