"""The `vault` subcommand (init, passwd, rekey, lock, check, export, import) and passphrase input. Each command
unlocks the vault for its own run only; with no agent and no cached key, `vault lock` has nothing to remove."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import stat
from pathlib import Path
from typing import Any, Callable

from reader.settings import Settings
from reader.terminal import safe_text
from reader.vault.errors import PassphraseError

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]

PASSPHRASE_ENV = "READER_PASSPHRASE_FILE"
VAULT_FOLDER = "vault"
# A passphrase file is one line; anything much longer was named by mistake (and is not read whole).
MAX_PASSPHRASE_FILE_BYTES = 64 * 1024

EMPTY = "The passphrase is empty; an empty passphrase would leave the vault open to anyone."
LOCK_MESSAGE = ("Nothing is left unlocked: each `reader vault` command unlocks the vault for its own run and "
                "wipes the keys when it ends, and no agent or cached key is kept; a running reader app locks "
                "its vault itself after the idle time or when you lock it there.")


def vault_folder(settings: Settings) -> Path:
    return settings.home / VAULT_FOLDER


def _read_passphrase_file(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            data = handle.read(MAX_PASSPHRASE_FILE_BYTES)
    except OSError as exc:
        raise PassphraseError(f"The passphrase file {path} cannot be read ({exc.strerror}).") from None
    if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the passphrase file %s can be read by other users; chmod 600 it", path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PassphraseError(f"The passphrase file {path} is not UTF-8 text.") from None
    line = text.split("\n", 1)[0]
    return line[:-1] if line.endswith("\r") else line


def read_passphrase(args: argparse.Namespace, *, confirm: bool = False, file_option: str = "passphrase_file",
                    env: str | None = PASSPHRASE_ENV, prompt: str = "Vault passphrase: ") -> str:
    """The passphrase from `--passphrase-file` (or $READER_PASSPHRASE_FILE), else typed at a prompt.

    A file gives its first line without the line ending. At a prompt, `confirm` asks twice (for a new
    passphrase). An empty passphrase is refused.
    """
    path = getattr(args, file_option, None) or (os.environ.get(env) if env else None)
    if path:
        passphrase = _read_passphrase_file(path)
    else:
        try:
            passphrase = getpass.getpass(prompt)
            if confirm and passphrase:
                again = getpass.getpass("Repeat it: ")
                if again != passphrase:
                    raise PassphraseError("The two passphrases differ; nothing was changed.")
        except EOFError:
            raise PassphraseError("No passphrase was typed; type one at the prompt or give --passphrase-file.") from None
    if not passphrase:
        raise PassphraseError(EMPTY)
    return passphrase


def add_passphrase_option(parser: argparse.ArgumentParser) -> None:
    """The --passphrase-file option every command that unlocks the vault takes (vault, voices, archive)."""
    parser.add_argument("--passphrase-file", metavar="PATH",
                        help=f"read the vault passphrase from the first line of PATH (or ${PASSPHRASE_ENV}); "
                             "otherwise you are asked for it")


def register(subparsers: Any) -> dict[str, Handler]:
    """Add `vault` to the CLI's subparsers; returns {command: handler}."""
    p = subparsers.add_parser(
        "vault", help="the encrypted voice vault: create it, change its passphrase, check it, back it up",
        description="The voice vault keeps recordings, speaker embeddings, voice presets and consent records "
                    "encrypted under your passphrase. Each command unlocks it for its own run only.")
    sub = p.add_subparsers(dest="vault_command", metavar="ACTION", required=True)
    c = sub.add_parser("init", help="create an empty vault (asks for a new passphrase twice)")
    add_passphrase_option(c)
    c = sub.add_parser(
        "passwd", help="change the passphrase (the data key stays: an old copy of `header` still opens the "
                       "vault with the old passphrase; --rekey changes the key too)",
        description="Change the passphrase: the data key is wrapped again under the new one, and no record is "
                    "rewritten, so a copy of the old `header` file, with the old passphrase, still opens every "
                    "record, written before or after. With --rekey the data key and every group and record key "
                    "are new and every record is re-encrypted (as `reader vault rekey` does).")
    add_passphrase_option(c)
    c.add_argument("--new-passphrase-file", metavar="PATH", help="read the new passphrase from PATH's first line")
    c.add_argument("--rekey", action="store_true",
                   help="also make a new data key and re-encrypt every record with it (takes longer)")
    c = sub.add_parser(
        "rekey", help="make a new data key and re-encrypt every record with it (the passphrase stays)",
        description="Make a new data key and new group and record keys, and re-encrypt every record with them, "
                    "keeping the passphrase. Afterwards a copy of the old `header` file (and an old passphrase) "
                    "opens nothing written since, nor the re-encrypted records; `reader vault passwd` alone "
                    "changes only the passphrase, not the key. A crash leaves the old vault or the new one.")
    add_passphrase_option(c)
    c = sub.add_parser("lock", help="confirm that nothing stays unlocked")
    add_passphrase_option(c)  # accepted so scripts can pass it to every vault command; lock needs none
    c = sub.add_parser("check", help="read every record and report damaged ones and leftover files")
    add_passphrase_option(c)
    c.add_argument("--repair", action="store_true",
                   help="remove leftovers of interrupted writes (damaged records are only reported)")
    c = sub.add_parser("export", help="write an encrypted backup of every record to FILE")
    c.add_argument("file", metavar="FILE")
    add_passphrase_option(c)
    c.add_argument("--export-passphrase-file", metavar="PATH",
                   help="read the backup's passphrase from PATH's first line (otherwise asked for, twice)")
    c = sub.add_parser("import", help="merge a backup FILE into the vault (asks before replacing a record of yours)")
    c.add_argument("file", metavar="FILE")
    choice = c.add_mutually_exclusive_group()
    choice.add_argument("--replace", action="store_true",
                        help="where a record differs, take the backup's copy (each is listed)")
    choice.add_argument("--keep", action="store_true", help="where a record differs, keep yours (the default "
                                                            "when nobody is at the terminal to ask)")
    add_passphrase_option(c)
    c.add_argument("--export-passphrase-file", metavar="PATH",
                   help="read the passphrase the backup was made with from PATH's first line")
    return {"vault": cmd_vault}


