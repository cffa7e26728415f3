"""Voice packs: a folder with `manifest.json`, ONNX stage files, voices, phonemes and license texts.

The manifest lists every file with its size and sha256, so a pack can be verified offline before use.
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from reader.fileio import write_atomic
from reader.speech.errors import PackError

# Bump when a reader could misread an older manifest; readers refuse packs newer than they know.
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
TRUSTED_KEYS_NAME = "trusted_keys.txt"
LICENSES_DIR = "licenses"

TIERS = frozenset({"fast", "rich", "speaker"})
CONDITIONINGS = frozenset({"style_vector", "speaker_embedding", "none"})
STAGE_NAMES = ("speaker", "acoustic", "vocoder")
ALPHABETS = frozenset({"espeak-ipa", "misaki"})
# A speaker-embedding acoustic model takes the embedding under this input name (see models/README.md).
SPEAKER_EMBEDDING_INPUT = "speaker_embedding"
KEY_PREFIX = "ed25519:"

# ONNX TensorProto element types -> the dtype names used in manifests (numpy spelling).
_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 8: "string",
                9: "bool", 10: "float16", 11: "float64"}
_PACK_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


# ---------------------------------------------------------------------------------------------------
# Manifest dataclasses


@dataclass(frozen=True)
class Source:
    """Where a file came from: the PyPI package, its version, its license and the license text's copy."""

    package: str
    version: str
    license: str  # SPDX expression
    license_file: str  # path inside the pack, under licenses/
    note: str = ""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    shape: tuple[int | str, ...]  # ints are fixed dims, strings name dynamic ones
    description: str = ""


@dataclass(frozen=True)
class Stage:
    file: str
    sha256: str
    bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    quantization: str  # "fp32" | "int8-dynamic" | ...
    sources: tuple[Source, ...]
    description: str = ""
    threads: int | None = None  # intra-op threads that ran fastest when built; None: onnxruntime decides
    graph: str = ""  # edits made to the upstream graph for speed ("" for none); build.<stage>_graph says more


@dataclass(frozen=True)
class PackFile:
    """A file that is not a stage: voices, phonemes, configs, license texts."""

    path: str
    sha256: str
    bytes: int
    role: str  # "voices" | "phonemes" | "license" | "config" | ...
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class Voice:
    id: str
    title: str
    language: str  # BCP 47: "en-US", "en-GB", "zh-CN", "ja-JP", ...
    description: str
    gender: str | None = None  # "female" | "male"
    accent: str | None = None  # where the language has several: "American", "British", "Brazilian"
    # False: the reader's front end cannot speak this voice's language yet; it is listed and can be
    # chosen (it reads the pack's languages with its accent) but is never a default.
    speakable: bool = True
    source: Source | None = None  # where the voice itself comes from, when not from the pack's stages
    grade: str | None = None  # the upstream package's own quality grade, when it gives one


# Genders a voice may have (a manifest may leave it null).
GENDERS = frozenset({"female", "male"})


@dataclass(frozen=True)
class PhonemeSet:
    file: str  # JSON: {"alphabet", "id_map": {symbol: [ids]}, ...}
    alphabet: str  # "espeak-ipa" | "misaki"
    size: int


@dataclass(frozen=True)
class Synthesis:
    """Default synthesis settings; `hop_size` samples of audio per acoustic frame."""

    frames_per_second: float
    hop_size: int
    length_scale: float = 1.0
    noise_scale: float | None = None
    noise_w: float | None = None
    speed: float | None = None


