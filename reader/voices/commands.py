"""The `voices` subcommand: list, enroll (from files or the microphone), verify, use, delete. Each command
unlocks the vault for its own run; handlers take (args, settings) and raise ReaderError for user errors."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from reader.settings import Settings
from reader.voices import PRESET_NAME, VAULT_PREFIX

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]

ENCODER_PACK = "ge2e-speaker"
JUDGE_PACK = "voicefilter-judge"
CACHE_FOLDER = ("cache", "voices")
# Read one at a time at the microphone: each ~5-7 s aloud, so each holds the 3 s of speech a clip needs;
# together they cover most English vowels and consonants.
PROMPTS = (
    "The north wind and the sun were arguing about which of them was stronger, when a traveller came along.",
    "Please remember to water the tomatoes on the windowsill before you leave for work in the morning.",
    "My grandmother kept every letter she ever received in a small wooden box under her bed.",
)
# A prompt that fails its checks may be read again this many times before enrollment stops.
MAX_ATTEMPTS = 3
DELETE_REFUSED = "Nothing was deleted."
VOICE_RESET = "The reading voice was this voice's preset; it is back to the default voice."


def _passphrase_option(parser: argparse.ArgumentParser) -> None:
    from reader.vault.commands import add_passphrase_option

    add_passphrase_option(parser)


def register(subparsers: Any) -> dict[str, Handler]:
    """Add `voices` to the CLI's subparsers; returns {command: handler}."""
    p = subparsers.add_parser(
        "voices", help="family voices: enroll a voice (with consent), verify, use it for reading, delete it",
        description="Enrolled voices live in the encrypted vault: consent record, recordings, speaker "
                    "embedding and reading preset. Deleting a voice destroys all of them and their key.")
    sub = p.add_subparsers(dest="voices_command", metavar="ACTION", required=True)

    c = sub.add_parser("list", help="the enrolled voices: recordings, consent, preset similarity")
    _passphrase_option(c)
    c.add_argument("--json", action="store_true", help="print one JSON object a voice")

    c = sub.add_parser("enroll", help="enroll a voice from recordings (--from FILE...) or the microphone (--mic)",
                       description="Consent comes first: who is recorded, who records, who consents and what "
                                   "for. Give --consent-by and --purpose to run without questions.")
    c.add_argument("name", metavar="NAME", help="the voice's name, e.g. grandma")
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="files", metavar="FILE", nargs="+",
                        help="recordings of the person (WAV, FLAC or OGG, any sample rate), 3 s of speech or more each")
    source.add_argument("--mic", action="store_true", help="record from the microphone, reading prompted sentences")
    c.add_argument("--consent-by", metavar="PERSON", help="who gives consent (the person, or a parent or guardian)")
    c.add_argument("--recorded-by", metavar="PERSON", help="who makes the recording (default: the consenting person)")
    c.add_argument("--purpose", metavar="TEXT", help="what the voice will be used for")
    c.add_argument("--consent-audio", metavar="FILE", help="the person's own spoken consent (a recording)")
    c.add_argument("--pack", help="fit the reading preset for this voice pack (default: one that can clone, "
                                  "else the rich pack)")
    c.add_argument("--no-preset", action="store_true", help="do not fit a reading preset now")
    c.add_argument("--device", help="the microphone (a sounddevice device number or name; default: the "
                                    "microphone setting, else the default input)")
    _passphrase_option(c)

    c = sub.add_parser("verify", help="is the speaker of FILE the enrolled person?")
    c.add_argument("name", metavar="NAME")
    c.add_argument("--from", dest="file", metavar="FILE", required=True, help="a recording, 3 s of speech or more")
    c.add_argument("--json", action="store_true", help='print {"similarity": ..., "same_speaker": ...}')
    _passphrase_option(c)

    c = sub.add_parser("use", help="read with the voice's preset from now on")
    c.add_argument("name", metavar="NAME")
    _passphrase_option(c)

    c = sub.add_parser("delete", help="delete a voice: recordings, embedding, preset, consent and their key")
    c.add_argument("name", metavar="NAME")
    c.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _passphrase_option(c)
    return {"voices": cmd_voices}


def cmd_voices(args: argparse.Namespace, settings: Settings) -> int:
    handlers = {"list": _list, "enroll": _enroll, "verify": _verify, "use": _use, "delete": _delete}
    return handlers[args.voices_command](args, settings)


# --- shared -------------------------------------------------------------------------------------------


