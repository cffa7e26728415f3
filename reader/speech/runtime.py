"""onnxruntime sessions for the speech stages: options from the settings, lazy loading under a memory
budget, runs that another thread can stop, and onnxruntime's failures turned into one-sentence PackErrors."""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from reader.speech.errors import PackError

log = logging.getLogger(__name__)

# Resident memory per byte of ONNX file while a stage is loaded and has run once: weights, onnxruntime's
# pre-packed copies and its arena. Measured on the default packs (2 threads, arena on): Kokoro's acoustic
# 28.9 MB file -> ~65 MB after load; its vocoder 63.5 MB -> ~68 MB after load and ~90 MB more of arena
# after a sentence; Piper's 56.5 MB acoustic -> ~33 MB (weights are mmapped). 2.5x covers the worst.
MEMORY_FACTOR = 2.5
PRECISIONS = ("auto", "int8", "fp32")
_TERMINATED = "terminate flag"  # onnxruntime's message when RunOptions.terminate stopped a run


class Cancelled(Exception):
    """A run was stopped on purpose: `reason` is "cancelled" (the user) or "timeout" (the sentence's deadline)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunControl:
    """Stops the runs of one synthesis from another thread, at once: onnxruntime checks
    RunOptions.terminate between kernels, so even a 3 s vocoder run ends within milliseconds."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._expired = threading.Event()
        self._lock = threading.Lock()
        self._active: set[Any] = set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def expired(self) -> bool:
        return self._expired.is_set()

    def cancel(self) -> None:
        """Stop for good (the reader pressed stop)."""
        self._cancelled.set()
        self._terminate_all()

    def expire(self) -> None:
        """Stop the current sentence only (it ran past its deadline)."""
        self._expired.set()
        self._terminate_all()

    def renew(self) -> None:
        """A new sentence starts: forget the last one's deadline."""
        self._expired.clear()

    def check(self) -> None:
        """Raise Cancelled if this synthesis was cancelled or its sentence expired."""
        if self._cancelled.is_set():
            raise Cancelled("cancelled")
        if self._expired.is_set():
            raise Cancelled("timeout")

    def _terminate_all(self) -> None:
        with self._lock:
            for options in self._active:
                options.terminate = True

    @contextlib.contextmanager
    def run_options(self) -> Iterator[Any]:
        import onnxruntime as ort

        options = ort.RunOptions()
        with self._lock:
            self._active.add(options)
            if self._cancelled.is_set() or self._expired.is_set():
                options.terminate = True
        try:
            yield options
        finally:
            with self._lock:
                self._active.discard(options)


def session_options(threads: int | None) -> Any:
    """CPU options that ran fastest here: all graph optimizations, sequential execution, no spinning,
    arena on (turning the arena off made Kokoro's vocoder 2x slower and its RSS 3x larger here), and no
    memory patterns (below)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # onnxruntime keeps a memory plan for every new set of input shapes, and every sentence and decoder
    # window has its own length: with patterns on, reading the sample twice took Kokoro from 355 to
    # 429 MB peak (Piper 269 -> 285) and it kept growing; off, 352 -> 355 (265 -> 268), same speed.
    options.enable_mem_pattern = False
    options.inter_op_num_threads = 1
    # Idle intra-op threads must not spin: each stage has its own pool, and on 2 cores the acoustic
    # pool's spinning threads stole the vocoder's CPU right after a handover (Piper: first window
    # 22 ms without spinning, 50-70 ms with; acoustic 30-45 ms instead of 70-100 ms).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = int(threads)
    options.log_severity_level = 3  # onnxruntime's own warnings are not the user's business
    return options


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # onnxruntime prefixes "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : "; the rest is what matters.
    return text.split(" : ")[-1].strip().rstrip(".")


def load_session(path: Path | str, *, threads: int | None = None, label: str = "stage") -> Any:
    """An InferenceSession on the CPU, or PackError naming the file and what onnxruntime said."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise PackError(f"The {label} model file {path} is missing; rebuild or re-import the pack.")
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own classes (Fail, InvalidProtobuf, ...) for bad files
        raise PackError(f"The {label} model {path.name} cannot be loaded ({_first_line(exc)}).") from None


def input_names(session: Any) -> tuple[str, ...]:
    return tuple(i.name for i in session.get_inputs())


def output_names(session: Any) -> tuple[str, ...]:
    return tuple(o.name for o in session.get_outputs())


def run_session(session: Any, feeds: Mapping[str, Any], *, label: str,
                control: RunControl | None = None) -> dict[str, Any]:
    """Run a stage: outputs by name. Wrong inputs and onnxruntime failures become PackError, a stop
    by `control` becomes Cancelled."""
    expected = set(input_names(session))
    if expected != set(feeds):
        missing = sorted(expected - set(feeds))
        extra = sorted(set(feeds) - expected)
        what = []
        if missing:
            what.append(f"inputs {', '.join(missing)} that the reader does not know how to fill")
        if extra:
            what.append(f"no inputs named {', '.join(extra)}")
        raise PackError(f"The {label} model has {' and '.join(what)}; this pack does not fit the reader.")
    names = output_names(session)
    if control is not None:
        control.check()
    try:
        if control is None:
            outputs = session.run(None, dict(feeds))
        else:
            with control.run_options() as options:
                outputs = session.run(None, dict(feeds), options)
    except Exception as exc:
        if control is not None and (control.cancelled or control.expired) and _TERMINATED in str(exc):
            control.check()
        raise PackError(f"The {label} model failed to run ({_first_line(exc)}).") from None
    if control is not None:
        control.check()
    return dict(zip(names, outputs))