@dataclass(frozen=True)
class Frontend:
    """The audio feature front end a speaker encoder expects (implemented in reader.speech.features)."""

    kind: str
    sample_rate: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    format_version: int
    name: str
    title: str
    tier: str
    languages: tuple[str, ...]
    sample_rate: int
    conditioning: str
    stages: dict[str, Stage]
    files: tuple[PackFile, ...] = ()
    voices: tuple[Voice, ...] = ()
    voices_file: str | None = None
    phonemes: PhonemeSet | None = None
    synthesis: Synthesis | None = None
    frontend: Frontend | None = None
    max_tokens: int | None = None
    signer: str | None = None
    description: str = ""
    build: dict[str, Any] = field(default_factory=dict)
    # Language ("en", "zh") -> the voice that reads it when nobody chose one (a speakable native voice).
    default_voices: dict[str, str] = field(default_factory=dict)
    # Cross-language partners of the same gender, {"en": id, "zh": id}; the first is the default pair.
    voice_pairs: tuple[dict[str, str], ...] = ()
    # Language -> a sample sentence to speak in a voice of it (the voice picker).
    voice_samples: dict[str, str] = field(default_factory=dict)

    def voice_info(self, voice_id: str) -> "Voice | None":
        return next((v for v in self.voices if v.id == voice_id), None)

    def default_voice_for(self, lang: str) -> str | None:
        """The pack's default voice for a language ("en", "zh"; a tag like "en-US" counts as "en")."""
        return self.default_voices.get(lang.split("-")[0])

    def partner(self, voice_id: str, lang: str) -> str | None:
        """The voice paired with `voice_id` for sentences in `lang` (same gender), if the pack pairs one."""
        base = lang.split("-")[0]
        for pair in self.voice_pairs:
            if voice_id in pair.values() and base in pair:
                return pair[base]
        return None

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(self)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "manifest") -> "Manifest":
        if not isinstance(data, dict):
            raise PackError(f"The {where} is not a JSON object.")
        version = data.get("format_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise PackError(
                f"The {where} has format version {version}, newer than this reader understands "
                f"({FORMAT_VERSION}); update the reader to use this pack."
            )
        return _parse(cls, data, "", where)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def all_files(self) -> list[tuple[str, str, int]]:
        """(path, sha256, bytes) of every file the manifest lists, stages first."""
        out = [(s.file, s.sha256, s.bytes) for s in self.stages.values()]
        out += [(f.path, f.sha256, f.bytes) for f in self.files]
        return out


def _to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(x) for x in obj]
    if isinstance(obj, Mapping):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    return obj


_JSON_KIND = {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
              float: "a number", type(None): "null"}


def _kind(value: Any) -> str:
    return _JSON_KIND.get(type(value), type(value).__name__)