def _open_vault(args: argparse.Namespace, settings: Settings, *, create: bool = False) -> Any:
    from reader.vault.commands import read_passphrase, vault_folder
    from reader.vault.errors import VaultMissing
    from reader.vault.store import Vault

    folder = vault_folder(settings)
    if not Vault.exists(folder):
        if not create:
            raise VaultMissing()
        passphrase = read_passphrase(args, confirm=True, prompt="New vault passphrase: ")
        vault = Vault.create(folder, passphrase)
        print(f"Created an encrypted vault in {folder} for the voices. Keep the passphrase safe: without it "
              "nothing in the vault can be recovered.", file=sys.stderr)
        return vault
    return Vault.open(folder, read_passphrase(args))


def _pack_paths() -> dict[str, tuple[Path, Any]]:
    from reader.speech import packs

    return {m.name: (path, m) for path, m in packs.find_packs(packs.default_pack_dirs())}


def _encoder(name: str, settings: Settings, *, required: bool = True) -> Any:
    from reader.speech import packs
    from reader.speech.speaker import SpeakerStage
    from reader.voices.enroll import VoiceError

    found = _pack_paths().get(name)
    if found is None:
        if required:
            raise VoiceError(f"The speaker encoder pack {name} is not installed; run `reader packs build`.")
        return None
    return SpeakerStage.load(packs.open_pack(found[0]), threads=settings.threads)


def _fit_pack(args: argparse.Namespace) -> tuple[Path, Any]:
    """--pack, else a pack that clones from a speaker embedding, else one with stock styles to blend."""
    from reader.voices.enroll import VoiceError

    found = _pack_paths()
    if args.pack:
        if args.pack not in found:
            raise VoiceError(f"There is no voice pack named {args.pack}; installed: {', '.join(sorted(found))}.")
        return found[args.pack]
    speaking = [(path, m) for path, m in found.values() if "acoustic" in m.stages and "vocoder" in m.stages]
    for wanted in ("speaker_embedding", "style_vector", "none"):
        for path, m in speaking:
            if m.conditioning == wanted:
                return path, m
    raise VoiceError("No voice pack is installed to read with; run `reader packs build`.")


def _cache_key(manifest: Any, encoder: str, judge: str | None, text: str) -> str:
    from reader.voices.fit import StockCache

    found = _pack_paths()
    shas = [s.sha256 for s in manifest.stages.values()] + [f.sha256 for f in manifest.files if f.role == "voices"]
    for name in (encoder, judge):
        if name and name in found:
            shas += [s.sha256 for s in found[name][1].stages.values()]
    return StockCache.key(manifest.name, text, *shas)


def fit_for(book: Any, name: str, settings: Settings, args: argparse.Namespace, *, encoder: Any,
            clips16k: list[Any], budget: int | None = None, say: Callable[[str], None] = print) -> Any:
    """Fit and store the voice's reading preset; returns the FitResult."""
    from reader.speech import packs
    from reader.speech.pipeline import Pipeline
    from reader.voices import fit as fitting
    from reader.voices.enroll import unit_mean

    path, manifest = _fit_pack(args)
    pipeline = Pipeline.load(packs.open_pack(path), settings)
    judge = _encoder(JUDGE_PACK, settings, required=False)
    target = book.embedding(name)
    target_judge = unit_mean(judge.embed(c, fitting.features.SAMPLE_RATE) for c in clips16k) if judge else None
    cache = fitting.StockCache(settings.home.joinpath(*CACHE_FOLDER),
                               _cache_key(manifest, ENCODER_PACK, JUDGE_PACK if judge else None, fitting.FIT_TEXT))
    result = fitting.fit_preset(pipeline, encoder, target, judge=judge, target_judge=target_judge,
                                clips16k=clips16k, budget=budget or fitting.MAX_TRIALS, stock_cache=cache,
                                encoder_name=ENCODER_PACK, judge_name=JUDGE_PACK if judge else None, progress=say)
    book.store_preset(name, result)
    return result


