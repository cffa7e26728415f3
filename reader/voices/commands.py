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
STEER_PACK = "deepspeaker-speaker"  # a third encoder (Deep Speaker ResCNN) that steers voice fitting
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
    _fit_options(c)
    c.add_argument("--device", help="the microphone (a sounddevice device number or name; default: the "
                                    "microphone setting, else the default input)")
    _passphrase_option(c)

    c = sub.add_parser("fit", help="fit the voice's reading preset again, for a language, or keep improving it",
                       description="A pack that cannot clone a voice (Kokoro) is searched for the closest voice "
                                   "it can make; --more goes on from the last fit for 5 more minutes.")
    c.add_argument("name", metavar="NAME")
    c.add_argument("--pack", help="the voice pack to fit for (default: as enroll)")
    c.add_argument("--more", action="store_true", help="keep improving the stored fit (default 5 minutes)")
    _fit_options(c)
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


def _fit_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--lang", choices=("en", "zh"), default=None,
                   help="the language the voice will read (default English; zh for a voice enrolled from "
                        "Chinese speech: it gets a Mandarin reading voice)")
    c.add_argument("--minutes", type=float, default=None,
                   help="the fit's time budget (default 3 minutes, --more 5)")


def cmd_voices(args: argparse.Namespace, settings: Settings) -> int:
    handlers = {"list": _list, "enroll": _enroll, "fit": _fit, "verify": _verify, "use": _use, "delete": _delete}
    return handlers[args.voices_command](args, settings)


# --- shared -------------------------------------------------------------------------------------------


def _open_vault(args: argparse.Namespace, settings: Settings, *, create: bool = False) -> Any:
    from reader.vault.commands import read_passphrase, vault_folder
    from reader.vault.errors import VaultMissing
    from reader.vault.store import Vault

    folder = vault_folder(settings)
    if not Vault.exists(folder):
        problem = Vault.missing(folder)
        if not create or not isinstance(problem, VaultMissing):  # a vault without its header: never made over
            raise problem
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
    for name in [*encoder.split(" + "), judge]:  # an encoder set is named "a + b"
        if name and name in found:
            shas += [s.sha256 for s in found[name][1].stages.values()]
    return StockCache.key(manifest.name, text, *shas)


def fit_for(book: Any, name: str, settings: Settings, args: argparse.Namespace, *, encoder: Any,
            clips16k: list[Any], budget_s: float | None = None, lang: str | None = None, more: bool = False,
            cancel: threading.Event | None = None, progress: Callable[[Any], None] | None = None) -> Any:
    """Fit and store the voice's reading preset for `lang` (default: args.lang, else English) within
    `budget_s` seconds; `more` goes on from the stored fit of that language. Returns the FitResult."""
    from reader.speech import packs
    from reader.speech.pipeline import Pipeline
    from reader.voices import fit as fitting
    from reader.voices.enroll import VoiceError, embed_clip, unit_mean
    from reader.speech.speaker import EncoderSet
    from reader.voices.quality import band_limit

    lang = (lang or getattr(args, "lang", None) or fitting.FIT_LANG).split("-")[0]
    if lang not in fitting.FIT_LANGS:
        raise VoiceError(f"A voice can be fitted for {' or '.join(fitting.FIT_LANGS)}, not {lang!r}.")
    path, manifest = _fit_pack(args)
    pipeline = Pipeline.load(packs.open_pack(path), settings)
    if lang not in pipeline.languages:
        raise VoiceError(f"The {manifest.name} pack cannot read {lang}; choose another with --pack.")
    resume = None
    if more:
        stored = book.preset(name)
        if stored and stored.get("pack") == manifest.name:
            entry = fitting.preset_entry(stored, lang)
            if (entry.get("lang") or fitting.FIT_LANG) == lang and entry.get("kind") == fitting.STYLE_PRESET:
                resume = entry
    judge = _encoder(JUDGE_PACK, settings, required=False)
    phone = book.phone_band(name)
    steer_name = encoder.label if isinstance(encoder, EncoderSet) else ENCODER_PACK
    if phone or isinstance(encoder, EncoderSet):
        # A phone recording: the person and every voice tried are heard in the phone band. Several
        # encoders: the stored embedding is GE2E's alone, so the clips are embedded by each.
        target = unit_mean(embed_clip(encoder, c, narrowband=phone) for c in clips16k)
    else:
        target = book.embedding(name)
    band = band_limit if phone else (lambda c: c)
    target_judge = unit_mean(judge.embed(band(c), fitting.features.SAMPLE_RATE) for c in clips16k) if judge else None
    cache = fitting.StockCache(settings.home.joinpath(*CACHE_FOLDER),
                               _cache_key(manifest, steer_name, JUDGE_PACK if judge else None,
                                          "\n".join(fitting.FIT_TEXTS[lang]) + ("\nphone band" if phone else "")))
    if budget_s is None:
        minutes = getattr(args, "minutes", None)
        if minutes is not None and not 0 < minutes <= 120:
            raise VoiceError("Give --minutes between 0 and 120.")
        budget_s = minutes * 60 if minutes else (fitting.MORE_S if more else settings.fit_minutes * 60)
    result = fitting.fit_preset(pipeline, encoder, target, judge=judge, target_judge=target_judge,
                                clips16k=clips16k, budget_s=budget_s, stock_cache=cache, lang=lang,
                                encoder_name=steer_name, judge_name=JUDGE_PACK if judge else None,
                                progress=progress, cancel=cancel, resume=resume, narrowband=phone)
    book.store_preset(name, result)
    return result


