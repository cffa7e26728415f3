"""The `archive` subcommand: add, list, play, export and remove recordings of the dialect archive. Each
command unlocks the vault for its own run only, like `reader vault`."""

from __future__ import annotations

import argparse
import io
import sys
import threading
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from reader.archive import ArchiveError
from reader.settings import Settings
from reader.terminal import safe_json, safe_text
from reader.vault.commands import add_passphrase_option

if TYPE_CHECKING:
    from reader.archive.records import ArchiveEntry
    from reader.vault.store import Vault

Handler = Callable[[argparse.Namespace, Settings], int]

CONFIRM_PLAINTEXT = "This writes the recordings and names unencrypted to {dir}. Type yes to continue: "
YES = "yes"
# A transcript file is text; anything bigger than this was named by mistake (an audio file, say).
MAX_TRANSCRIPT_FILE_BYTES = 8 * 1024 * 1024
OUT_SUFFIXES = (".wav", ".flac")
# Exit code of a command the user cancelled at a prompt (what `rm -i` and most tools return).
CANCELLED = 1
# `archive list` and `export` when some descriptions are damaged: the rest was listed or exported.
DAMAGED = 1
# Exit code after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2).
INTERRUPTED = 130
# Widths of the `archive list` columns, in terminal cells (a Chinese character takes two).
LIST_COLUMNS = (("ID", 7), ("DATE", 10), ("LENGTH", 7), ("DIALECT", 22), ("SPEAKER", 16), ("TOPIC", 0))
# File-mode of a --out file: it is a voice, readable by the user only.
OUT_MODE = 0o600


def _description_options(c: argparse.ArgumentParser) -> None:
    """What `add` and `record` ask about a recording."""
    c.add_argument("--dialect", metavar="D",
                   help="the dialect spoken: a code, English or Chinese name (Sichuanese, 四川话, minnan) "
                        "or any other name, kept as typed")
    c.add_argument("--region", metavar="R", help="where the speaker's dialect is from")
    c.add_argument("--speaker", metavar="S", help="who speaks: a voice in the vault or a name")
    c.add_argument("--date", metavar="YYYY-MM-DD", help="the day it was recorded (default: today)")
    text = c.add_mutually_exclusive_group()
    text.add_argument("--transcript", metavar="T", help="what is said")
    text.add_argument("--transcript-file", metavar="F", help="read the transcript from a UTF-8 text file")
    c.add_argument("--romanization", metavar="T", help="a romanization of the transcript")
    c.add_argument("--translation", metavar="T", help="a translation of the transcript")
    c.add_argument("--topic", metavar="T", help="what the recording is about")
    c.add_argument("--consent-by", metavar="PERSON", help="who agreed to the recording being kept (required)")
    c.add_argument("--consent-purpose", metavar="TEXT", help="what they agreed to")
    add_passphrase_option(c)


