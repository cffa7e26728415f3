"""Read the clipboard as text: the user's READER_CLIPBOARD_COMMAND if set, else pyperclip, then the
Linux command-line tools directly."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

from reader.errors import ClipboardError

log = logging.getLogger(__name__)

# Overrides everything else: a shell command that prints the clipboard (for unusual systems, and tests).
COMMAND_VARIABLE = "READER_CLIPBOARD_COMMAND"
TOOL_TIMEOUT_SECONDS = 3  # a clipboard owner that never answers must not hang the app
# In order of preference; wl-paste only makes sense inside a Wayland session.
LINUX_TOOLS = (
    ("wl-paste", ("wl-paste", "--no-newline")),
    ("xclip", ("xclip", "-selection", "clipboard", "-o")),
    ("xsel", ("xsel", "-b", "-o")),
)
# Messages of a tool that exists but cannot reach a display (that is "no mechanism", not "empty").
_NO_DISPLAY_HINTS = ("display", "connect", "wayland", "x server")

NO_MECHANISM = (
    "No clipboard tool was found; install xclip or wl-clipboard (apt-get install xclip), "
    "or pipe the text in with `reader sentences -`."
)
EMPTY = "The clipboard is empty; copy some text first."
NETWORK_DISPLAY = (
    "The clipboard is on the X display {display}, reached over the network, and this reader never uses the "
    "network; pipe the text in instead (`xclip -selection clipboard -o | reader -`), or set "
    "READER_CLIPBOARD_COMMAND to a command that prints it."
)


def _with_pyperclip() -> str | None:
    """The clipboard text, or None when pyperclip is missing or finds no mechanism."""
    try:
        import pyperclip
    except ImportError:
        return None
    try:
        text = pyperclip.paste()
    except Exception:  # PyperclipException and whatever its back ends raise
        log.debug("pyperclip could not read the clipboard", exc_info=True)
        return None
    return text if isinstance(text, str) else None


def _with_tools() -> str | None:
    """The clipboard text from the first working Linux tool, "" if one works but the clipboard is
    empty, None if none works."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    found_empty = False
    for name, command in LINUX_TOOLS:
        if name == "wl-paste" and not os.environ.get("WAYLAND_DISPLAY"):
            continue
        if shutil.which(name) is None:
            continue
        try:
            result = subprocess.run(command, capture_output=True, timeout=TOOL_TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired):
            log.debug("%s failed", name, exc_info=True)
            continue
        text = result.stdout.decode("utf-8", errors="replace")
        if result.returncode == 0 and text.strip():
            return text
        error = result.stderr.decode("utf-8", errors="replace").lower()
        if result.returncode == 0 or not any(hint in error for hint in _NO_DISPLAY_HINTS):
            found_empty = True  # the tool works; there is just nothing (or no text) on the clipboard
    return "" if found_empty else None


def _with_command(command: str) -> str:
    """The output of the user's own clipboard command (READER_CLIPBOARD_COMMAND), run by the shell."""
    try:
        result = subprocess.run(command, shell=True, capture_output=True, timeout=TOOL_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClipboardError(f"The clipboard command in {COMMAND_VARIABLE} could not run ({exc}); check it.") from exc
    if result.returncode != 0:
        raise ClipboardError(
            f"The clipboard command in {COMMAND_VARIABLE} failed (exit status {result.returncode}); check it."
        )
    return result.stdout.decode("utf-8", errors="replace")


def read_clipboard() -> str:
    """The text on the clipboard; ClipboardError when it is empty or cannot be read at all."""
    command = os.environ.get(COMMAND_VARIABLE, "").strip()
    if command:
        text: str | None = _with_command(command)
        if not text.strip():
            raise ClipboardError(EMPTY)
        return text
    text = _with_pyperclip()
    if not text or not text.strip():
        # pyperclip may pick an X11 tool under Wayland and see nothing; ask the tools directly.
        fallback = _with_tools()
        if fallback is not None and (text is None or fallback.strip()):
            text = fallback
    if (text is None or not text.strip()) and _network_display():
        raise ClipboardError(NETWORK_DISPLAY.format(display=os.environ.get("DISPLAY", "")))
    if text is None:
        raise ClipboardError(NO_MECHANISM)
    if not text.strip():
        raise ClipboardError(EMPTY)
    return text


def _network_display() -> bool:
    """DISPLAY names an X server reached over TCP ("localhost:10.0" under ssh -X), which the network
    guard does not let this process, or the clipboard tools it starts, connect to."""
    if os.environ.get("WAYLAND_DISPLAY"):
        return False
    host = os.environ.get("DISPLAY", "").rpartition(":")[0]
    return bool(host) and host != "unix" and not host.startswith("/")
