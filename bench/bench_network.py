"""Proof that the reader uses no network: the real app under `strace -ff -e trace=socket,connect,sendto,
sendmsg,seccomp`, counting the AF_INET/AF_INET6 sockets every thread and child tried to make and made,
and the seccomp filters that went on.

Four runs: a control (onnxruntime imported by plain Python without the guard: its telemetry thread makes
inet sockets, so the count can see them), a 60 s TUI session in tmux reading the bundled sample aloud on
the paced audio device (../shared/audio/paced-device.sh), `reader say` of the sample three times over to a WAV file, and a
voice enrollment with a one-minute fit from three clips that `reader say` recorded.

Run as `python bench/bench_network.py [--tui-seconds 60] [--fit-minutes 1]`; prints one JSON object.
Needs strace and tmux (`scripts/ensure-system.sh test` installs them).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout

from bench.bench_player import PACED_SCRIPT, _read_env  # noqa: E402

READER = Path(sys.executable).parent / "reader"
SAMPLE = ROOT / "reader" / "data" / "sample.md"
TRACED = "socket,connect,sendto,sendmsg,seccomp"  # seccomp: to see the filter go on
CLIP_TEXTS = (  # three enrollment clips, two sentences each (as the voice tests record them)
    "The little boat drifted slowly across the quiet lake at dawn. Please remember to water the tomatoes.",
    "My grandmother kept every letter she ever received in a box. We walked along the river at night.",
    "A cold wind blew through the open window all night long. He counted the coins twice and smiled.",
)

_SOCKET = re.compile(r"^socket\((\w+), .*\) = (-?\d+)")
_INET_ADDRESS = re.compile(r"sa_family=AF_INET6?\b")


def _strace(prefix: Path) -> list[str]:
    # -ff: one file per thread or process, so no call is split into "unfinished" and "resumed" halves.
    return ["strace", "-ff", "-qq", "-e", f"trace={TRACED}", "-o", str(prefix)]


def count(prefix: Path) -> dict:
    """What the trace files prefix.PID say: sockets tried and made per family, inet connects and sends."""
    tried, made = Counter(), Counter()
    inet_calls = Counter()
    filters = 0
    files = sorted(prefix.parent.glob(prefix.name + ".*"))
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            if m := _SOCKET.match(line):
                family, result = m.group(1), int(m.group(2))
                tried[family] += 1
                made[family] += result >= 0
            elif line.startswith("seccomp(SECCOMP_SET_MODE_FILTER") and line.endswith("= 0"):
                filters += 1
            elif _INET_ADDRESS.search(line):
                inet_calls[line.split("(", 1)[0]] += 1
    return {
        "traced_threads": len(files),
        "seccomp_filters_installed": filters,
        "inet_socket_attempts": tried["AF_INET"] + tried["AF_INET6"],
        "inet_sockets_made": made["AF_INET"] + made["AF_INET6"],
        "inet_connects_or_sends": sum(inet_calls.values()),
        "sockets_by_family": {f: {"tried": tried[f], "made": made[f]} for f in sorted(tried)},
    }


def control(work: Path) -> dict:
    """Without the guard: does the count see onnxruntime's telemetry sockets?"""
    prefix = work / "control" / "trace"
    prefix.parent.mkdir()
    subprocess.run([*_strace(prefix), sys.executable, "-c", "import onnxruntime, time; time.sleep(12)"],
                   check=True, capture_output=True, timeout=120)
    return {"command": "python -c 'import onnxruntime, time; time.sleep(12)' (no guard)", **count(prefix)}


def say(work: Path, env: dict) -> dict:
    prefix = work / "say" / "trace"
    prefix.parent.mkdir()
    out = work / "say" / "sample.wav"
    text = work / "say" / "sample-x3.md"
    text.write_text("\n\n".join([SAMPLE.read_text(encoding="utf-8")] * 3), encoding="utf-8")
    started = time.monotonic()
    result = subprocess.run([*_strace(prefix), str(READER), "say", "-f", str(text), "--out", str(out)],
                            capture_output=True, text=True, env=env, timeout=1200)
    if result.returncode != 0:
        raise SystemExit(f"bench_network: reader say failed:\n{result.stderr[-2000:]}")
    import soundfile

    return {"command": f"reader say -f sample-x3.md (the sample three times) --out sample.wav",
            "seconds": round(time.monotonic() - started, 1),
            "wav_seconds": round(soundfile.info(str(out)).duration, 1), **count(prefix)}


