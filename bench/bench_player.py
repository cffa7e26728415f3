"""How fast the audio player goes silent after stop(), and what its callback costs, measured on the paced
device (../shared/audio/paced-device.sh: a PulseAudio null sink that takes audio in real time).
Run as `python bench/bench_player.py`; prints one JSON line per measure."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout

PACED_SCRIPT = ROOT.parent / "shared" / "audio" / "paced-device.sh"
RUNS = 5
RATE = 22050  # the rate of the default English pack
PLAY_BEFORE_STOP_SECONDS = 0.3
CPU_WINDOW_SECONDS = 3.0


def _row(measure: str, value: float, unit: str) -> dict:
    return {"pack": "player", "measure": measure, "value": round(value, 3), "unit": unit}


def _measure() -> list[dict]:
    """Runs inside the paced device's environment (sounddevice is imported here for the first time)."""
    import numpy as np

    from reader.audio.player import Player

    from reader.audio.player import FADE_SECONDS

    class TimedPlayer(Player):
        """The player with its callback watched after stop(): the block that cut the sound (a 3 ms fade,
        then zeros) and the first block that is all zeros."""

        stop_called: float | None = None
        cut_at: float | None = None
        cut_delay = 0.0
        silent_at: float | None = None

        def _callback(self, outdata, frames, time_info, status):  # noqa: ANN001
            cuts = self._cuts
            super()._callback(outdata, frames, time_info, status)
            if self.stop_called is None:
                return
            if self.cut_at is None and self._cuts != cuts:
                self.cut_at = time.perf_counter()
                self.cut_delay = self._last_block[2]  # seconds until that block is heard
            if self.silent_at is None and not outdata.any():
                self.silent_at = time.perf_counter()

    @dataclass(frozen=True)
    class Chunk:
        samples: np.ndarray
        sample_rate: int
        sentence_id: int

    t = np.arange(60 * RATE) / RATE
    long_tone = Chunk((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), RATE, 0)
    rows = []
    with TimedPlayer(samplerate=RATE) as player:
        deadline = time.monotonic() + 10
        while player.stats().callbacks < 40 and time.monotonic() < deadline:  # past the start-up stall
            time.sleep(0.01)

        # Callback cost while playing steadily.
        player.enqueue(long_tone)
        time.sleep(0.5)
        before, cpu0, wall0 = player.stats(), time.process_time(), time.perf_counter()
        time.sleep(CPU_WINDOW_SECONDS)
        after, cpu1, wall1 = player.stats(), time.process_time(), time.perf_counter()
        wall = wall1 - wall0
        calls = after.callbacks - before.callbacks
        busy = after.callback_seconds - before.callback_seconds
        player.stop()

        stop_ms, cut_ms, heard_ms = [], [], []
        for run in range(RUNS):
            player.silent_at = player.cut_at = player.stop_called = None
            player.enqueue(long_tone)
            # A different phase within the block each run: the wait until the next callback varies.
            time.sleep(PLAY_BEFORE_STOP_SECONDS + run * 0.0037)
            player.stop_called = time.perf_counter()
            player.stop()
            deadline = time.monotonic() + 2
            while player.silent_at is None and time.monotonic() < deadline:
                time.sleep(0.001)
            if player.silent_at is not None and player.cut_at is not None:
                stop_ms.append((player.silent_at - player.stop_called) * 1000)
                cut = player.cut_at - player.stop_called
                cut_ms.append(cut * 1000)
                heard_ms.append((cut + FADE_SECONDS + player.cut_delay) * 1000)
        stats = player.stats()

    # stop_ms: stop() to the first all-zero block out of the callback. cut_ms: to the block that cut the
    # sound (3 ms fade, then zeros). stop_heard_ms: when the speaker falls silent, the cut block's DAC
    # time (what the host reports is still queued before it) plus the fade.
    rows.append(_row("stop_ms", statistics.median(stop_ms), "ms"))
    rows.append(_row("stop_ms_max", max(stop_ms), "ms"))
    rows.append(_row("cut_ms", statistics.median(cut_ms), "ms"))
    rows.append(_row("stop_heard_ms", statistics.median(heard_ms), "ms"))
    rows.append(_row("block_ms", stats.blocksize / stats.samplerate * 1000, "ms"))
    rows.append(_row("stream_latency_ms", stats.latency_seconds * 1000, "ms"))
    rows.append(_row("callback_cpu", busy / wall * 100, "% of a core"))
    rows.append(_row("callback_us", busy / max(calls, 1) * 1e6, "us per call"))
    rows.append(_row("process_cpu_playing", (cpu1 - cpu0) / wall * 100, "% of a core"))
    rows.append(_row("underflows", stats.status_flags, "callbacks"))
    return rows


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        for word in line.removeprefix("export ").split():
            key, _, value = word.partition("=")
            env[key] = value
    return env


def run_on_paced_device(argv: list[str], *, label: str, timeout: float = 300) -> list[dict]:
    """Start the paced device, run `python argv...` in a child that sees only it, return the child's
    JSON rows; the device is always stopped afterwards."""
    if not PACED_SCRIPT.exists():
        return [{"pack": label, "measure": "skipped", "value": 0, "unit": f"no {PACED_SCRIPT}"}]
    folder = Path(tempfile.mkdtemp(prefix="pdb", dir="/tmp"))  # the socket path must stay short
    try:
        started = subprocess.run(["bash", str(PACED_SCRIPT), "start", str(folder)], capture_output=True,
                                 text=True, timeout=600)
        if started.returncode != 0:
            raise RuntimeError(f"the paced device did not start: {started.stderr.strip()[-300:]}")
        env = {**os.environ, **_read_env(folder / "env")}
        child = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                               env=env, timeout=timeout, cwd=ROOT)
        if child.returncode != 0:
            raise RuntimeError(f"the {label} bench failed:\n{child.stderr[-2000:]}")
        return [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
    finally:
        subprocess.run(["bash", str(PACED_SCRIPT), "stop", str(folder)], capture_output=True, timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def bench_player() -> list[dict]:
    return run_on_paced_device([__file__, "--child"], label="player", timeout=120)


def main() -> None:
    rows = _measure() if "--child" in sys.argv else bench_player()
    for row in rows:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