def register(subparsers: Any) -> dict[str, Handler]:
    """Add `archive` to the CLI's subparsers; returns {command: handler}."""
    p = subparsers.add_parser(
        "archive", help="the dialect archive: a family's recordings of a dialect, kept encrypted",
        description="Recordings of a family's dialect with who speaks, where from, what is said and who "
                    "agreed to keeping it. Everything is kept encrypted in the voice vault; exports in the "
                    "clear are written only when asked for.")
    sub = p.add_subparsers(dest="archive_command", metavar="ACTION", required=True)

    c = sub.add_parser("add", help="archive an audio file (WAV, FLAC or OGG) with its description")
    c.add_argument("file", metavar="FILE")
    _description_options(c)

    c = sub.add_parser("record", help="record from the microphone straight into the archive (Enter starts "
                                      "and stops), with the same description as add")
    _description_options(c)
    c.add_argument("--device", help="the microphone (a sounddevice device number or name; default: the "
                                    "microphone setting, else the default input)")
    c.add_argument("--minutes", type=float, default=None,
                   help="stop by itself after this many minutes (at most 60, the default)")

    c = sub.add_parser("list", help="list the archived recordings")
    c.add_argument("--dialect", metavar="D", help="only recordings of this dialect")
    c.add_argument("--json", action="store_true", help="every field, as a JSON list")
    add_passphrase_option(c)

    c = sub.add_parser("play", help="play a recording (Ctrl-C stops), or write it to a file with --out")
    c.add_argument("id", metavar="ID")
    c.add_argument("--start", metavar="SECONDS", type=float, default=0.0, help="start this far in")
    c.add_argument("--out", metavar="FILE", help="write the recording to FILE (.wav or .flac) instead; "
                                                 "the file is NOT encrypted")
    add_passphrase_option(c)

    c = sub.add_parser("export", help="export the archive to DIR: an encrypted bundle, or with --plaintext "
                                      "FLAC files and metadata.json/metadata.csv")
    c.add_argument("dir", metavar="DIR")
    c.add_argument("--plaintext", action="store_true",
                   help="write FLAC files and metadata unencrypted (asks first; see reader/archive/SCHEMA.md)")
    c.add_argument("--yes", action="store_true", help="do not ask before writing unencrypted files")
    c.add_argument("--export-passphrase-file", metavar="PATH",
                   help="read the bundle's passphrase from PATH's first line (otherwise asked for, twice)")
    c.add_argument("--dialect", metavar="D", help="only recordings of this dialect")
    add_passphrase_option(c)

    c = sub.add_parser("remove", help="remove a recording and its description from the vault")
    c.add_argument("id", metavar="ID")
    add_passphrase_option(c)
    return {"archive": cmd_archive}


def cmd_archive(args: argparse.Namespace, settings: Settings) -> int:
    handlers = {"add": _add, "record": _record, "list": _list, "play": _play, "export": _export,
                "remove": _remove}
    return handlers[args.archive_command](args, settings)


# --- helpers ------------------------------------------------------------------------------------------


def _open_vault(args: argparse.Namespace, settings: Settings) -> "Vault":
    from reader.vault.commands import read_passphrase, vault_folder
    from reader.vault.store import Vault

    folder = vault_folder(settings)
    if not Vault.exists(folder):
        raise Vault.missing(folder)
    return Vault.open(folder, read_passphrase(args))