def enroll(work: Path, env: dict, minutes: float) -> dict:
    folder = work / "enroll"
    prefix = folder / "trace"
    folder.mkdir()
    passfile = folder / "pass"
    passfile.write_text("a long bench passphrase\n")
    passfile.chmod(0o600)
    clips = []
    started = time.monotonic()

    def reader(*args: str) -> str:
        result = subprocess.run([*_strace(prefix), str(READER), *args], capture_output=True,
                                text=True, env=env, timeout=1800)
        if result.returncode != 0:
            raise SystemExit(f"bench_network: reader {args[0]} {args[1]} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    for i, text in enumerate(CLIP_TEXTS):
        clips.append(folder / f"clip-{i}.wav")
        reader("say", text, "--pack", "piper-joe-en", "--out", str(clips[-1]))
    reader("vault", "init", "--passphrase-file", str(passfile))
    said = reader("voices", "enroll", "Bench Person", "--from", *map(str, clips), "--consent-by", "Bench Person",
                 "--purpose", "measuring the network guard", "--minutes", f"{minutes:g}",
                 "--passphrase-file", str(passfile))
    return {"command": f"reader say x3, reader vault init, reader voices enroll --minutes {minutes:g}",
            "seconds": round(time.monotonic() - started, 1), "enroll_said": said.strip().splitlines()[-3:],
            **count(prefix)}


def _tmux(name: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", name, *args], capture_output=True, text=True).stdout


def _speech_in(recording: Path, since: int = 44) -> bool:
    """Whether parec's WAV (16-bit, header of 44 bytes) holds speech, not silence, after byte `since`."""
    import numpy as np

    data = recording.read_bytes()[since:] if recording.exists() else b""
    samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
    return bool(samples.size) and float(np.sqrt(np.mean(samples**2))) > 0.005


def tui(work: Path, env: dict, seconds: float, attempt: int) -> dict:
    """The reader in tmux on the paced device: wait until its greeting is heard, press Space, read for the
    rest of `seconds`, quit with q."""
    import numpy as np
    import soundfile

    folder = work / f"tui-{attempt}"
    prefix = folder / "trace"
    folder.mkdir()
    device = Path(tempfile.mkdtemp(prefix="pnb", dir="/tmp"))  # the socket path must stay short
    name = f"bench-network-{os.getpid()}"
    try:
        started = subprocess.run(["bash", str(PACED_SCRIPT), "start", str(device)], capture_output=True,
                                 text=True, timeout=600)
        if started.returncode != 0:
            raise SystemExit(f"bench_network: the paced device did not start: {started.stderr.strip()[-300:]}")
        child_env = {**env, **_read_env(device / "env"), "TERM": "xterm-256color"}
        exports = " ".join(f"{k}={v}" for k, v in child_env.items() if k in
                           ("HOME", "XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_SERVER", "PULSE_STATE_PATH",
                            "READER_HOME", "TERM", "PATH"))
        traced = " ".join(_strace(prefix))
        command = f"sleep 0.5; env {exports} {traced} {READER} {SAMPLE}; echo READER-EXIT-$?; sleep 60"
        subprocess.run(["tmux", "-L", name, "new-session", "-d", "-s", name, "-x", "120", "-y", "36", command],
                       check=True)
        t0 = time.monotonic()

        def screen() -> str:
            return _tmux(name, "capture-pane", "-p", "-t", name)

        def wait_for(condition, timeout: float) -> bool:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if condition():
                    return True
                time.sleep(0.25)
            return False

        def shows(text: str):
            return lambda: text in " ".join(screen().split())

        if not wait_for(shows("Sentence 1 of"), 90):
            raise SystemExit("bench_network: the reader never showed its first sentence:\n" + screen())
        greeted = wait_for(lambda: _speech_in(device / "played.wav"), 30)
        mark = (device / "played.wav").stat().st_size
        _tmux(name, "send-keys", "-t", name, "Space")
        playing = wait_for(shows("Playing"), 30)
        time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
        place = next((w.strip() for w in screen().split("|") if "Sentence" in w), "")
        read = _speech_in(device / "played.wav", mark)
        _tmux(name, "send-keys", "-t", name, "q")
        exited = wait_for(shows("READER-EXIT-0"), 30)
        session = time.monotonic() - t0
    finally:
        _tmux(name, "kill-server")
        subprocess.run(["bash", str(PACED_SCRIPT), "stop", str(device)], capture_output=True, timeout=30)
    audio, rate = soundfile.read(str(device / "played.wav"), dtype="float32", always_2d=True)
    shutil.rmtree(device, ignore_errors=True)
    block = rate // 20  # 50 ms
    blocks = audio[: len(audio) // block * block, 0].reshape(-1, block)
    heard = float((np.sqrt((blocks**2).mean(axis=1)) > 0.005).sum() / 20)
    return {"command": f"reader {SAMPLE.name} in tmux, Space, {seconds:g} s, q (paced PulseAudio device)",
            "session_seconds": round(session, 1), "greeting_heard": greeted, "playing_shown": playing,
            "reading_heard": read, "place_at_end": place, "exit_0": exited, "speech_heard_seconds": heard,
            **count(prefix)}


def tui_session(work: Path, env: dict, seconds: float, tries: int = 3) -> dict:
    """A start whose sound never comes (the app's own start-up race under strace's slowdown, seen with
    and without the guard) is tried again; every try's sockets are counted."""
    runs = []
    for attempt in range(1, tries + 1):
        runs.append(tui(work, env, seconds, attempt))
        if runs[-1]["greeting_heard"] and runs[-1]["reading_heard"]:
            break
    result = dict(runs[-1])
    result["tries"] = len(runs)
    result["inet_sockets_made_all_tries"] = sum(r["inet_sockets_made"] for r in runs)
    result["inet_socket_attempts_all_tries"] = sum(r["inet_socket_attempts"] for r in runs)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tui-seconds", type=float, default=60)
    parser.add_argument("--fit-minutes", type=float, default=1)
    parser.add_argument("--only", choices=("control", "tui", "say", "enroll"), action="append")
    parser.add_argument("--keep", metavar="DIR", help="keep the traces in DIR (a new folder)")
    args = parser.parse_args(argv)
    for tool in ("strace", "tmux"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench_network: {tool} is not installed (scripts/ensure-system.sh test installs it)")
    only = set(args.only or ("control", "tui", "say", "enroll"))
    report = {}
    with tempfile.TemporaryDirectory(prefix="bench-network-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=bool(not args.keep))
        env = {**os.environ, "READER_HOME": str(work / "home"), "PYTHONIOENCODING": "utf-8"}
        if "control" in only:
            report["control"] = control(work)
        if "tui" in only:
            report["tui"] = tui_session(work, env, args.tui_seconds)
        if "say" in only:
            report["say"] = say(work, env)
        if "enroll" in only:
            report["enroll"] = enroll(work, env, args.fit_minutes)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
