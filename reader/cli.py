"""The `reader` command line: argparse entry points over the core; every failure is one sentence."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from reader import __version__, offline
from reader.errors import InputError, ReaderError
from reader.settings import DEFAULT_MAX_TOKENS, PUNCTUATION_LEVELS, Settings

log = logging.getLogger(__name__)

COMMANDS = ("open", "clip", "extract", "sentences", "dict", "bench", "say", "serve", "packs", "vault", "archive",
            "voices")


def _positive_tokens(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 8 <= n <= 1000:
        raise argparse.ArgumentTypeError("choose a maximum between 8 and 1000 tokens")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reader",
        description="An offline reading aid: reads documents aloud, keyboard only, never on the network.",
        epilog="`reader FILE` opens FILE in the reader; `reader` alone opens the last document.",
    )
    parser.add_argument("--version", action="version", version=f"reader {__version__}")
    parser.add_argument("--debug", action="store_true", help="log details to standard error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("open", help="open a document in the reader (the default command)")
    p.add_argument("file", nargs="?", help="a PDF, EPUB, HTML, Markdown, DOCX or text file; - for stdin")
    p.add_argument("--password", help="password of an encrypted PDF")

    p = sub.add_parser("clip", help="read the clipboard")
    p.add_argument("--print", action="store_true", help="print its sentences instead of opening the reader")

    p = sub.add_parser("extract", help="print a document's text blocks")
    p.add_argument("file", help="the document; - reads standard input")
    p.add_argument("--json", action="store_true", help="print the blocks as JSON")
    p.add_argument("--password", help="password of an encrypted PDF")

    p = sub.add_parser("sentences", help="print a document's sentences, one a line")
    p.add_argument("file", nargs="?", help="the document; - reads standard input")
    p.add_argument("--clip", action="store_true", help="take the text from the clipboard")
    p.add_argument("--spoken", action="store_true", help="print the normalized spoken form")
    p.add_argument("--json", action="store_true", help="print a JSON array of strings")
    p.add_argument("--max-tokens", type=_positive_tokens, default=None,
                   help=f"cut longer sentences at clause boundaries (default {DEFAULT_MAX_TOKENS})")
    p.add_argument("--punctuation", choices=PUNCTUATION_LEVELS, default=None,
                   help="how much punctuation is spoken with --spoken (default: the setting, some)")
    p.add_argument("--lang", choices=("auto", "en", "zh"), default="auto", help="language of numbers")
    p.add_argument("--password", help="password of an encrypted PDF")

    p = sub.add_parser("dict", help="the pronunciation dictionary")
    dsub = p.add_subparsers(dest="dict_command", metavar="ACTION", required=True)
    dsub.add_parser("list", help="list the entries")
    d = dsub.add_parser("add", help="add or replace an entry")
    d.add_argument("pattern", help="a word, or a regular expression with --regex")
    d.add_argument("replacement", help="what to say instead")
    d.add_argument("--regex", action="store_true", help="PATTERN is a regular expression")
    d.add_argument("--case-sensitive", action="store_true", help="match the case exactly")
    d = dsub.add_parser("remove", help="remove an entry")
    d.add_argument("pattern")

    p = sub.add_parser("bench", help="measure speed and memory")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("--pack", help="measure only this voice pack (or text, player, vault)")

    from reader.speech.commands import register as speech_commands
    from reader.archive.commands import register as archive_commands
    from reader.vault.commands import register as vault_commands
    from reader.voices.commands import register as voices_commands
    from reader.service.commands import register as service_commands

    HANDLERS.update(speech_commands(sub))
    HANDLERS.update(vault_commands(sub))
    HANDLERS.update(archive_commands(sub))
    HANDLERS.update(voices_commands(sub))
    HANDLERS.update(service_commands(sub))
    return parser


def _normalize_argv(argv: list[str]) -> list[str]:
    """`reader FILE` means `reader open FILE`: the first word that is not an option or a command."""
    for i, arg in enumerate(argv):
        if arg in ("-h", "--help", "--version"):
            return argv
        if arg.startswith("-") and arg != "-":
            continue
        if arg not in COMMANDS:
            return argv[:i] + ["open"] + argv[i:]
        return argv
    return argv + ["open"]


def _load(file: str | None, *, password: str | None = None, clip: bool = False):
    from reader.text import extract

    if clip:
        text = extract.read_clipboard()
        return extract.document_from_text(text, source="clipboard", title="Clipboard")
    if file is None:
        raise InputError("Name a file to read, or - to read standard input.")
    if file == "-":
        return extract.load_stdin()
    return extract.load_document(file, password=password)


def _print_lines(lines: Sequence[str], as_json: bool) -> None:
    if as_json:
        print(json.dumps(list(lines), ensure_ascii=False))
    else:
        for line in lines:
            # A sentence may span a hard line break of the original; one sentence stays one line.
            print(" ".join(line.split()))


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    doc = _load(args.file, password=args.password)
    if args.json:
        print(json.dumps(doc.to_json(), ensure_ascii=False, indent=2))
    else:
        for block in doc.blocks:
            where = f"p{block.page}" if block.page else (block.chapter or "")
            print(f"[{block.kind.value}{' ' + where if where else ''}] {block.text}")
    return 0


def cmd_sentences(args: argparse.Namespace, settings: Settings) -> int:
    from reader.text.sentences import document_sentences

    doc = _load(args.file, password=args.password, clip=args.clip)
    sentences = document_sentences(doc, max_tokens=args.max_tokens or settings.max_tokens)
    if not args.spoken:
        _print_lines([s.text for s in sentences], args.json)
        return 0
    from reader.text.dictionary import PronunciationDictionary
    from reader.text.normalize import normalize

    dictionary = PronunciationDictionary.load(settings.dictionary_file)
    punctuation = args.punctuation or settings.punctuation
    spoken = [
        normalize(s.text, lang=args.lang if args.lang != "auto" else "auto", punctuation=punctuation,
                  dictionary=dictionary).text
        for s in sentences
    ]
    _print_lines(spoken, args.json)
    return 0


def cmd_clip(args: argparse.Namespace, settings: Settings) -> int:
    if args.print:
        args.file, args.clip, args.spoken, args.json, args.max_tokens = None, True, False, False, None
        args.password, args.punctuation, args.lang = None, None, "auto"
        return cmd_sentences(args, settings)
    doc = _load(None, clip=True)
    return _run_app(settings, document=doc)


def cmd_open(args: argparse.Namespace, settings: Settings) -> int:
    if args.file == "-":
        # Standard input is the document, so the keys must come from the terminal itself.
        doc = _load("-")
        return _run_app(settings, document=doc, reopen_tty=True)
    if args.file is not None:
        path = Path(args.file).expanduser()
        if not path.exists():
            raise InputError(f"There is no file {args.file}; check the spelling of the path.")
        if path.is_dir():
            raise InputError(f"{args.file} is a folder; name a document inside it.")
        # The document is extracted inside the app, in a worker with a progress bar.
        return _run_app(settings, source=str(path.resolve()), password=args.password)
    return _run_app(settings)


def _run_app(settings: Settings, *, document=None, source: str | None = None, password: str | None = None,
             reopen_tty: bool = False) -> int:
    if reopen_tty:
        # The document came on standard input; the keys come from the terminal. Textual reads file
        # descriptor 0 itself, so the terminal must take its place there, not only in sys.stdin.
        import os

        try:
            tty = os.open("/dev/tty", os.O_RDWR)
        except OSError:
            raise ReaderError("The reader needs a terminal for its keys; to hear piped text without one, use "
                              "`reader say -f -`.") from None
        os.dup2(tty, 0)
        os.close(tty)
        sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise ReaderError(
            "The reader needs a terminal; run it in one, or use `reader say -f FILE` to hear a file "
            "or `reader sentences FILE` to print its text."
        )
    from reader.audio.alsa import silence_alsa_messages
    from reader.tui.app import make_app

    silence_alsa_messages()  # libasound would print over the app's screen
    app = make_app(settings, document=document, source=source, password=password)
    app.run()
    return app.return_code or 0


def cmd_dict(args: argparse.Namespace, settings: Settings) -> int:
    from reader.text.dictionary import Entry, PronunciationDictionary

    path = settings.dictionary_file
    dictionary = PronunciationDictionary.load(path)
    if args.dict_command == "list":
        entries = dictionary.entries()
        if not entries:
            print("The pronunciation dictionary is empty; add a word with `reader dict add WORD SAYING`.")
        for e in entries:
            kind = "regex" if e.regex else "word"
            print(f"{e.pattern}\t{e.replacement}\t{kind}{' case-sensitive' if e.case_sensitive else ''}")
        return 0
    if args.dict_command == "add":
        dictionary.add(Entry(args.pattern, args.replacement, regex=args.regex, case_sensitive=args.case_sensitive))
        dictionary.save(path)
        print(f"Saved: {args.pattern} -> {args.replacement}")
        return 0
    if not dictionary.remove(args.pattern):
        raise InputError(f"{args.pattern!r} is not in the pronunciation dictionary; `reader dict list` shows it.")
    dictionary.save(path)
    print(f"Removed: {args.pattern}")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        from bench.rows import print_rows
        from bench.run import run_all
    except ImportError:
        raise ReaderError("The benchmark lives in the source checkout's bench/ folder; run it from there.") from None
    print_rows(run_all(pack=args.pack), args.json)
    return 0


HANDLERS = {
    "open": cmd_open,
    "clip": cmd_clip,
    "extract": cmd_extract,
    "sentences": cmd_sentences,
    "dict": cmd_dict,
    "bench": cmd_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    # First of all, before onnxruntime or anything else that may start threads of its own is imported:
    # the kernel filter then covers every thread and child of this process.
    offline.install()
    raw = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(_normalize_argv(raw))
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s: %(message)s")
        log.debug(offline.status())
    try:
        settings = Settings.load()
        return HANDLERS[args.command](args, settings)
    except ReaderError as exc:
        print(f"reader: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `reader sentences big.pdf | head`: the reader went away; that is not an error.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