def print_progress(out: Any = None, every_s: float = 15.0) -> Callable[[Any], None]:
    """A fit's progress for a terminal: each new phase, and every `every_s` seconds the time left."""
    import time

    state = {"phase": None, "at": 0.0}

    def show(p: Any) -> None:
        now = time.monotonic()
        if p.phase == state["phase"] and now - state["at"] < every_s:
            return
        state.update(phase=p.phase, at=now)
        print(f"[{p.fraction * 100:3.0f}%, about {_duration(p.seconds_left)} left] {p.message}",
              file=out or sys.stderr, flush=True)

    return show


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _fit(args: argparse.Namespace, settings: Settings) -> int:
    from reader.voices.enroll import VoiceBook, check_name
    from reader.voices.fit import FitCancelled

    name = check_name(args.name)
    encoder = _encoder(ENCODER_PACK, settings)
    with _open_vault(args, settings) as vault:
        book = VoiceBook(vault)
        book.require(name)
        clips16k = book.recordings(name)
        try:
            fitted = fit_for(book, name, settings, args, encoder=encoder, clips16k=clips16k, more=args.more,
                             progress=print_progress())
        except (FitCancelled, KeyboardInterrupt):
            print("The fit was stopped; the voice's preset is as it was.", file=sys.stderr)
            return 1
    _print_fit(name, fitted)
    return 0


def _print_fit(name: str, fitted: Any) -> None:
    """What a fit found, and how to use it or improve it (after `enroll` and after `fit`)."""
    print(fitted.describe())
    print(f"Fitting took {fitted.fitting_ms / 1000:.0f} s ({fitted.trials} syntheses, {fitted.walk_steps} steps). "
          f"`reader voices use {name}` reads with it; `reader voices fit {name} --lang {fitted.lang} --more` "
          "keeps improving it.")


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
    from reader.voices.fit import FitCancelled

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
        for warning in [] if args.mic else result.warnings():  # the microphone's were said take by take
            print(f"Note: {warning}", file=sys.stderr)
        if args.no_preset:
            print(f"No reading preset was fitted; `reader voices use {name}` needs one.")
            return 0
        clips16k = book.recordings(name)  # as stored: brought to the normal level
        try:
            fitted = fit_for(book, name, settings, args, encoder=encoder, clips16k=clips16k,
                             progress=print_progress())
        except (FitCancelled, KeyboardInterrupt):
            print(f"The fit was stopped; {name} is enrolled without a reading preset. "
                  f"`reader voices fit {name}` fits one later.", file=sys.stderr)
            return 1
        _print_fit(name, fitted)
    return 0


def _enroll_from_mic(args: argparse.Namespace, book: Any, name: str, consent: Any, consent_audio: Any,
                     encoder: Any, *, mic: Any = None, ask_line: Callable[[str], str] = input,
                     out: Any = None) -> Any:
    """Consent, then each prompt recorded straight into the vault (sealed as it comes), checked, and
    re-recorded if it fails, all in one transaction: any failure, Ctrl-C or crash leaves no voice."""
    import time

    import numpy as np

    from reader.voices import capture, quality
    from reader.voices.enroll import SAMPLE_RATE, EnrollResult, embed_clip, to_pcm16, unit_mean

    err = out or sys.stderr
    mic = mic or capture.Microphone(capture.device_of(getattr(args, "device", None)))
    start = time.perf_counter()
    kept: list[Any] = []
    reports = []
    # One transaction: the takes are sealed into the vault as they are recorded, but the voice appears
    # (consent, takes, embedding) only at its end; Ctrl-C, a failure or a crash leaves nothing of it.
    with book.enrolling(name) as tx:
        book.store_consent(name, consent, consent_audio, into=tx)
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
                book.record_stream(name, record_name, pcm(mic.blocks(stop, on_level=meter)), into=tx)
                meter.done()
                samples = np.concatenate(heard) if heard else np.zeros(0, np.float32)
                report = quality.assess(samples, encoder=encoder)
                if report.ok:
                    # What is kept is the take brought to the normal level, like a file's (enroll.prepare):
                    # it replaces the streamed take, sealed like every record.
                    samples = quality.normalize(samples, report)
                    tx.put("recording", record_name, to_pcm16(samples), group=book.group(name),
                           meta=book._recording_meta(len(samples) / SAMPLE_RATE, "microphone", report))
                    kept.append(samples)
                    reports.append(report)
                    for _, warning in report.warnings:
                        print(f"Kept, but: {warning}", file=err)
                    break
                tx.discard("recording", record_name, book.group(name))
                print(f"{report.problems[0][1]} (That recording was deleted.)", file=err)
                if attempt == MAX_ATTEMPTS:
                    raise quality.QualityError(report.problems[0][1], problem=report.problems[0][0], report=report)
        embeddings = [embed_clip(encoder, s) for s in kept]
        clips = [_mic_clip(s, i) for i, s in enumerate(kept, 1)]
        book._check_agreement(clips, embeddings, reports=reports, encoder=encoder)
        embedding = unit_mean(embeddings)
        book.store_embedding(name, embedding, len(kept), into=tx)
    seconds = sum(len(s) for s in kept) / SAMPLE_RATE
    return EnrollResult(name, len(kept), seconds, embedding, tuple(reports), (time.perf_counter() - start) * 1000,
                        labels=tuple(c.label for c in clips))


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
    from reader.voices.enroll import VoiceBook, check_name

    name = check_name(args.name)
    with _open_vault(args, settings) as vault:
        spec, what, locked = VoiceBook(vault).reading_spec(name)
    if locked:
        what += f"; the reader loads it when you unlock the vault (press V), and `reader say --voice {name}` speaks with it"
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
