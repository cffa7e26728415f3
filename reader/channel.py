"""The app's one voice: a synthesizer and a player shared by the app's own speech and a document's reading.

It exists from the first frame, with or without a document, so every message, dialog and error can be
heard (self-voicing). A reading session borrows it to read; the app's own speech interrupts whatever
plays, or waits for the speech before it (`queue=True`: a dialog's title, then its focused item).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Protocol

from reader.errors import ReaderError
from reader.settings import Settings

log = logging.getLogger(__name__)

# Sentence ids of the app's own speech are negative, so they never move the reading place.
ANNOUNCE_ID = -1
# The language the interface speaks (its messages are written in English).
INTERFACE_LANG = "en"


class Listener(Protocol):
    """Who hears about the sound being played: the reading session whose sentences are playing."""

    def _on_position(self, position: Any) -> None: ...
    def _on_finished(self) -> None: ...
    def _on_player_error(self, error: Any) -> None: ...


class SpeechChannel:
    def __init__(self, settings: Settings, *, synthesizer: Any = None,
                 player_factory: Callable[..., Any] | None = None,
                 on_event: Callable[[str, str], None] | None = None, self_voicing: bool = True) -> None:
        """`on_event(kind, message)` hears the channel's own errors and notices ("error", "notice")."""
        self.settings = settings
        self.on_event = on_event
        self.self_voicing = self_voicing
        self.listener: Listener | None = None
        self._synth = synthesizer
        self._synth_lock = threading.Lock()
        self._player_lock = threading.Lock()
        self._player_factory = player_factory
        self._player: Any = None
        self.lock = threading.RLock()
        self.generation = 0
        self._feeding = False  # a feeder thread of the current generation is still synthesizing
        self._pending: list[tuple] = []  # queued speech for the running feeder: (items, options, on_error, on_timing)
        self.on_notice: Callable[[Any], None] | None = None

    # -- the parts, made on first use -----------------------------------------------------------------
    @property
    def loaded(self) -> Any:
        """The synthesizer if it has been made, else None (never loads it)."""
        return self._synth

    def synthesizer(self) -> Any:
        """The synthesizer (it finds and verifies the packs; stages load lazily)."""
        with self._synth_lock:
            if self._synth is None:
                from reader.speech.synthesizer import Synthesizer

                self._synth = Synthesizer.load(self.settings, on_notice=self._notice)
            return self._synth

    def _notice(self, notice: Any) -> None:
        if self.on_notice is not None:
            self.on_notice(notice)
        elif self.on_event is not None:
            self.on_event("notice", notice.message)

    def player(self) -> Any:
        with self._player_lock:  # the warm-up and the first speech may ask at once: one player only
            return self._make_player()

    def _make_player(self) -> Any:
        if self._player is None:
            from reader.audio.player import Player

            factory = self._player_factory or Player
            player = factory(on_position=self._on_position, on_error=self._on_player_error,
                             on_finished=self._on_finished)
            player.start()
            self._player = player
        return self._player

    @property
    def has_player(self) -> Any:
        return self._player

    def _on_position(self, position: Any) -> None:
        if self.listener is not None:
            self.listener._on_position(position)

    def _on_finished(self) -> None:
        if self.listener is not None:
            self.listener._on_finished()

    def _on_player_error(self, error: Any) -> None:
        if self.listener is not None:
            self.listener._on_player_error(error)
        elif self.on_event is not None:
            self.on_event("error", getattr(error, "message", str(error)))

    # -- the voices ----------------------------------------------------------------------------------
    def interface_options(self, rate: float = 1.0) -> Any:
        """The app's own voice: the most intelligible native voice of the interface language, never
        slower than normal (a rate the user set faster carries over, as in screen readers)."""
        from reader.speech.synthesizer import SynthesisOptions

        synth = self.synthesizer()
        return SynthesisOptions(pack=synth.interface_pack(INTERFACE_LANG), rate=max(1.0, rate), pitch=1.0,
                                allow_downgrade=False)

    def warm_up(self, lang: str = INTERFACE_LANG, *, interface: bool = True) -> None:
        """Load a voice in the background, so the first sound is fast."""

        def work() -> None:
            try:
                synth = self.synthesizer()
                name = synth.interface_pack(lang) if interface else synth.default_pack_for(lang)
                if name:
                    synth.pipeline(name).warm_up()
                self.player()
            except ReaderError as exc:
                if self.on_event is not None:
                    self.on_event("error", exc.message)
            except Exception as exc:  # pragma: no cover - shown, never raised into the UI
                log.exception("warm-up failed")
                if self.on_event is not None:
                    self.on_event("error", f"The voice could not be loaded ({exc}).")

        threading.Thread(target=work, name="voice-warm-up", daemon=True).start()

    # -- speaking ------------------------------------------------------------------------------------
    def halt(self) -> None:
        """Silence now and abandon queued synthesis."""
        with self.lock:
            self.generation += 1
            self._pending = []
            self._feeding = False
            if self._synth is not None:
                self._synth.cancel()
            if self._player is not None:
                self._player.stop()

    def say(self, text: str, *, queue: bool = False, rate: float = 1.0) -> None:
        """The app's own speech, in the interface voice. It interrupts what plays, or with `queue` waits
        for the speech already under way. Nothing is said with self-voicing off."""
        if not self.self_voicing or not text:
            return
        from reader.speech.synthesizer import SpeechText

        self.speak([SpeechText(ANNOUNCE_ID, text, "auto")], None, queue=queue, rate=rate)

    def speak(self, items: list[Any], options: Any, *, queue: bool = False, rate: float = 1.0,
              on_error: Callable[[ReaderError], None] | None = None,
              on_timing: Callable[[Any, Any], None] | None = None,
              on_audio: Callable[[], None] | None = None) -> int:
        """Speak `items` with `options` (None: the interface voice); returns the generation, which a
        later halt() ends. With `queue`, after what is being said (same generation). `on_audio` is called
        once, when the first audio of `items` is handed to the player (before it is heard)."""
        with self.lock:
            if queue and self._feeding:
                self._pending.append((items, options, on_error, on_timing, on_audio))
                return self.generation
            if not queue:
                self.halt()
            generation = self.generation
            self._feeding = True
        thread = threading.Thread(target=self._feed, args=(generation, items, options, rate, on_error, on_timing, on_audio),
                                  name="speech-feeder", daemon=True)
        thread.start()
        return generation

    def _feed(self, generation: int, items: list[Any], options: Any, rate: float,
              on_error: Callable[[ReaderError], None] | None, on_timing: Callable[[Any, Any], None] | None,
              on_audio: Callable[[], None] | None = None) -> None:
        try:
            synth = self.synthesizer()
            player = self.player()
            while True:
                opts = options if options is not None else self.interface_options(rate)
                with self.lock:
                    # Loading the voice above may have taken a while: speech asked for since then (a key
                    # pressed during the greeting) owns the synthesizer now, and starting this stream would
                    # cancel that newer one, leaving the reader silent with its status "playing".
                    if generation != self.generation:
                        return
                    chunks = synth.stream(items, opts)
                for chunk in chunks:
                    with self.lock:
                        if generation != self.generation:
                            return
                        player.enqueue(chunk)
                    if on_audio is not None:
                        on_audio()
                        on_audio = None
                    if on_timing is not None and chunk.last and chunk.times is not None:
                        on_timing(chunk, player)
                with self.lock:
                    if generation != self.generation:
                        return
                    if not self._pending:
                        self._feeding = False
                        player.end_of_stream()
                        return
                    items, options, on_error, on_timing, on_audio = self._pending.pop(0)
        except ReaderError as exc:
            with self.lock:
                if generation != self.generation:
                    return
                self._feeding = False
            if on_error is not None:
                on_error(exc)
            elif self.on_event is not None:
                self.on_event("error", exc.message)
        except Exception as exc:  # pragma: no cover - shown to the user, logged for the debug panel
            log.exception("speech failed")
            with self.lock:
                self._feeding = False
            if on_error is not None:
                on_error(ReaderError(f"Speech stopped because of an internal error ({exc})."))

    def close(self) -> None:
        self.halt()
        if self._synth is not None:
            # Let the synthesis thread leave onnxruntime before the process may exit: a native thread
            # still running at interpreter exit aborts the process.
            self._synth.join(timeout=5.0)
        if self._player is not None:
            self._player.close()
            self._player = None
