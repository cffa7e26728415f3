"""How fast the audio player goes silent after stop(), what its callback costs, and how fast a player whose
stream was closed for idling sounds again, measured on the paced device (../shared/audio/paced-device.sh: a
PulseAudio null sink that takes audio in real time). Run as `python bench/bench_player.py`; prints one
JSON line per measure."""

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
# The restart rows use a player that closes its stream after this long idle (the product waits 3 s).
BENCH_IDLE_SECONDS = 0.5
IDLE_WINDOW_SECONDS = 0.5  # how long the closed stream is watched for callbacks
STEADY_CALLBACKS = 40  # after a reopen, stop() is timed once this many callbacks ran (past the sink's stall)
STALL_WINDOW_SECONDS = 5.0  # how long after a reopen the callbacks are watched for a stall
RESTART_CHUNK_SECONDS = 3.0  # the chunk enqueued on the idle player: a long sentence (enqueue copies it)


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
        # After enqueue() on a player whose stream was closed: the first block with sound in it, and the
        # time of each callback in the first seconds (the longest wait between them is the device's stall).
        woken: float | None = None
        sound_at: float | None = None
        calls_after_wake: list[float] = []

        def _callback(self, outdata, frames, time_info, status):  # noqa: ANN001
            cuts = self._cuts
            super()._callback(outdata, frames, time_info, status)
            if self.woken is not None:
                now = time.perf_counter()
                if now - self.woken < STALL_WINDOW_SECONDS:
                    self.calls_after_wake.append(now)
                if self.sound_at is None and outdata.any():
                    self.sound_at = now
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
    sentence = Chunk(long_tone.samples[:round(RESTART_CHUNK_SECONDS * RATE)], RATE, 0)
    rows += _restart_rows(TimedPlayer, sentence)
    rows += _stream_alternatives()
    return rows


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.0005)
    return condition()


def _restart_rows(timed_player: type, tone) -> list[dict]:  # noqa: ANN001
    """A player left idle until it closes its stream, then given a sound, RUNS times.

    restart_ms: enqueue() to the first callback block with sound in it (budget 50 ms); enqueue_ms: how
    long that enqueue() call took (it opens the stream). restart_stop_ms: stop() on the reopened stream to
    the first all-zero block. idle_callbacks: callbacks while closed (0: the callback really stopped).
    restart_stall_ms: the longest wait between callbacks after the reopen until the stream runs steadily.
    On the null sink it is up to ~2 s when the sink had no stream for a while: it then renders in 2 s
    blocks and notices the new stream only at the end of one (no stall while another stream keeps it busy;
    the player's first start has the same stall, which is why the tests warm the stream up)."""
    restart, enqueue, stop, idle_calls, stall, idle_cpu = [], [], [], [], [], []
    with timed_player(samplerate=RATE, idle_close_seconds=BENCH_IDLE_SECONDS) as player:
        for run in range(RUNS):
            closes = player.stats().idle_closes
            if not _wait(lambda: player.stats().idle_closes > closes, BENCH_IDLE_SECONDS + 10):
                raise RuntimeError("the idle player did not close its stream")
            calls, cpu0, wall0 = player.stats().callbacks, time.process_time(), time.perf_counter()
            time.sleep(IDLE_WINDOW_SECONDS)
            idle_calls.append(player.stats().callbacks - calls)
            idle_cpu.append((time.process_time() - cpu0) / (time.perf_counter() - wall0) * 100)

            player.sound_at, player.calls_after_wake = None, []
            player.woken = time.perf_counter()
            player.enqueue(tone)
            enqueue.append((time.perf_counter() - player.woken) * 1000)
            if not _wait(lambda: player.sound_at is not None, 3):
                raise RuntimeError("no sound after enqueue() on an idle player")
            restart.append((player.sound_at - player.woken) * 1000)
            steady = _wait(lambda: len(player.calls_after_wake) >= STEADY_CALLBACKS, STALL_WINDOW_SECONDS)
            times = [player.woken, *player.calls_after_wake]
            if not steady:
                times.append(time.perf_counter())
            stall.append(max(b - a for a, b in zip(times, times[1:])) * 1000)
            player.woken = None

            time.sleep(run * 0.0037)  # a different phase within the block each run
            player.silent_at = player.cut_at = None
            player.stop_called = time.perf_counter()
            player.stop()
            if _wait(lambda: player.silent_at is not None, 2):
                stop.append((player.silent_at - player.stop_called) * 1000)
            player.stop_called = None
    return [
        _row("restart_ms", statistics.median(restart), "ms"),
        _row("restart_ms_max", max(restart), "ms"),
        _row("enqueue_ms_restarting", statistics.median(enqueue), "ms"),
        _row("restart_stop_ms", statistics.median(stop), "ms"),
        _row("restart_stall_ms", statistics.median(stall), "ms"),
        _row("idle_callbacks", max(idle_calls), f"callbacks in {IDLE_WINDOW_SECONDS} s"),
        _row("process_cpu_idle", statistics.median(idle_cpu), "% of a core"),
    ]