# --- list ---------------------------------------------------------------------------------------------


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from reader.voices.enroll import VoiceBook

    with _open_vault(args, settings) as vault:
        book = VoiceBook(vault)
        summaries = [book.summary(n) for n in book.names()]
    if args.json:
        for s in summaries:
            print(json.dumps({"name": s.name, "clips": s.clips, "seconds": round(s.seconds, 1),
                              "consent": s.consent.summary() if s.consent else None,
                              "preset": s.preset, "in_use": _in_use(settings, s)}, ensure_ascii=False))
        return 0
    if not summaries:
        print("No voices are enrolled; enroll one with `reader voices enroll NAME --from FILE...` or --mic.")
        return 0
    for s in summaries:
        consent = s.consent.summary() if s.consent else "consent record unreadable"
        mark = "  (reading voice)" if _in_use(settings, s) else ""
        print(f"{s.name}{mark}: {s.clips} recording{'s' if s.clips != 1 else ''}, {s.seconds:.1f} s; {consent}; "
              f"{s.preset_text()}")
    return 0


def _in_use(settings: Settings, summary: Any) -> bool:
    if not settings.voice:
        return False
    if settings.voice.startswith(VAULT_PREFIX):
        return settings.voice == VAULT_PREFIX + summary.preset_id
    return bool(summary.preset) and summary.preset.get("kind") != "embedding" and \
        summary.preset.get("spec") == settings.voice


# --- enroll -------------------------------------------------------------------------------------------


def _consent(args: argparse.Namespace, name: str) -> Any:
    from reader.voices import consent

    if args.consent_by and args.purpose:
        return consent.Consent.now(name, args.consent_by, args.purpose, args.recorded_by)
    return consent.ask(name, consent_by=args.consent_by, recorded_by=args.recorded_by, purpose=args.purpose)


def _enroll(args: argparse.Namespace, settings: Settings) -> int:
    from reader.voices.enroll import VoiceBook, VoiceError, check_name, load_clip

    name = check_name(args.name)
    consent = _consent(args, name)  # first: nothing is read, recorded or unlocked without it
    clips = [load_clip(f) for f in args.files] if args.files else []
    consent_audio = load_clip(args.consent_audio) if args.consent_audio else None
    encoder = _encoder(ENCODER_PACK, settings)
    with _open_vault(args, settings, create=True) as vault:
        book = VoiceBook(vault)
        if book.exists(name):
            raise VoiceError(f"There is already a voice named {name}; delete it first "
                             f"(`reader voices delete {name}`) or choose another name.")
        if args.mic:
            args.device = args.device or settings.microphone
            result = _enroll_from_mic(args, book, name, consent, consent_audio, encoder)
        else:
            result = book.enroll(name, clips, consent, encoder, consent_audio=consent_audio)
        print(f"Enrolled {name}: {result.clips} recording{'s' if result.clips != 1 else ''}, "
              f"{result.seconds:.1f} s, consent by {consent.consent_by}.")
        if args.no_preset:
            print(f"No reading preset was fitted; `reader voices use {name}` needs one.")
            return 0
        clips16k = [c.samples for c in clips] if clips else book.recordings(name)
        fitted = fit_for(book, name, settings, args, encoder=encoder, clips16k=clips16k,
                         say=lambda m: print(m, file=sys.stderr))
        print(fitted.describe())
        print(f"Fitting took {fitted.fitting_ms / 1000:.1f} s ({fitted.trials} synthesized trials). "
              f"`reader voices use {name}` reads with it.")
    return 0


def _enroll_from_mic(args: argparse.Namespace, book: Any, name: str, consent: Any, consent_audio: Any,
                     encoder: Any, *, mic: Any = None, ask_line: Callable[[str], str] = input,
                     out: Any = None) -> Any:
    """Consent stored first (it makes the voice's group), then each prompt recorded straight into the
    vault, checked, and re-recorded if it fails. Any failure or Ctrl-C shreds the half-made voice."""
    import time

    import numpy as np

    from reader.voices import capture, quality
    from reader.voices.enroll import SAMPLE_RATE, EnrollResult, to_pcm16, unit_mean

    err = out or sys.stderr
    mic = mic or capture.Microphone(capture.device_of(getattr(args, "device", None)))
    start = time.perf_counter()
    book.store_consent(name, consent, consent_audio)
    kept: list[Any] = []
    reports = []
    try:
        for number, sentence in enumerate(PROMPTS, 1):
            for attempt in range(1, MAX_ATTEMPTS + 1):
                print(f"\nSentence {number} of {len(PROMPTS)}:\n\n    {sentence}\n", file=err)
                ask_line("Press Enter, read the sentence aloud, then press Enter again to stop. ")
                stop = threading.Event()
                capture.wait_for_enter(stop, ask_line)
                meter = capture.Meter(err)
                heard: list[Any] = []

                def pcm(blocks: Any) -> Any:
                    for block in blocks:
                        heard.append(block)  # kept in memory for the checks; only ciphertext is written
                        yield to_pcm16(block)

                record_name = f"clip-{number}"
                info = book.record_stream(name, record_name, pcm(mic.blocks(stop, on_level=meter)))
                meter.done()
                samples = np.concatenate(heard) if heard else np.zeros(0, np.float32)
                report = quality.assess(samples, encoder=encoder)
                if report.ok:
                    kept.append(samples)
                    reports.append(report)
                    break
                book.vault.delete(info.id)
                print(f"{report.problems[0][1]} (That recording was deleted.)", file=err)
                if attempt == MAX_ATTEMPTS:
                    raise quality.QualityError(report.problems[0][1], problem=report.problems[0][0], report=report)
        embeddings = [encoder.embed(s, SAMPLE_RATE) for s in kept]
        clips = [_mic_clip(s, i) for i, s in enumerate(kept, 1)]
        book._check_agreement(clips, embeddings)
        embedding = unit_mean(embeddings)
        book.store_embedding(name, embedding, len(kept))
    except BaseException:
        book._shred_quietly(name)
        raise
    seconds = sum(len(s) for s in kept) / SAMPLE_RATE
    return EnrollResult(name, len(kept), seconds, embedding, tuple(reports), (time.perf_counter() - start) * 1000)


