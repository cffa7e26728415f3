"""The core as a phone would run it (README, "On a phone"): no X, no Wayland, no D-Bus, no XDG folders, no
desktop clipboard tool, and no desktop-only module importable. The clipboard comes from the user's command
(Termux's `termux-clipboard-get` there), the sentences are found, and a thin front end that knows nothing
of our code, only JSON lines over the service's Unix socket, has a sentence spoken and is told when it
starts and finishes; the sound is heard at the paced device (PulseAudio, as in Termux)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.audio_helpers import shared_paced_device  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent

# Modules that exist only on a desktop (or that would look for one), and the TUI's, which a thin front end
# replaces. Importing any of them fails.
DESKTOP_ONLY = ("tkinter", "_tkinter", "dbus", "jeepney", "gi", "Xlib", "pyperclip", "secretstorage", "keyring",
                "systemd", "textual", "wx", "PyQt5", "PyQt6", "PySide6")
# Run `python -m reader ARGS` with those modules unimportable.
GUARDED = (
    "import sys, runpy\n"
    f"BANNED = {DESKTOP_ONLY!r}\n"
    "class Desktop:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in BANNED:\n"
    "            raise ImportError(f'{name} is a desktop-only module: the core must not need it')\n"
    "        return None\n"
    "sys.meta_path.insert(0, Desktop())\n"
    "sys.argv = ['reader', *sys.argv[1:]]\n"
    "runpy.run_module('reader', run_name='__main__', alter_sys=True)\n"
)
DESKTOP_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS",
                     "XDG_RUNTIME_DIR", "XDG_SESSION_TYPE", "XDG_CURRENT_DESKTOP", "XDG_DATA_DIRS",
                     "XDG_CONFIG_DIRS", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME",
                     "DESKTOP_SESSION", "READER_SERVICE")


def _phone_env(home: Path, device_env: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, **(device_env or {})}
    for key in DESKTOP_VARIABLES:  # the paced device's env sets XDG_RUNTIME_DIR too
        env.pop(key, None)
    # Termux's PATH has no xclip, xsel or wl-paste: only the interpreter's folder and the basic tools.
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    env.update({"READER_HOME": str(home), "PYTHONIOENCODING": "utf-8", **extra})
    return env


def _reader(args: list[str], env: dict[str, str], **kwargs):
    return subprocess.run([sys.executable, "-c", GUARDED, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, **kwargs)


def test_the_clipboard_comes_from_the_users_command_and_no_desktop_module_is_needed(tmp_path):
    letter = "Dear Ann, the garden is green. 花园是绿色的。 See you on 3 May."
    (tmp_path / "clip.txt").write_text(letter, encoding="utf-8")
    env = _phone_env(tmp_path / "home", READER_CLIPBOARD_COMMAND=f"cat {tmp_path / 'clip.txt'}")
    result = _reader(["sentences", "--clip"], env, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 3, result.stdout
    assert "花园是绿色的。" in lines[1]


def test_an_empty_clipboard_on_a_phone_is_one_sentence(tmp_path):
    env = _phone_env(tmp_path / "home", READER_CLIPBOARD_COMMAND="true")
    result = _reader(["sentences", "--clip"], env, timeout=120)
    assert result.returncode != 0
    assert "clipboard" in result.stderr.lower() and "Traceback" not in result.stderr, result.stderr


def _send(sock: socket.socket, message: dict) -> None:
    sock.sendall((json.dumps(message) + "\n").encode("utf-8"))


def _events(sock: socket.socket, until: str, timeout: float = 120) -> list[dict]:
    """Event lines from the service until one of kind `until` (a thin front end's whole reading loop)."""
    sock.settimeout(timeout)
    buffer, seen = b"", []
    while True:
        chunk = sock.recv(65536)
        assert chunk, f"the service closed the connection after {seen}"
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            event = json.loads(line)
            seen.append(event)
            assert event.get("event") != "error", event
            if event.get("event") == until:
                return seen


def test_a_thin_front_end_drives_the_service_over_its_socket(shared_paced_device):
    home = Path(tempfile.mkdtemp(prefix="rp", dir="/tmp"))  # short: a socket path must stay under 108 bytes
    env = _phone_env(home, shared_paced_device.env)
    proc = subprocess.Popen([sys.executable, "-c", GUARDED, "serve", "--idle", "120"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    path = home / "speech.sock"
    try:
        deadline = time.monotonic() + 90
        while not path.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the service did not listen within 90 s"
            time.sleep(0.1)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))
        _send(sock, {"op": "voices"})
        voices = _events(sock, "voices")[-1]["voices"]
        assert {voice["language"].split("-")[0] for voice in voices} >= {"en", "zh"}
        mark = shared_paced_device.mark()
        _send(sock, {"op": "speak", "id": "phone-1", "text": "Your letter is read on the phone."})
        kinds = [event["event"] for event in _events(sock, "finished")]
        assert kinds.index("started") < kinds.index("finished"), kinds
        time.sleep(0.5)  # the last frames reach the recording
        heard = shared_paced_device.recording_since(mark)
        assert float((np.abs(heard) > 0.02).sum()) / 44100 > 0.5, "nothing was heard at the device"
        _send(sock, {"op": "quit"})
        sock.close()
        assert proc.wait(timeout=30) == 0
        assert not path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