def cmd_vault(args: argparse.Namespace, settings: Settings) -> int:
    handlers = {"init": _init, "passwd": _passwd, "rekey": _rekey, "lock": _lock, "check": _check,
                "export": _export, "import": _import}
    return handlers[args.vault_command](args, settings)


def _open(args: argparse.Namespace, settings: Settings) -> tuple[Any, str]:
    from reader.vault.store import Vault

    folder = vault_folder(settings)
    if not Vault.exists(folder):
        raise Vault.missing(folder)
    passphrase = read_passphrase(args)
    return Vault.open(folder, passphrase), passphrase


def _init(args: argparse.Namespace, settings: Settings) -> int:
    from reader.vault.errors import VaultExists
    from reader.vault.store import Vault

    folder = vault_folder(settings)
    if Vault.exists(folder):
        raise VaultExists(f"There is already a vault in {folder}; `reader vault passwd` changes its passphrase.")
    with Vault.create(folder, read_passphrase(args, confirm=True, prompt="New vault passphrase: ")):
        pass
    print(f"Created an empty encrypted vault in {folder}. Keep the passphrase safe: without it nothing in "
          "the vault can be recovered.")
    return 0


def _passwd(args: argparse.Namespace, settings: Settings) -> int:
    vault, old = _open(args, settings)
    with vault:
        new = read_passphrase(args, confirm=True, file_option="new_passphrase_file", env=None,
                              prompt="New vault passphrase: ")
        if args.rekey:
            count = vault.rekey(old, new_passphrase=new, progress=_print_progress)
        else:
            vault.change_passphrase(old, new)
    if args.rekey:
        print(f"Changed the vault passphrase and its data key and re-encrypted {count} records; neither the old "
              "passphrase nor a copy of the old `header` opens anything in the vault now (a copy of the whole old "
              "folder still opens what it held then).")
    else:
        print("Changed the vault passphrase; the old one no longer opens this vault. The data key stayed the "
              "same (no record was re-encrypted), so a copy of the old `header` made before still opens the "
              "records with the old passphrase: delete such copies, or run `reader vault rekey`.")
    return 0


def _print_progress(done: int, total: int) -> None:
    if done < total:
        print(f"Re-encrypting {done + 1} of {total} records", flush=True)