def _parse(cls: type, data: Any, path: str, where: str) -> Any:
    if not isinstance(data, dict):
        raise PackError(f"The {where} field '{path}' should be an object, not {_kind(data)}.")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        sub = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise PackError(f"The {where} is missing the field '{sub}'.")
            continue
        kwargs[f.name] = _convert(hints[f.name], data[f.name], sub, where)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _convert(option, value, path, where)
            except PackError:
                continue
        names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise PackError(f"The {where} field '{path}' should be {names}, not {_kind(value)}.")
    if origin is tuple:
        if not isinstance(value, list):
            raise PackError(f"The {where} field '{path}' should be a list, not {_kind(value)}.")
        return tuple(_convert(args[0], v, f"{path}[{i}]", where) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise PackError(f"The {where} field '{path}' should be an object, not {_kind(value)}.")
        return {k: _convert(args[1], v, f"{path}.{k}", where) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _parse(tp, value, path, where)
    ok = {
        str: isinstance(value, str),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        bool: isinstance(value, bool),
    }.get(tp)
    if ok is None:  # pragma: no cover - a type the manifest does not use
        raise TypeError(f"unsupported manifest type {tp!r}")
    if not ok:
        raise PackError(f"The {where} field '{path}' should be {_JSON_KIND[tp]}, not {_kind(value)}.")
    return float(value) if tp is float else value


def canonical_json(data: Any) -> bytes:
    """The bytes a signature covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------------------------------------------
# Reading and verifying


def _read_manifest_json(pack_dir: Path) -> Any:
    path = Path(pack_dir) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackError(f"No {MANIFEST_NAME} in {pack_dir}: this folder is not a voice pack.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(f"Cannot read {path}: {exc}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PackError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None


def load_manifest(pack_dir: Path | str) -> Manifest:
    """The pack's manifest; PackError naming the problem if it is missing, invalid or too new."""
    pack_dir = Path(pack_dir)
    return Manifest.from_dict(_read_manifest_json(pack_dir), where=f"manifest of {pack_dir}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ONNX's protobuf field numbers (onnx/onnx.proto) that onnx_io reads.
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT, _GRAPH_SPARSE_INITIALIZER = 5, 11, 12, 15
_TENSOR_NAME = 8
_SPARSE_VALUES = 1
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR = 1
_TENSOR_TYPE_ELEM, _TENSOR_TYPE_SHAPE = 1, 2
_SHAPE_DIM = 1
_DIM_VALUE, _DIM_PARAM = 1, 2
_WIRE_VARINT, _WIRE_64, _WIRE_LEN, _WIRE_32 = 0, 1, 2, 5


def _varint(source: Any) -> int:
    result = shift = 0
    while True:
        byte = source.read(1)
        if not byte:
            raise ValueError("the file ends inside a number")
        result |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return result
        shift += 7
        if shift > 63:
            raise ValueError("a number is too long")


def _fields(source: Any, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a protobuf message up to `end`; a length-delimited value is its
    (offset, length) in `source`, which is left positioned after it whatever the consumer read."""
    while source.tell() < end:
        key = _varint(source)
        number, wire = key >> 3, key & 7
        if wire == _WIRE_VARINT:
            yield number, wire, _varint(source)
        elif wire == _WIRE_64:
            source.seek(8, 1)
        elif wire == _WIRE_32:
            source.seek(4, 1)
        elif wire == _WIRE_LEN:
            length = _varint(source)
            start = source.tell()
            if start + length > end:
                raise ValueError("a number runs past its message")
            yield number, wire, (start, length)
            source.seek(start + length)
        else:
            raise ValueError(f"wire type {wire} is not used by ONNX")


def _string_field(source: Any, start: int, length: int, wanted: int) -> str:
    source.seek(start)
    for number, wire, value in _fields(source, start + length):
        if number == wanted and wire == _WIRE_LEN:
            source.seek(value[0])
            return source.read(value[1]).decode("utf-8")
    return ""


def _message(source: Any, start: int, length: int) -> Iterator[tuple[int, int, Any]]:
    source.seek(start)
    return _fields(source, start + length)


def _value_info(source: Any, start: int, length: int) -> TensorSpec:
    """A ValueInfoProto (small: read whole): its name, and its tensor type's element type and shape."""
    import io

    source.seek(start)
    raw = source.read(length)
    data = io.BytesIO(raw)

    def text(where: tuple[int, int]) -> str:
        return raw[where[0]:where[0] + where[1]].decode("utf-8")

    name, elem, dims = "", 0, []
    for number, wire, value in _fields(data, length):
        if number == _VALUE_NAME and wire == _WIRE_LEN:
            name = text(value)
        elif number == _VALUE_TYPE and wire == _WIRE_LEN:
            for tfield, twire, tvalue in _message(data, *value):
                if tfield != _TYPE_TENSOR or twire != _WIRE_LEN:
                    continue
                for f, w, v in _message(data, *tvalue):
                    if f == _TENSOR_TYPE_ELEM and w == _WIRE_VARINT:
                        elem = v
                    elif f == _TENSOR_TYPE_SHAPE and w == _WIRE_LEN:
                        for df, dw, dv in _message(data, *v):
                            if df != _SHAPE_DIM or dw != _WIRE_LEN:
                                continue
                            dim: int | str = "?"
                            for kf, kw, kv in _message(data, *dv):
                                if kf == _DIM_VALUE and kw == _WIRE_VARINT:
                                    dim = int(kv)
                                elif kf == _DIM_PARAM and kw == _WIRE_LEN:
                                    dim = text(kv) or "?"
                            dims.append(dim)
    return TensorSpec(name, _ONNX_DTYPES.get(elem, str(elem)), tuple(dims))


def onnx_io(path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Graph inputs and outputs of an ONNX file, read from its protobuf without reading the weights: the
    initializers' data is skipped over, so checking a 300 MB model takes kilobytes of memory (onnx.load
    would hold the whole file, and a pack is checked every time it is opened)."""
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []
    initializers: set[str] = set()
    with open(path, "rb") as source:
        end = source.seek(0, 2)
        source.seek(0)
        graph = next((value for number, wire, value in _fields(source, end)
                      if number == _MODEL_GRAPH and wire == _WIRE_LEN), None)
        if graph is None:
            raise ValueError("no graph")
        source.seek(graph[0])
        for number, wire, value in _fields(source, sum(graph)):
            if wire != _WIRE_LEN:
                continue
            if number == _GRAPH_INITIALIZER:
                initializers.add(_string_field(source, *value, wanted=_TENSOR_NAME))
            elif number == _GRAPH_SPARSE_INITIALIZER:
                source.seek(value[0])
                for f, w, v in _fields(source, sum(value)):
                    if f == _SPARSE_VALUES and w == _WIRE_LEN:
                        initializers.add(_string_field(source, *v, wanted=_TENSOR_NAME))
            elif number in (_GRAPH_INPUT, _GRAPH_OUTPUT):
                spec = _value_info(source, *value)
                (inputs if number == _GRAPH_INPUT else outputs).append(spec)
    return [t for t in inputs if t.name not in initializers], outputs


def _shape_text(shape: Iterable[int | str]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _compare_io(kind: str, file: str, declared: Iterable[TensorSpec], actual: list[TensorSpec]) -> list[str]:
    problems = []
    have = {t.name: t for t in actual}
    want = {t.name: t for t in declared}
    for name in want.keys() - have.keys():
        problems.append(f"{file}: the model has no {kind} '{name}' (it has: {', '.join(sorted(have)) or 'none'})")
    for name in have.keys() - want.keys():
        problems.append(f"{file}: the model has an {kind} '{name}' the manifest does not list")
    for name in sorted(want.keys() & have.keys()):
        w, h = want[name], have[name]
        if w.dtype != h.dtype:
            problems.append(f"{file}: {kind} '{name}' is {h.dtype} in the model, manifest says {w.dtype}")
        same_rank = len(w.shape) == len(h.shape)
        # A fixed dim must match exactly; a named (dynamic) dim must be dynamic in the model too.
        if not same_rank or any(
            (isinstance(a, int) and a != b) or (isinstance(a, str) and isinstance(b, int))
            for a, b in zip(w.shape, h.shape)
        ):
            problems.append(
                f"{file}: {kind} '{name}' has shape {_shape_text(h.shape)} in the model, "
                f"manifest says {_shape_text(w.shape)}"
            )
    return problems


def _safe_relative(rel: str) -> bool:
    p = Path(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts and "\\" not in rel


@dataclass(frozen=True)
class PackCheck:
    """The outcome of checking a pack: problems make it unusable, warnings do not."""

    path: Path
    manifest: Manifest | None
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    signed: bool

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_voice_table(manifest: Manifest, listed: set[str]) -> list[str]:
    """Voices, defaults and pairs that agree with one another (the voices file itself is hashed)."""
    problems = []
    by_id: dict[str, Voice] = {}
    for v in manifest.voices:
        if v.id in by_id:
            problems.append(f"the voice {v.id} is listed twice")
        by_id[v.id] = v
        if v.gender is not None and v.gender not in GENDERS:
            problems.append(f"the voice {v.id} has unknown gender '{v.gender}' (known: female, male)")
        if v.source is not None and v.source.license_file not in listed:
            problems.append(f"the voice {v.id}: its license text {v.source.license_file} is not in the pack")
    for lang, vid in manifest.default_voices.items():
        v = by_id.get(vid)
        if v is None:
            problems.append(f"the default voice for {lang}, {vid}, is not one of the pack's voices")
        elif not v.speakable or v.language.split("-")[0] != lang or lang not in manifest.languages:
            problems.append(f"the default voice for {lang}, {vid}, is not a speakable {lang} voice of a "
                            "language the pack reads")
    for pair in manifest.voice_pairs:
        missing = [vid for vid in pair.values() if vid not in by_id]
        if missing:
            problems.append(f"the voice pair {'+'.join(pair.values())} names unknown voices {', '.join(missing)}")
            continue
        if len({by_id[vid].gender for vid in pair.values()}) > 1:
            problems.append(f"the voice pair {'+'.join(pair.values())} mixes genders")
        if any(by_id[vid].language.split("-")[0] != lang for lang, vid in pair.items()):
            problems.append(f"the voice pair {'+'.join(pair.values())} has a voice under the wrong language")
    return problems


def check_pack(pack_dir: Path | str, *, trusted_keys: Iterable[str] | None = None,
               warn_unsigned: bool = False) -> PackCheck:
    """Check every file's size and hash, the ONNX inputs/outputs, the settings and the signature."""
    pack_dir = Path(pack_dir)
    try:
        raw = _read_manifest_json(pack_dir)
        manifest = Manifest.from_dict(raw, where=f"manifest of {pack_dir}")
    except PackError as exc:
        return PackCheck(pack_dir, None, (exc.message,), (), False)
    problems: list[str] = []
    warnings: list[str] = []

    if manifest.tier not in TIERS:
        problems.append(f"unknown tier '{manifest.tier}' (known: {', '.join(sorted(TIERS))})")
    if manifest.conditioning not in CONDITIONINGS:
        problems.append(
            f"unknown conditioning '{manifest.conditioning}' (known: {', '.join(sorted(CONDITIONINGS))})"
        )
    if not _PACK_NAME.match(manifest.name):
        problems.append(f"the pack name '{manifest.name}' is not a valid folder name")
    for stage in manifest.stages:
        if stage not in STAGE_NAMES:
            problems.append(f"unknown stage '{stage}' (known: {', '.join(STAGE_NAMES)})")
    needed = ("speaker",) if manifest.tier == "speaker" else ("acoustic", "vocoder")
    for stage in needed:
        if stage not in manifest.stages:
            problems.append(f"a {manifest.tier} pack needs a '{stage}' stage")
    if "speaker" in manifest.stages and manifest.frontend is None:
        problems.append("a pack with a speaker stage needs a frontend")
    if manifest.frontend is not None:
        from reader.speech.features import FRONTENDS

        if manifest.frontend.kind not in FRONTENDS:
            problems.append(f"unknown frontend '{manifest.frontend.kind}' (known: {', '.join(sorted(FRONTENDS))})")
    if manifest.phonemes and manifest.phonemes.alphabet not in ALPHABETS:
        problems.append(f"unknown phoneme alphabet '{manifest.phonemes.alphabet}'")
    listed = {f.path for f in manifest.files}
    for ref in (manifest.voices_file, manifest.phonemes.file if manifest.phonemes else None):
        if ref and ref not in listed:
            problems.append(f"{ref} is used but not listed (with its hash) in the manifest's files")
    if manifest.conditioning == "style_vector" and not manifest.voices_file:
        problems.append("a style_vector pack needs a voices_file")
    if manifest.conditioning == "speaker_embedding":
        acoustic = manifest.stages.get("acoustic")
        if acoustic and SPEAKER_EMBEDDING_INPUT not in {t.name for t in acoustic.inputs}:
            problems.append(f"a speaker_embedding pack's acoustic stage needs an input '{SPEAKER_EMBEDDING_INPUT}'")
    for stage in manifest.stages.values():
        for source in stage.sources:
            if source.license_file not in listed:
                problems.append(f"{stage.file}: its license text {source.license_file} is not in the pack")
    for f in manifest.files:
        for source in f.sources:
            if source.license_file not in listed:
                problems.append(f"{f.path}: its license text {source.license_file} is not in the pack")
    problems += _check_voice_table(manifest, listed)

    for rel, sha, size in manifest.all_files():
        if not _safe_relative(rel):
            problems.append(f"{rel}: not a path inside the pack")
            continue
        path = pack_dir / rel
        if not path.is_file():
            problems.append(f"missing file {rel}")
            continue
        actual_size = path.stat().st_size
        if actual_size != size:
            problems.append(f"{rel}: {actual_size} bytes, manifest says {size}")
            continue
        actual_sha = sha256_file(path)
        if actual_sha != sha:
            problems.append(f"{rel}: sha256 {actual_sha[:12]}…, manifest says {sha[:12]}…")

    for stage in manifest.stages.values():
        path = pack_dir / stage.file
        if not _safe_relative(stage.file) or not path.is_file():
            continue
        try:
            inputs, outputs = onnx_io(path)
        except Exception as exc:  # any parse failure means the file is not a usable model
            problems.append(f"{stage.file}: not a readable ONNX model ({type(exc).__name__})")
            continue
        problems += _compare_io("input", stage.file, stage.inputs, inputs)
        problems += _compare_io("output", stage.file, stage.outputs, outputs)

    signed = (pack_dir / SIGNATURE_NAME).exists()
    if signed:
        problems += _check_signature(pack_dir, raw, manifest, trusted_keys)
    elif manifest.signer:
        problems.append(f"the manifest names signer {manifest.signer[:20]}… but {SIGNATURE_NAME} is missing")
    elif warn_unsigned:
        warnings.append("unsigned: nothing vouches for where this pack came from")
    return PackCheck(pack_dir, manifest, tuple(problems), tuple(warnings), signed)


def verify_pack(pack_dir: Path | str, *, trusted_keys: Iterable[str] | None = None) -> list[str]:
    """Problems that make the pack unusable (empty when it verifies)."""
    return list(check_pack(pack_dir, trusted_keys=trusted_keys).problems)


# ---------------------------------------------------------------------------------------------------
# Signatures: Ed25519 over the canonical JSON of manifest.json, which holds every file's sha256.


def trusted_keys_file() -> Path:
    from reader.settings import default_home

    return default_home() / TRUSTED_KEYS_NAME


def load_trusted_keys(path: Path | None = None) -> set[str]:
    """Keys from the user's trusted keys file: one `ed25519:BASE64` a line, `#` starts a comment."""
    path = trusted_keys_file() if path is None else Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return set()
    keys = set()
    for line in lines:
        token = line.split("#", 1)[0].strip().split()
        if token and token[0].startswith(KEY_PREFIX):
            keys.add(token[0])
    return keys


def _public_key_text(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def _check_signature(pack_dir: Path, raw: Any, manifest: Manifest, trusted_keys: Iterable[str] | None) -> list[str]:
    if not manifest.signer:
        return [f"{SIGNATURE_NAME} is present but the manifest names no signer"]
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return ["cannot check the signature: the cryptography package is not installed"]
    short = manifest.signer[:20] + "…"
    try:
        key_bytes = base64.b64decode(manifest.signer.removeprefix(KEY_PREFIX), validate=True)
        public_key = Ed25519PublicKey.from_public_bytes(key_bytes)
        signature = base64.b64decode((pack_dir / SIGNATURE_NAME).read_bytes().strip(), validate=True)
    except (ValueError, OSError):
        return [f"the signer key or {SIGNATURE_NAME} is malformed"]
    try:
        public_key.verify(signature, canonical_json(raw))
    except InvalidSignature:
        return [f"{SIGNATURE_NAME} does not match the manifest (signer {short})"]
    trusted = load_trusted_keys() if trusted_keys is None else set(trusted_keys)
    if manifest.signer not in trusted:
        return [f"signed by {short}, a key that is not in your trusted keys ({trusted_keys_file()})"]
    return []


def sign_pack(pack_dir: Path | str, private_key: Any) -> str:
    """Name the key's public half as signer in manifest.json and write manifest.sig; returns the key text."""
    pack_dir = Path(pack_dir)
    raw = _read_manifest_json(pack_dir)
    raw["signer"] = _public_key_text(private_key.public_key())
    write_atomic(pack_dir / MANIFEST_NAME, (json.dumps(raw, indent=2, ensure_ascii=False) + "\n").encode(), 0o644)
    signature = private_key.sign(canonical_json(raw))
    write_atomic(pack_dir / SIGNATURE_NAME, base64.b64encode(signature) + b"\n", 0o644)
    return raw["signer"]


# ---------------------------------------------------------------------------------------------------
# Opening, finding and importing


@dataclass(frozen=True)
class Pack:
    """A verified pack on disk."""

    path: Path
    manifest: Manifest
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.manifest.name

    def stage_path(self, stage: str) -> Path:
        try:
            return self.path / self.manifest.stages[stage].file
        except KeyError:
            raise PackError(f"Pack {self.name} has no {stage} stage.") from None

    def session(self, stage: str, *, threads: int | None = None) -> Any:
        """An onnxruntime session for one stage (CPU), with the stage's thread hint unless told otherwise."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        path = self.stage_path(stage)
        threads = threads or self.manifest.stages[stage].threads
        if threads:
            options.intra_op_num_threads = threads
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def voices(self) -> "Mapping[str, Any]":
        """Voice id -> style data (for style_vector packs: float32 [max_tokens, 1, 256]). Each table is
        read from the voices file when first asked for: the rich pack has 54 voices (28 MB) and a
        reading session uses one or two."""
        if not self.manifest.voices_file:
            return {}
        return VoiceTables(self.path / self.manifest.voices_file)

    def phonemes(self) -> dict[str, Any]:
        if not self.manifest.phonemes:
            return {}
        return json.loads((self.path / self.manifest.phonemes.file).read_text(encoding="utf-8"))


class VoiceTables(collections.abc.Mapping):
    """A read-only mapping over an .npz of voice tables that reads each table on first use and keeps it."""

    def __init__(self, path: Path) -> None:
        import zipfile

        self.path = Path(path)
        try:
            with zipfile.ZipFile(self.path) as archive:
                names = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
        except (OSError, zipfile.BadZipFile) as exc:
            raise PackError(f"The voices file {self.path} cannot be read ({exc}).") from None
        self._names = tuple(names)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._loaded:
            if key not in self._names:
                raise KeyError(key)
            import numpy as np

            with np.load(self.path) as data:
                self._loaded[key] = data[key]
        return self._loaded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, key: object) -> bool:
        return key in self._names

    @property
    def loaded(self) -> tuple[str, ...]:
        """The tables read so far (tests, memory figures)."""
        return tuple(self._loaded)


def open_pack(pack_dir: Path | str, *, trusted_keys: Iterable[str] | None = None,
              warn_unsigned: bool = False) -> Pack:
    """The pack, verified; PackError in one sentence if it does not verify."""
    check = check_pack(pack_dir, trusted_keys=trusted_keys, warn_unsigned=warn_unsigned)
    if check.manifest is None:
        raise PackError(check.problems[0])
    if check.problems:
        raise PackError(
            f"Pack {check.manifest.name} failed verification: {'; '.join(check.problems)}; "
            "rebuild it with `reader packs build` or re-import it."
        )
    return Pack(Path(pack_dir), check.manifest, check.warnings)


def builtin_pack_dir() -> Path:
    """Packs built at setup inside the environment (from model files that ship in PyPI packages)."""
    return Path(sys.prefix) / "share" / "reader" / "packs"


def user_pack_dir() -> Path:
    from reader.settings import default_home

    return default_home() / "packs"


def default_pack_dirs() -> list[Path]:
    """READER_PACKS (os.pathsep-separated) if set; else the user's imported packs, then the built-in ones."""
    override = os.environ.get("READER_PACKS")
    if override:
        return [Path(p).expanduser() for p in override.split(os.pathsep) if p]
    return [user_pack_dir(), builtin_pack_dir()]


def find_packs(search_dirs: Iterable[Path | str] | None = None, *,
               errors: list[tuple[Path, str]] | None = None) -> list[tuple[Path, Manifest]]:
    """Packs whose manifest loads, one per name (the first folder wins); broken ones go to `errors`."""
    found: list[tuple[Path, Manifest]] = []
    seen: set[str] = set()
    for root in default_pack_dirs() if search_dirs is None else search_dirs:
        root = Path(root)
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            # Dot folders are in-progress builds or imports.
            if child.name.startswith(".") or not (child / MANIFEST_NAME).is_file():
                continue
            try:
                manifest = load_manifest(child)
            except PackError as exc:
                if errors is not None:
                    errors.append((child, exc.message))
                continue
            if manifest.name not in seen:
                seen.add(manifest.name)
                found.append((child, manifest))
    return found


def install_dir_atomically(staging: Path, dest: Path) -> None:
    """Rename a finished staging folder to `dest`, replacing an old `dest` with no window without one."""
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.rename(dest, old / dest.name)
        try:
            os.rename(staging, dest)
        except BaseException:
            os.rename(old / dest.name, dest)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, dest)


def import_pack(src_dir: Path | str, dest_root: Path | str | None = None, *,
                trusted_keys: Iterable[str] | None = None, replace: bool = False) -> Pack:
    """Verify a pack, then copy the files its manifest lists into dest_root/NAME atomically."""
    src_dir = Path(src_dir)
    dest_root = user_pack_dir() if dest_root is None else Path(dest_root)
    check = check_pack(src_dir, trusted_keys=trusted_keys, warn_unsigned=True)
    if check.manifest is None:
        raise PackError(check.problems[0])
    name = check.manifest.name
    if check.problems:
        raise PackError(f"Cannot import pack {name}: {'; '.join(check.problems)}.")
    dest = dest_root / name
    if dest.exists() and not replace:
        raise PackError(f"A pack named {name} is already installed in {dest_root}; remove it first or replace it.")
    dest_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.import-", dir=dest_root))
    try:
        # Only listed files are copied: a pack cannot bring along anything its manifest does not hash.
        wanted = [MANIFEST_NAME] + [rel for rel, _, _ in check.manifest.all_files()]
        if check.signed:
            wanted.append(SIGNATURE_NAME)
        for rel in wanted:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_dir / rel, target)
        copied = check_pack(staging, trusted_keys=trusted_keys, warn_unsigned=True)
        if copied.problems:
            raise PackError(f"Cannot import pack {name}: the copy does not verify ({'; '.join(copied.problems)}).")
        install_dir_atomically(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Pack(dest, check.manifest, check.warnings)
