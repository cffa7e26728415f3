"""ALSA's own error printing, turned off for the terminal app: libasound writes lines such as
"ALSA lib pcm.c: underrun occurred" straight to file descriptor 2, over the app's screen, where a
screen reader would read them as part of the document. The player reports real failures itself."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# snd_lib_error_handler_t: (file, line, function, err, fmt, ...); the variadic rest is ignored.
_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
_kept: list = []  # the C callback must outlive every call libasound makes to it


def _ignore(file, line, function, err, fmt) -> None:  # pragma: no cover - called from C
    return None


def silence_alsa_messages() -> bool:
    """Install a handler that drops libasound's messages; False where libasound is not found."""
    if _kept:
        return True
    name = ctypes.util.find_library("asound") or "libasound.so.2"
    try:
        lib = ctypes.cdll.LoadLibrary(name)
        handler = _HANDLER(_ignore)
        lib.snd_lib_error_set_handler(handler)
    except (OSError, AttributeError) as exc:
        log.debug("ALSA's messages stay on: %s", exc)
        return False
    _kept.append((lib, handler))
    return True
