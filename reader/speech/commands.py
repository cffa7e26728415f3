"""The `say` and `packs` subcommands: register(subparsers) adds them to the CLI and returns their handlers."""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable

from reader.errors import InputError, ReaderError
from reader.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]

STYLE_HELP = ("a style instruction in English or Chinese, e.g. 'read slowly and softly', 'sadly', 'excited', "
              "'慢一点', '悲伤地', 'a bit faster'; it changes prosody only (rate, pitch, emphasis, volume), "
              "not the voice itself")


def _number(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number")
    return x


def _check_rate(rate: float | None) -> None:
    """The rate range is the app's (reader.speech.prosody), said in one sentence when it is left."""
    from reader.speech.prosody import RATE_MAX, RATE_MIN

    if rate is not None and not RATE_MIN <= rate <= RATE_MAX:
        raise InputError(f"The rate {rate:g} is out of range: choose a rate from {RATE_MIN:g} to {RATE_MAX:g} "
                         "(1.0 is the voice's own pace, 2.0 twice as fast).")


def _factor(low: float, high: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        x = _number(value)
        if not low <= x <= high:
            raise argparse.ArgumentTypeError(f"choose a value between {low:g} and {high:g}")
        return x

    return parse


def register(subparsers: Any) -> dict[str, Handler]:
    """Add `say` and `packs` to the CLI's subparsers; returns {command: handler}."""
    from reader.speech.prosody import RATE_MAX, RATE_MIN

    p = subparsers.add_parser(
        "say", help="speak text aloud (or write it to a WAV file)",
        description="Speak TEXT (or a file) with an on-device voice. English goes to the fast voice and text "
                    "with Chinese to the rich one unless --pack or --voice says otherwise.")
    p.add_argument("text", nargs="?", help="the text to speak")
    p.add_argument("-f", "--file", help="speak this document instead (PDF, EPUB, HTML, Markdown, DOCX, text; - for stdin)")
    p.add_argument("--voice", help="a voice id (see `reader packs list`, e.g. af_heart, bm_george, zf_xiaoxiao), "
                                   "a blend like af_heart+bf_emma or af_heart:0.7,bf_emma:0.3, for a cloning pack a recording (FILE.wav, >= 3 s), "
                                   "or the name of an enrolled family voice (its preset; unlocks the vault)")
    p.add_argument("--one-voice", action="store_true",
                   help="read every language with the chosen --voice (default: a sentence of another language "
                        "is read by the voice's partner of the same gender, e.g. af_heart's is zf_xiaoxiao)")
    p.add_argument("--pack", help="the voice pack to use (default: by language)")
    p.add_argument("--lang", choices=("auto", "en", "zh"), default="auto", help="language (default: per sentence)")
    p.add_argument("--rate", type=_number, help=f"speed, 1.0 normal, 2.0 twice as fast ({RATE_MIN:g}-{RATE_MAX:g}, the "
                                                "reader's range); the pitch stays")
    p.add_argument("--pitch", type=_factor(0.7, 1.5), help="pitch factor, 1.0 normal (0.7-1.5); on the fast "
                                                          "voice it is a resampling shift that moves the formants too")
    p.add_argument("--volume", type=_factor(0.0, 2.0), help="loudness factor, 1.0 normal (0-2)")
    p.add_argument("--style", help=STYLE_HELP)
    p.add_argument("--out", help="write a 16-bit WAV file instead of playing")
    p.add_argument("--no-service", action="store_true",
                   help="speak in this process, not through the resident speech service (`reader serve`, "
                        "which this command otherwise uses, and starts when it is not running)")
    from reader.vault.commands import add_passphrase_option

    add_passphrase_option(p)

    p = subparsers.add_parser("packs", help="list, verify, build or import voice packs")
    sub = p.add_subparsers(dest="packs_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="the installed packs and their voices (language, accent, gender, source)")
    ls.add_argument("--lang", help="only voices of this language (en, zh, ja, es, fr, hi, it, pt)")
    ls.add_argument("--gender", choices=("female", "male"), help="only voices of this gender")
    v = sub.add_parser("verify", help="check every file's hash and the models' inputs and outputs")
    v.add_argument("name", nargs="?", help="only this pack")
    b = sub.add_parser("build", help="build the default packs from the installed model packages")
    b.add_argument("--force", action="store_true", help="rebuild even packs that are up to date")
    i = sub.add_parser("import", help="verify a pack folder and copy it into your packs")
    i.add_argument("dir", help="the pack folder (it holds manifest.json)")
    i.add_argument("--replace", action="store_true", help="replace an installed pack of the same name")
    return {"say": cmd_say, "packs": cmd_packs}


# --- say ------------------------------------------------------------------------------------------


NO_TEXT = "Give the text to say, or -f FILE to read a document aloud."


def _sentences(args: argparse.Namespace, settings: Settings) -> list[Any]:
    from reader.text import extract
    from reader.text.sentences import document_sentences

    if args.file:
        doc = extract.load_stdin() if args.file == "-" else extract.load_document(args.file)
    elif args.text is None or not args.text.strip():
        raise InputError(NO_TEXT)
    else:  # as plain text, like the clipboard: wrapped lines are joined, short lines read one by one
        doc = extract.document_from_text(args.text, source="text", title="Text")
    return list(document_sentences(doc, max_tokens=settings.max_tokens))


def _enrolled_voice(args: argparse.Namespace, settings: Settings, synth: Any, name: str) -> str:
    """--voice NAME that is no stock voice nor a file: an enrolled family voice, when there is a vault."""
    from reader.vault.commands import read_passphrase, vault_folder
    from reader.vault.store import Vault

    folder = vault_folder(settings)
    if not Vault.exists(folder):
        return name  # the pipeline says the voice does not exist
    from reader.voices.enroll import VoiceBook

    with Vault.open(folder, read_passphrase(args)) as vault:
        spec, label = VoiceBook(vault).reading_voice(name, synth)
    print(f"reader: reading with {label}.", file=sys.stderr, flush=True)
    return spec


# A stock voice or a blend of them ("af_heart", "af_heart+bf_emma", "af_heart:0.7,bf_emma:0.3").
_STOCK_VOICES = re.compile(r"[a-z]{2}_[a-z0-9]+(?::[0-9.]+)?(?:[+,][a-z]{2}_[a-z0-9]+(?::[0-9.]+)?)*")


def _say_through_service(args: argparse.Namespace, settings: Settings) -> bool:
    """Speak through the resident service (starting it when none runs); False when this call should
    speak in its own process: --out, a file, an enrolled voice, --no-service or READER_SERVICE=off."""
    from reader.service import client

    if args.no_service or args.out or args.file or not client.service_wanted():
        return False
    if args.text is None or not args.text.strip():
        raise InputError(NO_TEXT)
    if args.voice and not _STOCK_VOICES.fullmatch(args.voice):
        return False  # a recording or an enrolled voice: unlocked and used in this process only
    sock = client.connect(settings.home, start_if_missing=True)
    request = {"text": args.text, "voice": args.voice, "pack": args.pack, "lang": args.lang, "rate": args.rate,
               "pitch": args.pitch, "volume": args.volume, "style": args.style, "one_voice": args.one_voice}
    client.say(sock, {k: v for k, v in request.items() if v not in (None, False)})
    return True


def cmd_say(args: argparse.Namespace, settings: Settings) -> int:
    _check_rate(args.rate)
    if _say_through_service(args, settings):
        return 0
    from reader.speech.synthesizer import Synthesizer, SynthesisOptions

    sentences = _sentences(args, settings)
    if not sentences:
        raise InputError("There is nothing to say: the text has no words.")
    langs = {args.lang} if args.lang != "auto" else {s.lang for s in sentences}

    def tell(notice: Any) -> None:
        print(f"reader: note: {notice.message}", file=sys.stderr, flush=True)

    synth = Synthesizer.load(settings, on_notice=tell)
    pack = args.pack
    if pack and pack not in synth.pack_names:
        from reader.speech.errors import PackError

        raise PackError(f"There is no voice pack named {pack}; installed: {', '.join(synth.pack_names)}.")
    voice = args.voice
    if voice and synth.pack_for_voice(voice) is None and not Path(voice).expanduser().exists():
        voice = _enrolled_voice(args, settings, synth, voice)
    if pack is None and voice:
        pack = synth.pack_for_voice(voice)
    if pack is None:
        # English alone goes to the fast voice; any Chinese to the rich one, which reads both.
        pack = synth.pack_with("zh") if "zh" in langs else synth.pack_with("en", prefer_tier="fast")
        pack = pack or synth.default_pack
    synth.default_pack = pack
    options = SynthesisOptions(voice=voice, pack=pack if args.pack else None, lang=args.lang,
                               rate=args.rate, pitch=args.pitch, volume=args.volume, style=args.style,
                               allow_downgrade=not (args.pack or args.voice),
                               voice_per_language=not args.one_voice)
    if args.out:
        from reader.audio.sink import WavSink

        sink = WavSink(Path(args.out))
        try:
            for chunk in synth.stream(sentences, options):
                sink.write_chunk(chunk)
        except BaseException:
            sink.abort()
            raise
        path = sink.close()
        print(f"Wrote {path} ({sink.seconds:.1f} s of speech).")
        return 0
    from reader.audio import AudioError
    from reader.audio.player import available, play_blocking

    # Check the device before any synthesis, so a machine without audio gets its one sentence at once.
    reason = available()
    if reason is not None:
        raise AudioError(reason)
    try:
        play_blocking(synth.stream(sentences, options))
    finally:
        synth.cancel()
    return 0


# --- packs ----------------------------------------------------------------------------------------


def _conditioning_text(m: Any) -> str:
    if "acoustic" not in m.stages:
        return "speaker encoder only (for enrolling and comparing voices; it does not speak)"
    return {
        "speaker_embedding": "can clone a voice (conditioned on a speaker embedding)",
        "style_vector": "stock voices only: choose or blend them, cannot clone a voice",
        "none": "one fixed voice: cannot choose, blend or clone",
    }.get(m.conditioning, m.conditioning)


def _licenses(m: Any) -> str:
    seen: list[str] = []
    for stage in m.stages.values():
        for s in stage.sources:
            if s.license not in seen:
                seen.append(s.license)
    for f in m.files:
        for s in f.sources:
            if s.license not in seen:
                seen.append(s.license)
    return ", ".join(seen) or "not stated"


def _packs_list(settings: Settings, lang: str | None = None, gender: str | None = None) -> int:
    from reader.speech import packs
    from reader.speech.voices import voice_entries

    errors: list[tuple[Path, str]] = []
    found = packs.find_packs(errors=errors)
    if not found and not errors:
        print("No voice packs are installed; run `reader packs build`.")
        return 0
    for path, m in found:
        entries = voice_entries([m], language=lang, gender=gender)
        if (lang or gender) and not entries:
            continue
        print(f"{m.name}  ({m.title})")
        print(f"  tier: {m.tier}; languages: {', '.join(m.languages)}; sample rate: {m.sample_rate} Hz")
        count = sum(1 for e in entries if not e.can_clone)
        shown = f"{count} of {len(m.voices)}" if (lang or gender) else f"{len(m.voices)}"
        print(f"  voices ({shown}): {_conditioning_text(m)}")
        for e in entries:  # the note starts with the voice's language and gender
            source = f" [{e.source}]" if e.source else ""
            print(f"    {e.id}  {e.title}{source}: {e.note}")
        print(f"  license: {_licenses(m)}")
        print(f"  folder: {path}")
    for path, message in errors:
        print(f"{path.name}  (broken: {message})")
    return 0


def _packs_verify(settings: Settings, name: str | None) -> int:
    from reader.speech import packs

    errors: list[tuple[Path, str]] = []
    found = packs.find_packs(errors=errors)
    targets = [(path, m.name) for path, m in found] + [(path, path.name) for path, _ in errors]
    if name:
        targets = [(path, n) for path, n in targets if n == name or path.name == name]
        if not targets:
            from reader.speech.errors import PackError

            raise PackError(f"There is no voice pack named {name}; `reader packs list` shows the installed ones.")
    if not targets:
        print("No voice packs are installed; run `reader packs build`.")
        return 0
    failed = 0
    for path, pack_name in targets:
        check = packs.check_pack(path)
        if check.ok:
            extra = f" ({'; '.join(check.warnings)})" if check.warnings else ""
            print(f"{pack_name}: ok{extra}")
        else:
            failed += 1
            print(f"{pack_name}: FAILED ({path})")
            for problem in check.problems:
                print(f"  - {problem}")
    if failed:
        print(f"reader: {failed} pack{'s' if failed > 1 else ''} failed verification; rebuild with "
              "`reader packs build --force` or re-import.", file=sys.stderr)
        return 2
    return 0


def _packs_build(force: bool) -> int:
    from reader.speech import packs
    from reader.speech.build import build_default_packs

    dest = packs.builtin_pack_dir()
    dest.mkdir(parents=True, exist_ok=True)

    def report(name: str, path: Path, seconds: float, fresh: bool) -> None:
        print(f"{name}: {'built' if fresh else 'up to date'} in {seconds:.1f} s ({path})", flush=True)

    # The reader never uses the network, and this is the reader: the rich pack's voices (npm package
    # kokoro-js) come from npm's cache, filled by `make setup` / `python -m reader.speech.build`.
    build_default_packs(dest, force=force, report=report, offline=True)
    return 0


def _packs_import(directory: str, replace: bool) -> int:
    from reader.speech import packs

    pack = packs.import_pack(Path(directory), replace=replace)
    print(f"Imported {pack.name} into {pack.path}.")
    for warning in pack.warnings:
        print(f"  warning: {warning}")
    return 0


def cmd_packs(args: argparse.Namespace, settings: Settings) -> int:
    action = args.packs_command
    if action == "list":
        return _packs_list(settings, getattr(args, "lang", None), getattr(args, "gender", None))
    if action == "verify":
        return _packs_verify(settings, args.name)
    if action == "build":
        return _packs_build(args.force)
    if action == "import":
        return _packs_import(args.dir, getattr(args, "replace", False))
    raise ReaderError(f"Unknown packs action {action!r}.")