def _stream_alternatives() -> list[dict]:
    """The two ways to silence an idle stream, on a bare PortAudio stream like the player's (RUNS each):
    abort() and start() the same stream, against close() and open a new one (what the player does).

    alt_start_ms and alt_reopen_ms: start() / open-and-start to the first callback. alt_stop_wait_ms: how
    long stop() blocks (it drains the device buffer; the player would hold its lock that long).
    abort()/start() is faster but not used: PortAudio 19.6's start() never returns when the device went
    away while the stream was stopped."""
    import sounddevice as sd

    first: list[float] = []

    def callback(outdata, frames, time_info, status):  # noqa: ANN001
        outdata.fill(0)
        if not first:
            first.append(time.perf_counter())

    def opened():  # noqa: ANN202
        return sd.OutputStream(samplerate=RATE, channels=1, dtype="float32", blocksize=256, latency="low",
                               callback=callback)

    def to_first_call(action) -> float:  # noqa: ANN001
        first.clear()
        began = time.perf_counter()
        action()
        if not _wait(lambda: bool(first), 3):
            raise RuntimeError("the stream did not call back")
        return (first[0] - began) * 1000

    holder = [opened()]
    holder[0].start()
    time.sleep(0.3)
    start, reopen, stop_wait = [], [], []
    for _ in range(RUNS):
        holder[0].abort()
        time.sleep(0.1)
        start.append(to_first_call(holder[0].start))
        time.sleep(0.1)
        began = time.perf_counter()
        holder[0].stop()
        stop_wait.append((time.perf_counter() - began) * 1000)
        holder[0].close()
        time.sleep(0.1)

        def reopen_now() -> None:
            holder[0] = opened()
            holder[0].start()

        reopen.append(to_first_call(reopen_now))
        time.sleep(0.1)
    holder[0].abort()
    holder[0].close()
    return [
        _row("alt_start_ms", statistics.median(start), "ms (abort+start, not used)"),
        _row("alt_reopen_ms", statistics.median(reopen), "ms (close+open, used)"),
        _row("alt_stop_wait_ms", statistics.median(stop_wait), "ms (stop() draining)"),
    ]


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        for word in line.removeprefix("export ").split():
            key, _, value = word.partition("=")
            env[key] = value
    return env


def _check_paced_tools() -> None:
    """paced-device.sh installs PulseAudio with apt-get when it is missing, which cannot work under
    `reader bench`: the kernel refuses the network to the reader and to everything it starts."""
    from reader import kernel_guard
    from reader.errors import ReaderError

    import glob

    missing = [tool for tool in ("pulseaudio", "parec") if shutil.which(tool) is None]
    if not glob.glob("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so"):
        missing.append("ALSA's pulse plugin")
    if missing and kernel_guard.kernel_guard_status() == "seccomp":
        raise ReaderError(
            f"The paced audio device needs {' and '.join(missing)}, which `reader bench` cannot install because "
            "the reader runs with the network refused: run `apt-get install pulseaudio pulseaudio-utils "
            "libasound2-plugins` first, or `python bench/run.py`, which runs without the guard.")


def run_on_paced_device(argv: list[str], *, label: str, timeout: float = 300) -> list[dict]:
    """Start the paced device, run `python argv...` in a child that sees only it, return the child's
    JSON rows; the device is always stopped afterwards."""
    if not PACED_SCRIPT.exists():
        return [{"pack": label, "measure": "skipped", "value": 0, "unit": f"no {PACED_SCRIPT}"}]
    _check_paced_tools()
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