def _mic_clip(samples: Any, number: int) -> Any:
    from reader.voices.enroll import Clip

    return Clip(samples, f"Sentence {number}", source="microphone")


# --- verify, use, delete --------------------------------------------------------------------------------


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from reader.voices.enroll import VoiceBook, check_name, load_clip

    name = check_name(args.name)
    clip = load_clip(args.file)
    encoder = _encoder(ENCODER_PACK, settings)
    with _open_vault(args, settings) as vault:
        verdict = VoiceBook(vault).verify(name, clip, encoder)
    if args.json:
        print(json.dumps(verdict.as_json()))
    else:
        print(f"{verdict.text} (similarity {verdict.similarity:.2f}; {verdict.threshold:.2f} or more counts "
              "as the same person)")
    return 0


def _use(args: argparse.Namespace, settings: Settings) -> int:
    from reader.voices.enroll import VoiceBook, VoiceError, check_name

    name = check_name(args.name)
    with _open_vault(args, settings) as vault:
        book = VoiceBook(vault)
        preset = book.preset(name)
        record = vault.find("preset", PRESET_NAME, book.group(name))
    if preset is None or record is None:
        raise VoiceError(f"The voice {name} has no reading preset yet; enroll it again without --no-preset.")
    if preset["kind"] == "embedding":
        # The record's random id, not the name: settings.json is plaintext and must not say who it is.
        spec = VAULT_PREFIX + record.id
        what = (f"{name}'s own voice on the {preset['pack']} pack; the reader loads it when you unlock the "
                f"vault (press V), and `reader say --voice {name}` speaks with it")
    else:
        spec = preset["spec"]
        what = f"{name}'s closest voice, {spec} on the {preset['pack']} pack (similarity {preset['similarity']:.2f})"
    Settings.load(settings.home).with_(voice=spec).save()
    print(f"Reading voice set to {what}.")
    return 0


def _delete(args: argparse.Namespace, settings: Settings) -> int:
    from reader.voices.enroll import VoiceBook, check_name

    name = check_name(args.name)
    with _open_vault(args, settings) as vault:
        book = VoiceBook(vault)
        book.require(name)  # before asking: no question about a voice that is not there
        if not args.yes and sys.stdin.isatty():
            answer = input(f"Delete {name}'s recordings, embedding, preset and consent record for good? (yes/no) ")
            if answer.strip().lower() not in ("y", "yes"):
                print(DELETE_REFUSED)
                return 1
        messages = delete_voice(book, name, settings)
    for message in messages:
        print(message)
    return 0


def delete_voice(book: Any, name: str, settings: Settings) -> list[str]:
    """Crypto-shred the voice; if the reading voice was its preset, the reading voice goes with it (back
    to the default). Returns what to tell the user."""
    preset = book.preset(name)
    record = book.vault.find("preset", PRESET_NAME, book.group(name))
    report = book.delete(name)
    messages = [report.message()]
    current = Settings.load(settings.home)
    used = {VAULT_PREFIX + record.id, (preset or {}).get("spec")} if record is not None else set()
    if current.voice and current.voice in used:
        current.with_(voice=None).save()  # the reading voice came from this person: it goes with them
        messages.append(VOICE_RESET)
    return messages
