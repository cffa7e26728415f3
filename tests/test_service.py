"""The resident speech service (`reader serve`), for real: a service process on the paced audio device,
spoken to over its Unix socket; what it says is heard at the device, stop silences it, bad requests get an
error and the service goes on, and `reader say` speaks through it (starting it when none runs)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reader.service import protocol
from reader.service.client import Connection
from tests.audio_helpers import shared_paced_device  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
RECORDING_RATE = 44100


def _loud_seconds(recording: np.ndarray) -> float:
    """How much of a recording is sound (not silence), in seconds."""
    return float((np.abs(recording) > 0.02).sum()) / RECORDING_RATE
SENTENCES = "The first sentence is here. The second one follows it. And this is the third."


def _env(device, home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, **device.env, "READER_HOME": str(home), "READER_SERVICE": "auto",
            "PYTHONIOENCODING": "utf-8", **extra}


@pytest.fixture
def service(shared_paced_device, tmp_path_factory):
    home = Path(tempfile_home(tmp_path_factory))
    proc = subprocess.Popen([sys.executable, "-m", "reader", "serve", "--idle", "120"], cwd=ROOT,
                            env=_env(shared_paced_device, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while protocol.connect(home) is None:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the service did not listen within 60 s"
        time.sleep(0.1)
    yield home, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=20)


def tempfile_home(factory) -> str:
    # A short path: the socket's path must stay under 108 bytes.
    import tempfile

    return tempfile.mkdtemp(prefix="rs", dir="/tmp")


def _events_until(conn: Connection, kinds: set[str], timeout: float = 90) -> list[dict]:
    conn.sock.settimeout(timeout)
    seen = []
    for event in conn.events():
        seen.append(event)
        if event["event"] in kinds:
            return seen
    raise AssertionError(f"the connection closed after {seen}")


def _open(home: Path) -> Connection:
    sock = protocol.connect(home)
    assert sock is not None
    return Connection(sock)


def test_the_socket_is_the_users_only(service):
    home, _ = service
    mode = (home / protocol.SOCKET_NAME).stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_speech_is_heard_with_sentence_and_index_marks(service, shared_paced_device):
    home, _ = service
    conn = _open(home)
    mark = shared_paced_device.mark()
    sent = time.perf_counter()
    conn.send({"op": "speak", "id": "u1", "parts": [{"text": "Hello there.", "mark": "m0"},
                                                     {"text": "Good morning to you.", "mark": "m1"},
                                                     {"text": "", "mark": "end"}]})
    events = _events_until(conn, {"started", "error"})
    heard_after_ms = (time.perf_counter() - sent) * 1000
    events += _events_until(conn, {"finished", "error"})
    conn.close()
    assert [e["event"] for e in events] == ["started", "mark", "sentence", "mark", "sentence", "mark", "finished"]
    assert [e["name"] for e in events if e["event"] == "mark"] == ["m0", "m1", "end"]
    assert all(e["id"] == "u1" for e in events)
    # The service's own first-audio time: after the request, before the first sound reached the client.
    assert 0 < events[0]["first_audio_ms"] < heard_after_ms
    heard = shared_paced_device.recording_since(mark)
    assert _loud_seconds(heard) > 0.5, "the speech was not heard at the device"


def test_stop_silences_at_once_and_a_new_utterance_replaces_the_old(service, shared_paced_device):
    home, _ = service
    conn = _open(home)
    conn.send({"op": "speak", "id": "long", "text": SENTENCES * 4})
    _events_until(conn, {"started"})
    conn.send({"op": "speak", "id": "next", "text": "Replaced."})
    events = _events_until(conn, {"finished"})
    assert {"event": "stopped", "id": "long"} in events
    conn.send({"op": "speak", "id": "again", "text": SENTENCES * 4})
    _events_until(conn, {"started"})
    time.sleep(0.5)
    mark = shared_paced_device.mark()
    conn.send({"op": "stop"})
    _events_until(conn, {"stopped"}, timeout=5)
    time.sleep(1.5)
    after = shared_paced_device.recording_since(mark)
    # Whatever was already on its way to the device (its latency) may still come out; then silence.
    tail = after[int(0.5 * 44100):]
    assert len(tail) == 0 or np.abs(tail).max() < 0.01, "sound went on after stop"
    conn.close()


def test_bad_requests_get_an_error_and_the_service_goes_on(service):
    home, proc = service
    conn = _open(home)
    for bad in (b"not json\n", b"[1, 2]\n", b'{"op": "dance"}\n', b'{"op": "speak"}\n',
                b'{"op": "speak", "text": "x", "rate": -3}\n', b'{"op": "speak", "text": "x", "punctuation": "lots"}\n'):
        conn.sock.sendall(bad)
        event = _events_until(conn, {"error"}, timeout=20)[-1]
        assert event["message"] and event["message"][0].isupper(), event
    conn.send({"op": "ping"})
    assert _events_until(conn, {"pong"})[-1]["pid"] == proc.pid
    conn.send({"op": "voices"})
    voices = _events_until(conn, {"voices"})[-1]["voices"]
    assert {"af_heart", "zf_xiaoxiao"} <= {v["id"] for v in voices}
    conn.close()
    # A line that never ends is cut off, not kept in memory.
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(str(home / protocol.SOCKET_NAME))
    try:
        raw.sendall(b"x" * (protocol.MAX_LINE + 70000))
    except OSError:
        pass
    raw.close()
    assert proc.poll() is None
    assert protocol.connect(home) is not None


def test_a_second_service_is_refused_and_quit_ends_the_first(service, shared_paced_device):
    home, proc = service
    second = subprocess.run([sys.executable, "-m", "reader", "serve"], cwd=ROOT, capture_output=True, text=True,
                            env=_env(shared_paced_device, home), timeout=60)
    assert second.returncode != 0 and "already running" in second.stderr
    stopped = subprocess.run([sys.executable, "-m", "reader", "serve", "--stop"], cwd=ROOT, capture_output=True,
                             text=True, env=_env(shared_paced_device, home), timeout=60)
    assert stopped.returncode == 0
    proc.wait(timeout=30)
    assert not (home / protocol.SOCKET_NAME).exists()


def test_say_starts_the_service_and_speaks_through_it(shared_paced_device, tmp_path_factory):
    home = Path(tempfile_home(tmp_path_factory))
    env = _env(shared_paced_device, home)
    try:
        mark = shared_paced_device.mark()
        first = subprocess.run([sys.executable, "-m", "reader", "say", "Hello from the service."], cwd=ROOT,
                               capture_output=True, text=True, env=env, timeout=120)
        assert first.returncode == 0, first.stderr
        sock = protocol.connect(home)
        assert sock is not None, "no service is running after `reader say`"
        sock.close()
        second = subprocess.run([sys.executable, "-m", "reader", "say", "我的名字是王秀英。"], cwd=ROOT,
                                capture_output=True, text=True, env=env, timeout=120)
        assert second.returncode == 0, second.stderr
        heard = shared_paced_device.recording_since(mark)
        assert _loud_seconds(heard) > 0.5
    finally:
        subprocess.run([sys.executable, "-m", "reader", "serve", "--stop"], cwd=ROOT, env=env, capture_output=True,
                       timeout=60)


def test_the_service_exits_when_idle(shared_paced_device, tmp_path_factory):
    home = Path(tempfile_home(tmp_path_factory))
    proc = subprocess.Popen([sys.executable, "-m", "reader", "serve", "--idle", "2"], cwd=ROOT,
                            env=_env(shared_paced_device, home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.wait(timeout=90) == 0
    assert not (home / protocol.SOCKET_NAME).exists()


@pytest.mark.parametrize("line, why", [
    (b"{", "not a line of JSON"), (b"3", "not a JSON object"), (b'{"op": 1}', "Unknown request"),
    (b'{"op": "speak", "parts": [1]}', "parts must be"), (b'{"op": "speak", "text": "a", "pitch": 99}', "pitch"),
])
def test_protocol_errors_say_why(line: bytes, why: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=why):
        protocol.check_request(protocol.decode(line))


@pytest.mark.parametrize("gender", ["female", "male"])
def test_a_screen_readers_voice_type_picks_a_voice_pair_of_that_gender(gender, reader_home):
    from reader.service.server import SpeechService
    from reader.settings import Settings
    from reader.speech import packs

    voice = SpeechService(Settings.load(reader_home))._voice_of_gender(gender)
    genders = {v.id: v.gender for _, m in packs.find_packs() for v in m.voices}
    assert voice is not None and genders[voice] == gender
    assert SpeechService(Settings.load(reader_home))._voice_of_gender("robot") is None