def format_duration(seconds: float) -> str:
    """12.5 -> "0:12", 3725 -> "1:02:05"."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _fit(text: str, width: int) -> str:
    """`text` cut and padded to `width` terminal cells (0: as it is)."""
    text = " ".join(text.split())
    if not width:
        return text
    if _cells(text) > width:
        while text and _cells(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _cells(text))


def _read_transcript_file(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TRANSCRIPT_FILE_BYTES + 1)
    except OSError as exc:
        raise ArchiveError(f"The transcript file {path} cannot be read ({exc.strerror or exc}).") from None
    if len(data) > MAX_TRANSCRIPT_FILE_BYTES:
        raise ArchiveError(f"The transcript file {path} is over {MAX_TRANSCRIPT_FILE_BYTES // (1024 * 1024)} MB; "
                           "is it the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ArchiveError(f"The transcript file {path} is not UTF-8 text.") from None


def _confirm(prompt: str) -> bool:
    try:
        return input(prompt).strip().lower() == YES
    except EOFError:  # no one to answer (a script, CI): that is not a yes
        return False


# --- the commands -------------------------------------------------------------------------------------


def _description(args: argparse.Namespace) -> dict:
    """The description `add` and `record` were given, checked before the passphrase is asked for or
    anything is recorded: consent first, then the rest."""
    from reader.archive.store import ArchiveStore

    transcript = args.transcript
    if args.transcript_file:
        transcript = _read_transcript_file(args.transcript_file)
    description = dict(dialect=args.dialect, consent_by=args.consent_by, consent_purpose=args.consent_purpose,
                       region=args.region, speaker=args.speaker, date=args.date, transcript=transcript,
                       romanization=args.romanization, translation=args.translation, topic=args.topic)
    ArchiveStore.describe(**description)
    return description


def _archived(entry: "ArchiveEntry") -> None:
    entry = entry.for_display()
    channels = {1: "mono", 2: "stereo"}.get(entry.channels, f"{entry.channels} channels")
    print(f"Archived {entry.id}: {entry.dialect_label}, {format_duration(entry.duration_seconds)}, "
          f"{entry.sample_rate} Hz {channels} {entry.bits_per_sample}-bit, recorded {entry.date}.")
    if entry.speaker:
        voice = f" (the voice '{entry.speaker_voice}' in the vault)" if entry.speaker_voice else ""
        print(f"Speaker: {entry.speaker}{voice}.")
    print(f"Consent: {entry.consent_by}, for {entry.consent_purpose}.")


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from reader.archive.store import ArchiveStore

    description = _description(args)
    with _open_vault(args, settings) as vault:
        entry = ArchiveStore(vault).add(args.file, **description)
    _archived(entry)
    print(f"The file {args.file} itself is still on disk unencrypted; delete it if the recording should be "
          "kept only in the vault.")
    return 0


def _record(args: argparse.Namespace, settings: Settings) -> int:
    from reader.archive.recording import MAX_SECONDS, ArchiveRecording
    from reader.archive.store import ArchiveStore
    from reader.voices import capture

    description = _description(args)
    limit = MAX_SECONDS if args.minutes is None else args.minutes * 60
    if not 0 < limit <= MAX_SECONDS:
        raise ArchiveError(f"Give --minutes between 0 and {MAX_SECONDS // 60}.")
    device = capture.device_of(args.device or settings.microphone)
    with _open_vault(args, settings) as vault:
        store = ArchiveStore(vault)
        recording = ArchiveRecording(device)
        try:
            input("Press Enter to start recording, and Enter again to stop. ")
        except EOFError:
            raise ArchiveError("Recording needs a keyboard to start and stop it; nothing was recorded.") from None
        stop = threading.Event()
        capture.wait_for_enter(stop)
        meter = capture.Meter()
        try:
            audio = recording.run(stop, on_level=meter, max_seconds=limit)
        except KeyboardInterrupt:
            meter.done()
            print("Recording cancelled; nothing was archived.")
            return INTERRUPTED
        meter.done()
        entry = store.add_recording(audio, **description)
    _archived(entry)
    print("Only the encrypted copy in the vault was written.")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from reader.archive.store import ArchiveStore

    with _open_vault(args, settings) as vault:
        listing = ArchiveStore(vault).scan(dialect=args.dialect)
    entries, warning = listing.entries, listing.warning()
    shown = [e.for_display() for e in entries]  # descriptions may come from a backup: no terminal escapes
    # Like ls: what can be read is listed, the damaged ones are named on standard error, and the exit
    # status is 1 so that a script notices.
    status = DAMAGED if warning else 0
    if warning:
        print(safe_text(warning), file=sys.stderr)
    if args.json:
        print(safe_json([e.to_json() for e in entries], indent=2))
        return status
    if not entries and not warning:
        if args.dialect:
            print(f"There are no recordings of {args.dialect} in the archive.")
        else:
            print("The archive is empty; add a recording with "
                  "`reader archive add FILE --dialect D --consent-by PERSON`.")
        return 0
    if entries:
        print("  ".join(_fit(name, width) for name, width in LIST_COLUMNS).rstrip())
        for e in shown:
            cells = (e.id, e.date, format_duration(e.duration_seconds), e.dialect_label, e.speaker or "",
                     e.topic or (e.transcript or ""))
            print("  ".join(_fit(cell, width) for cell, (_, width) in zip(cells, LIST_COLUMNS)).rstrip())
        print(f"{len(entries)} recording(s).")
    return status


def _write_out(store: Any, entry: "ArchiveEntry", path: Path, start_seconds: float) -> None:
    """The recording as WAV or FLAC at its own rate, channels and bit depth (from `start_seconds`)."""
    import soundfile as sf

    from reader.fileio import write_atomic

    suffix = path.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise ArchiveError("Give --out a file name ending in .wav or .flac.")
    if path.is_dir():
        raise ArchiveError(f"{path} is a folder; give a file name ending in .wav or .flac.")
    if suffix == ".flac" and start_seconds == 0:
        data = store.flac(entry)  # the archived FLAC byte for byte: its sha256 is flac_sha256
    else:
        dtype = "int16" if entry.bits_per_sample == 16 else "int32"
        samples = store.read_samples(entry, dtype=dtype)[round(start_seconds * entry.sample_rate):]
        buffer = io.BytesIO()
        sf.write(buffer, samples, entry.sample_rate, subtype=f"PCM_{entry.bits_per_sample}",
                 format="WAV" if suffix == ".wav" else "FLAC")
        data = buffer.getvalue()
    try:
        write_atomic(path, data, mode=OUT_MODE)
    except OSError as exc:
        raise ArchiveError(f"{path} cannot be written ({exc.strerror or exc}).") from None


def _play(args: argparse.Namespace, settings: Settings) -> int:
    from reader.archive.playback import ArchivePlayback
    from reader.archive.store import ArchiveStore

    with _open_vault(args, settings) as vault:
        store = ArchiveStore(vault)
        entry = store.entry(args.id)
        duration = entry.frames / entry.sample_rate
        if not 0 <= args.start < duration:
            raise ArchiveError(f"Recording {entry.id} is {format_duration(duration)} long; give --start "
                               f"between 0 and {duration:.1f} seconds.")
        if args.out:
            _write_out(store, entry, Path(args.out), args.start)
            print(f"Wrote recording {entry.id} to {args.out}; that file is not encrypted.")
            return 0
        with ArchivePlayback(store) as playback:
            playback.play(entry.id, start_seconds=args.start)  # streamed from the vault: it stays unlocked
            print(f"Playing {entry.id} ({safe_text(entry.dialect_label)}, {format_duration(duration)}); Ctrl-C stops.")
            try:
                playback.wait()
            except KeyboardInterrupt:
                at = playback.position_seconds()
                playback.stop()
                print(f"\nStopped at {format_duration(at)}.")
                return INTERRUPTED
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from reader.archive.export import export_bundle, export_plaintext
    from reader.archive.store import ArchiveStore
    from reader.vault.commands import read_passphrase

    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise ArchiveError(f"{folder} is a file; give a folder to export to.")
    if args.plaintext and not args.yes and not _confirm(CONFIRM_PLAINTEXT.format(dir=folder)):
        print("Nothing was written.")
        return CANCELLED
    with _open_vault(args, settings) as vault:
        store = ArchiveStore(vault)
        listing = store.scan(dialect=args.dialect)
        entries = listing.entries
        status = DAMAGED if listing.damaged else 0
        if listing.damaged:  # an export without them would look complete: say so before writing
            print(f"{safe_text(listing.warning())} The export holds the others.", file=sys.stderr)
        if not entries:
            which = f" of {args.dialect}" if args.dialect else ""
            raise ArchiveError(f"There are no recordings{which} in the archive; nothing was written.")
        if args.plaintext:
            result = export_plaintext(store, folder, entries)
            print(f"Wrote {len(result.recordings)} recording(s) as FLAC to {folder / 'recordings'}, and "
                  f"metadata.json and metadata.csv to {folder}; none of it is encrypted "
                  "(the fields: reader/archive/SCHEMA.md).")
            return status
        passphrase = read_passphrase(args, confirm=True, file_option="export_passphrase_file", env=None,
                                     prompt="Passphrase for the bundle: ")
        bundle = export_bundle(store, folder, passphrase, entries)
    print(f"Wrote an encrypted bundle of {bundle.entries} recording(s) to {bundle.path}.")
    print(f"To open it: `reader vault import {bundle.path}` adds them to a vault (on another computer, "
          "make one first with `reader vault init`); it asks for the bundle's passphrase, and then "
          "`reader archive list` shows them.")
    return status


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from reader.archive.store import ArchiveStore

    with _open_vault(args, settings) as vault:
        entry = ArchiveStore(vault).remove(args.id)
    if entry is None:
        print(f"Removed what an interrupted `archive add` left of {safe_text(args.id.strip())}.")
        return 0
    entry = entry.for_display()
    speaker = f", {entry.speaker}" if entry.speaker else ""
    print(f"Removed {entry.id} ({entry.dialect_label}, {entry.date}{speaker}): its audio and description are "
          "gone from the vault and their key is destroyed. Exports made earlier are not affected.")
    return 0
