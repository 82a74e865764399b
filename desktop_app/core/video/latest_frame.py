"""Background reading of a frame source, keeping only the newest frame, with reconnection.

:class:`LatestFrameReader` runs one thread that opens a source (through a factory, so it can
build a fresh one to reconnect), reads frames and hands the newest one to :meth:`get`. On a live
camera, the consumer (detector) is slower than the camera, so stale frames are dropped and the
consumer always works on the most recent picture. For files it can run in lock-step
(``drop_stale=False``): every frame is delivered, in order, and the reader waits for the consumer.

States (:class:`~desktop_app.core.vocabulary.SourceState`, a ``StrEnum``; reported through
``on_state(state, message)``, called from the reader thread):

- ``"idle"``: created, ``start()`` not called yet;
- ``"connecting"``: opening the source for the first time;
- ``"live"``: frames are flowing (again);
- ``"reconnecting"``: the source was lost (read failure/exception) or could not be reopened; a
  new attempt follows after an exponential back-off delay, capped;
- ``"ended"``: a finite source (file, folder) reached its end;
- ``"failed"``: the source could not be opened, or every reconnection attempt of a policy with a
  limit failed (a door camera's policy, :data:`DOOR_BACKOFF`, has none: it never gets here);
- ``"stopped"``: ``stop()`` was called.

``ended``, ``failed`` and ``stopped`` are final.

A door camera is built with :meth:`LatestFrameReader.for_door`: a live source (webcam, network
stream) is retried for ever, at start too, every few seconds at most; a file or folder ends, or
fails at once with its message (a wrong file name is a configuration error, not an outage).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from desktop_app.core.errors import FaceGateError
from desktop_app.core.video.sources import Frame, FrameSource
from desktop_app.core.vocabulary import SourceState

logger = logging.getLogger(__name__)

IDLE = SourceState.IDLE
CONNECTING = SourceState.CONNECTING
LIVE = SourceState.LIVE
RECONNECTING = SourceState.RECONNECTING
ENDED = SourceState.ENDED
FAILED = SourceState.FAILED
STOPPED = SourceState.STOPPED
FINAL_STATES: frozenset[SourceState] = frozenset({ENDED, FAILED, STOPPED})
"""The reader's final states: no frame comes after them."""


@dataclass(frozen=True)
class BackoffPolicy:
    """Reconnection schedule: attempt n (1-based) waits ``min(initial_s * factor**(n-1), max_delay_s)``
    seconds before reopening; after ``max_attempts`` failed attempts in a row the reader gives up
    (``None``: never, it retries for ever every ``max_delay_s`` seconds at most). The attempt
    counter resets as soon as a frame is read again.

    A policy that retries for ever needs ``initial_s`` and ``max_delay_s`` above 0 (no busy loop).
    """

    initial_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 10.0
    max_attempts: int | None = 6

    def __post_init__(self) -> None:
        if not (math.isfinite(self.initial_s) and math.isfinite(self.max_delay_s)):
            raise ValueError("Back-off delays must be finite numbers of seconds.")
        if self.initial_s < 0 or self.max_delay_s < 0:
            raise ValueError("Back-off delays must be 0 or more seconds.")
        if not math.isfinite(self.factor) or self.factor < 1.0:
            raise ValueError("Back-off factor must be a finite number, 1 or more.")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError("max_attempts must be 0 or more, or None (retry for ever).")
        if self.max_attempts is None and (self.initial_s <= 0 or self.max_delay_s <= 0):
            raise ValueError("Retrying for ever needs delays above 0 s (initial_s and max_delay_s).")

    @property
    def forever(self) -> bool:
        """True when the reader never gives up (``max_attempts`` is None)."""
        return self.max_attempts is None

    def gives_up(self, attempt: int) -> bool:
        """True when reconnection attempt ``attempt`` (1-based) is beyond the limit."""
        return self.max_attempts is not None and attempt > self.max_attempts

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnection attempt ``attempt`` (1-based); never above
        ``max_delay_s``, however large ``attempt`` grows (no float overflow after days of retries)."""
        if self.initial_s <= 0 or self.max_delay_s <= 0:
            return 0.0
        exponent = max(attempt - 1, 0)
        # Compared in log space: past the cap, factor**exponent may not even fit in a float.
        if math.log(self.initial_s) + exponent * math.log(self.factor) >= math.log(self.max_delay_s):
            return float(self.max_delay_s)
        return float(self.initial_s * self.factor**exponent)


DEFAULT_BACKOFF = BackoffPolicy()
"""The reader's default: 6 attempts (about 25 s), then ``"failed"``."""

