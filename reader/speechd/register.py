"""`reader-speechd --register`: make speech-dispatcher find the module for this user.

speech-dispatcher loads every `sd_NAME` program in ~/.local/libexec/speech-dispatcher-modules as the
module NAME when its configuration lists no modules itself (Debian's default); a link there is all it
takes. When the user's own speechd.conf does list modules (AddModule lines), ours is added to it too.
Run `systemctl --user restart speech-dispatcher` (or log in again) for a running one to see it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

MODULE_NAME = "reader"
MODULE_DIR = Path.home() / ".local" / "libexec" / "speech-dispatcher-modules"
CONFIG = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "speech-dispatcher" / "speechd.conf"
ADD_LINE = 'AddModule "{name}" "{binary}" ""'


def module_program() -> Path:
    found = shutil.which("reader-speechd")
    if found:
        return Path(found).resolve()
    return (Path(sys.executable).parent / "reader-speechd").resolve()


def register() -> int:
    program = module_program()
    if not program.exists():
        print(f"reader-speechd: {program} is missing; run `make setup` (it installs the module program).",
              file=sys.stderr)
        return 1
    MODULE_DIR.mkdir(parents=True, exist_ok=True)
    link = MODULE_DIR / f"sd_{MODULE_NAME}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(program)
    said = [f"Linked {link} -> {program}."]
    if CONFIG.exists():
        text = CONFIG.read_text(encoding="utf-8")
        lists_modules = any(line.strip().startswith("AddModule") for line in text.splitlines())
        if lists_modules and f'AddModule "{MODULE_NAME}"' not in text:
            CONFIG.write_text(text.rstrip("\n") + "\n" + ADD_LINE.format(name=MODULE_NAME, binary=program) + "\n",
                              encoding="utf-8")
            said.append(f"Added the module to {CONFIG}.")
    said.append("Restart speech-dispatcher (`systemctl --user restart speech-dispatcher`, or log in again); then "
                "`spd-say -o reader \"Hello\"` speaks with the reader's voice and `spd-say -o reader -L` lists them.")
    print("\n".join(said))
    return 0


def unregister() -> int:
    link = MODULE_DIR / f"sd_{MODULE_NAME}"
    if link.is_symlink() or link.exists():
        link.unlink()
    if CONFIG.exists():
        lines = CONFIG.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if not line.strip().startswith(f'AddModule "{MODULE_NAME}"')]
        if kept != lines:
            CONFIG.write_text("\n".join(kept) + "\n", encoding="utf-8")
    print("The reader's speech-dispatcher module is no longer registered.")
    return 0