@dataclass(frozen=True)
class _Spec:
    """What get_inputs()/get_outputs() give, known from the manifest before the file is loaded."""

    name: str


class LazySession:
    """A stage session that loads on first run and can be released: the pool decides which stay resident.

    Quacks like an InferenceSession for the stages (run, get_inputs, get_outputs)."""

    def __init__(self, loader: Callable[[], Any], *, label: str, estimate_mb: float,
                 inputs: Sequence[str], outputs: Sequence[str], pool: "SessionPool | None" = None) -> None:
        self.label = label
        self.estimate_mb = float(estimate_mb)
        self._loader = loader
        self._inputs = tuple(_Spec(n) for n in inputs)
        self._outputs = tuple(_Spec(n) for n in outputs)
        self._session: Any = None
        self.loads = 0  # how many times the file was loaded (observable by tests and the debug panel)
        self.load_ms = 0.0  # time of the last load
        self.last_used = 0
        self.in_use = 0
        self.pool = pool or SessionPool(budget_mb=None)
        self.pool.register(self)

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def get_inputs(self) -> tuple[_Spec, ...]:
        return self._inputs

    def get_outputs(self) -> tuple[_Spec, ...]:
        return self._outputs

    def _load(self) -> None:
        start = time.perf_counter()
        self._session = self._loader()
        self.load_ms = (time.perf_counter() - start) * 1000
        self.loads += 1
        log.debug("loaded %s in %.0f ms", self.label, self.load_ms)

    def release(self) -> None:
        if self._session is not None:
            self._session = None
            log.debug("released %s", self.label)

    def run(self, output_names: Any, feeds: Mapping[str, Any], run_options: Any = None) -> list[Any]:
        session = self.pool.acquire(self)
        try:
            if run_options is None:
                return session.run(output_names, dict(feeds))
            return session.run(output_names, dict(feeds), run_options)
        finally:
            self.pool.done(self)


class SessionPool:
    """Keeps stage sessions resident within a memory budget (MB; None: no limit). A stage about to run is
    always loaded; others are released least recently used first until the estimates fit the budget."""

    def __init__(self, budget_mb: float | None) -> None:
        self.budget_mb = budget_mb
        self._sessions: list[LazySession] = []
        self._lock = threading.RLock()
        self._clock = itertools.count(1)

    def register(self, lazy: LazySession) -> None:
        with self._lock:
            self._sessions.append(lazy)

    def resident(self) -> list[str]:
        """Labels of the stages loaded now."""
        with self._lock:
            return [s.label for s in self._sessions if s.loaded]

    def resident_mb(self) -> float:
        with self._lock:
            return sum(s.estimate_mb for s in self._sessions if s.loaded)

    def acquire(self, lazy: LazySession) -> Any:
        with self._lock:
            lazy.in_use += 1
            lazy.last_used = next(self._clock)
            if not lazy.loaded:
                self._evict(keep=lazy, room=lazy.estimate_mb)
                try:
                    lazy._load()
                except BaseException:
                    lazy.in_use -= 1
                    raise
            return lazy._session

    def done(self, lazy: LazySession) -> None:
        with self._lock:
            lazy.in_use -= 1
            self._evict(keep=None, room=0.0)

    def release_all(self) -> None:
        with self._lock:
            for s in self._sessions:
                if not s.in_use:
                    s.release()

    def _evict(self, keep: LazySession | None, room: float) -> None:
        if self.budget_mb is None:
            return
        candidates = sorted((s for s in self._sessions if s.loaded and not s.in_use and s is not keep),
                            key=lambda s: s.last_used)
        for s in candidates:
            if self.resident_mb() + room <= self.budget_mb:
                break
            s.release()


def stage_file(pack: Any, stage: str, precision: str = "auto") -> Path:
    """The file of a stage: the manifest's own, or a variant of the wanted precision when the pack lists
    one in its files with role "<stage>.<precision>" (hashed like every file, so verified)."""
    if precision not in PRECISIONS:
        raise PackError(f"Precision {precision!r} is unknown; use one of {', '.join(PRECISIONS)}.")
    if precision != "auto":
        for f in pack.manifest.files:
            if f.role == f"{stage}.{precision}":
                return pack.path / f.path
    return pack.stage_path(stage)


def lazy_stage(pack: Any, stage: str, *, threads: int | None, precision: str = "auto",
               pool: SessionPool | None = None) -> LazySession:
    """A LazySession for one stage of a verified pack."""
    spec = pack.manifest.stages.get(stage)
    if spec is None:
        raise PackError(f"Pack {pack.name} has no {stage} stage.")
    path = stage_file(pack, stage, precision)
    label = f"{pack.name} {stage}"
    size_mb = path.stat().st_size / 2**20 if path.exists() else spec.bytes / 2**20
    # The pack's own thread hint (measured at build) wins over the general setting: GE2E's small LSTMs
    # run twice as fast on one thread as on two.
    n_threads = spec.threads or threads
    return LazySession(lambda: load_session(path, threads=n_threads, label=label), label=label,
                       estimate_mb=size_mb * MEMORY_FACTOR, inputs=[t.name for t in spec.inputs],
                       outputs=[t.name for t in spec.outputs], pool=pool)