DOOR_BACKOFF = BackoffPolicy(initial_s=0.5, factor=2.0, max_delay_s=5.0, max_attempts=None)
"""A door camera's schedule: retry for ever, after 0.5, 1, 2, 4, then every 5 s."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FaceGateError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _safe_close(source: FrameSource | None) -> None:
    if source is None:
        return
    try:
        source.close()
    except Exception:
        logger.warning("Closing %s failed", getattr(source, "name", "source"), exc_info=True)


class LatestFrameReader:
    """Background thread reading a source, keeping only the newest frame.

    source_factory: builds a new, unopened source (called again on every reconnection);
    drop_stale: True keeps only the newest frame (frames not taken by :meth:`get` in time are
    dropped and counted in :attr:`dropped`); False runs in lock-step: the thread waits until the
    previous frame was taken, so every frame is delivered in order (meant for files/folders);
    on_state: ``callback(state, message)``, called from the reader thread on every state change
    (exceptions it raises are logged and ignored; a Qt caller should forward it with a signal);
    backoff: reconnection schedule; retry_first_open: also retry (with back-off) when the very
    first open fails, instead of going to ``"failed"`` at once (a camera that may still be
    booting, a network that is down; a file name should fail at once, the default).
    A door camera is built with :meth:`for_door`, which chooses both from the source's kind.
    """

    def __init__(
        self,
        source_factory: Callable[[], FrameSource],
        *,
        drop_stale: bool = True,
        on_state: Callable[[str, str], None] | None = None,
        backoff: BackoffPolicy = DEFAULT_BACKOFF,
        retry_first_open: bool = False,
    ) -> None:
        self._factory = source_factory
        self._drop_stale = drop_stale
        self._on_state = on_state
        self._backoff = backoff
        self._retry_first_open = retry_first_open
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._slot: Frame | None = None
        self._state: SourceState = IDLE
        self._message = ""
        self._dropped = 0
        self._frames_read = 0
        self._attempt = 0

    @classmethod
    def for_door(
        cls,
        source_factory: Callable[[], FrameSource],
        *,
        live: bool,
        drop_stale: bool = True,
        on_state: Callable[[str, str], None] | None = None,
        backoff: BackoffPolicy = DOOR_BACKOFF,
    ) -> LatestFrameReader:
        """The reader of a door camera. ``live`` (the source's ``is_live``: webcam, network stream):
        reconnect with ``backoff`` (default :data:`DOOR_BACKOFF`: for ever, every 5 s at most), the
        first open included, since a camera may still be booting or the network down when the door
        starts. Not live (file, folder): no retry; a file that cannot be opened fails at once with
        its message, and the end of the file ends the reader."""
        if live:
            return cls(source_factory, drop_stale=drop_stale, on_state=on_state, backoff=backoff,
                       retry_first_open=True)
        return cls(source_factory, drop_stale=drop_stale, on_state=on_state)

    # ------------------------------------------------------------------ public API
    @property
    def state(self) -> SourceState:
        """Current state (see the module docstring)."""
        with self._cond:
            return self._state

    @property
    def message(self) -> str:
        """Human-readable message that came with the last state change."""
        with self._cond:
            return self._message

    @property
    def dropped(self) -> int:
        """Frames read but replaced by a newer one before :meth:`get` took them."""
        with self._cond:
            return self._dropped

    @property
    def frames_read(self) -> int:
        """Frames read from the source(s) so far."""
        with self._cond:
            return self._frames_read

    @property
    def running(self) -> bool:
        """True while the reader thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the reader thread (once)."""
        if self._thread is not None:
            raise RuntimeError("LatestFrameReader.start() can be called only once; create a new reader.")
        self._thread = threading.Thread(target=self._run, name="LatestFrameReader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the thread to stop, wake it up, and join it (at most ``timeout`` seconds).

        The source is closed by the thread as it exits. If the thread is blocked inside a source's
        ``read()`` longer than ``timeout`` it is left to finish on its own (it is a daemon thread).
        """
        self._stop.set()
        self._set_state(STOPPED, "Stopped")
        with self._cond:
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("Frame reader thread did not stop within %.1f s (blocked in read?)", timeout)

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet returned, waiting for one up to ``timeout`` seconds (None: no
        limit). Returns None on timeout, or once the reader is ended/failed/stopped and no frame is
        left to hand out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._thread is None:  # not the state: the thread may not have left IDLE yet
            raise RuntimeError("Call start() before get().")
        with self._cond:
            while True:
                if self._slot is not None:
                    frame, self._slot = self._slot, None
                    self._cond.notify_all()
                    return frame
                if self._state in FINAL_STATES:
                    return None
                if deadline is None:
                    self._cond.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)

    # ------------------------------------------------------------------ thread side
    def _set_state(self, state: SourceState, message: str) -> None:
        with self._cond:
            if self._state in FINAL_STATES or (state == self._state and message == self._message):
                return
            self._state = state
            self._message = message
            self._cond.notify_all()
        logger.info("Frame source %s: %s", state, message)
        if self._on_state is not None:
            try:
                self._on_state(state, message)
            except Exception:
                logger.exception("on_state callback raised")

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            if not self._drop_stale:
                while self._slot is not None and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
            elif self._slot is not None:
                self._dropped += 1
            self._frames_read += 1
            self._slot = frame
            self._cond.notify_all()

    def _retry_after(self, reason: str) -> bool:
        """Count one reconnection attempt and wait its back-off; False when giving up or stopping."""
        self._attempt += 1
        if self._backoff.gives_up(self._attempt):
            self._set_state(FAILED, f"{reason.rstrip('.')}. Gave up after {self._backoff.max_attempts} "
                                    "reconnection attempts.")
            return False
        delay = self._backoff.delay(self._attempt)
        self._set_state(RECONNECTING, f"{reason.rstrip('.')}. Reconnecting in {delay:.1f} s (attempt {self._attempt}).")
        self._stop.wait(delay)
        return not self._stop.is_set()

    def _open(self) -> FrameSource | None:
        source: FrameSource | None = None
        try:
            source = self._factory()
            source.open()
            return source
        except Exception as exc:
            _safe_close(source)
            reason = _describe(exc)
            logger.debug("Opening the frame source failed", exc_info=True)
            if self._state == CONNECTING and not self._retry_first_open:
                self._set_state(FAILED, reason)
                self._stop.set()
                return None
            if not self._retry_after(reason):
                self._stop.set()
            return None

    def _run(self) -> None:
        source: FrameSource | None = None
        first_frame_after_open = True
        try:
            self._set_state(CONNECTING, "Opening the source")
            while not self._stop.is_set():
                if source is None:
                    source = self._open()
                    if source is None:
                        continue
                    first_frame_after_open = True
                    self._set_state(LIVE, f"Reading {source.name}")
                try:
                    frame = source.read()
                except Exception as exc:
                    reason = f"Lost {source.name}: {_describe(exc)}"
                    frame = None
                else:
                    if frame is None and not source.is_live:
                        self._set_state(ENDED, f"End of {source.name}")
                        return
                    reason = f"{source.name} returned no frame"
                if frame is None:
                    _safe_close(source)
                    source = None
                    if not self._retry_after(reason):
                        return
                    continue
                if first_frame_after_open:
                    self._attempt = 0
                    first_frame_after_open = False
                self._publish(frame)
        except Exception as exc:  # a bug, not a source failure: report it rather than die silently
            logger.exception("Frame reader thread crashed")
            self._set_state(FAILED, f"Frame reader crashed: {_describe(exc)}")
        finally:
            _safe_close(source)
            with self._cond:
                self._cond.notify_all()