def _rekey(args: argparse.Namespace, settings: Settings) -> int:
    vault, passphrase = _open(args, settings)
    with vault:
        count = vault.rekey(passphrase, progress=_print_progress)
    print(f"Made a new data key and re-encrypted {count} records with it (the passphrase is the same); a copy of "
          "the old `header` opens nothing in the vault now, but a copy of the whole old folder still opens what "
          "it held then.")
    return 0


def _lock(args: argparse.Namespace, settings: Settings) -> int:
    print(LOCK_MESSAGE)
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    vault, _ = _open(args, settings)
    with vault:
        problems = vault.check(repair=args.repair)
        count = len(vault.list())
    damage = [p for p in problems if p.is_damage]
    for problem in problems:
        print(problem.message)
    if damage:
        print(f"{len(damage)} of {count} records cannot be read; the others are fine.")
        return 1
    leftovers = [p for p in problems if not p.is_damage and not p.repaired]
    hint = " (`reader vault check --repair` removes the leftovers)" if leftovers else ""
    print(f"All {count} records are readable{hint}.")
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    vault, _ = _open(args, settings)
    with vault:
        backup_passphrase = read_passphrase(args, confirm=True, file_option="export_passphrase_file", env=None,
                                            prompt="Passphrase for the backup: ")
        report = vault.export(args.file, backup_passphrase)
    for problem in report.damaged:
        print(f"Left out: {problem.message}")
    print(f"Wrote an encrypted backup of {len(report.records)} records to {report.path}.")
    return 1 if report.damaged else 0


def check_backup_group(group: str | None, items: list) -> str | None:
    """What is wrong with a group of records from a backup, by what the group is (a voice, an archive
    entry); None when it may be imported. The checks live with the formats they check."""
    if group is not None and group.startswith("voice:"):
        from reader.voices.checks import group_problem

        return group_problem(group, items)
    if group is not None and group.startswith("archive:"):
        from reader.archive.records import group_problem

        return group_problem(group, items)
    return None


def _when(seconds: float) -> str:
    import datetime as dt
    import time

    text = dt.datetime.fromtimestamp(min(seconds, 253402214400)).strftime("%Y-%m-%d %H:%M")
    return text + (" (in the future: that clock is wrong)" if seconds > time.time() + 300 else "")


def describe_difference(diff: Any) -> str:
    from reader.vault.store import describe

    ours, theirs = diff.ours, diff.theirs
    where = f" of {safe_text(ours.group)}" if ours.group else ""
    return (f"{safe_text(describe(theirs))}{where}: yours {ours.size:,} bytes, changed {_when(ours.updated)}; "
            f"the backup's {theirs.size:,} bytes, dated {_when(theirs.updated)}")


def _import(args: argparse.Namespace, settings: Settings) -> int:
    import sys

    from reader.vault.store import describe

    def decide(differences: list) -> list[str]:
        print(f"{len(differences)} record(s) differ between the vault and the backup:")
        for diff in differences:
            print(f"  {describe_difference(diff)}")
        if args.replace:
            take = True
        elif args.keep:
            take = False
        elif sys.stdin.isatty():
            answer = input("Replace yours with the backup's copies of these? (yes/no) ")
            take = answer.strip().lower() in ("y", "yes")
        else:
            take = False
            print("Kept yours (no --replace or --keep was given); `reader vault import FILE --replace` "
                  "takes the backup's copies.")
        return [d.theirs.id for d in differences] if take else []

    vault, _ = _open(args, settings)
    with vault:
        backup_passphrase = read_passphrase(args, file_option="export_passphrase_file", env=None,
                                            prompt="Passphrase of the backup: ")
        report = vault.import_(args.file, backup_passphrase, decide=decide, check=check_backup_group)
    for info, reason in report.refused:
        where = f" of {safe_text(info.group)}" if info.group else ""
        print(f"Refused: {safe_text(describe(info))}{where} from the backup: {reason}.")
    for info in report.replaced:
        print(f"Replaced: {safe_text(describe(info))} with the backup's copy.")
    print(f"Imported {len(report.added)} new and {len(report.replaced)} replaced records; kept {len(report.kept)} "
          f"of yours that differ; {len(report.skipped)} were already there; refused {len(report.refused)}.")
    return 1 if report.refused else 0
