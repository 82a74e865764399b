"""The capture worker: one long-lived QThread that reads the camera and runs recognition.

:class:`CaptureWorker` (a QObject moved to a QThread by :class:`CaptureController`) loops in its
thread: it keeps a :class:`~desktop_app.core.video.latest_frame.LatestFrameReader` on the chosen source
(only the newest frame is kept, reconnection with back-off), runs ``LiveSession.process`` on each
frame (or the enrolment analysis in ``"enrol"`` mode) and emits signals that Qt queues to the GUI
thread. Commands (open a source, close it, refresh settings, change mode, quit) come in through a
thread-safe queue, so every method of the worker except :meth:`CaptureWorker.run` may be called from
any thread.

Frames are coalesced: a new picture is only sent once the GUI said it consumed the previous one
(:meth:`CaptureWorker.frame_consumed`), so a slow GUI never builds up a queue. Events are never
dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from desktop_app.core.face.several_faces import several_faces_problem
from desktop_app.core.live.session import FrameResult, LiveSession, LoggedEvent
from desktop_app.core.service import FaceGate
from desktop_app.core.types import Face
from desktop_app.core.video.latest_frame import FINAL_STATES, LatestFrameReader
from desktop_app.core.video.sources import FrameSource, VideoFileSource, WebcamSource, open_source

from .qtimage import bgr_to_qimage

log = logging.getLogger(__name__)

LIVE = "live"
ENROL = "enrol"


@dataclass(frozen=True)
class SourceRequest:
    """What to read. spec: camera index ("0"), video file, image folder or URL; realtime: pace a
    video file at its frame rate and drop frames the pipeline cannot keep up with (as a camera
    would); False delivers every frame in order (lock-step); loop: restart a video file at its end;
    width/height: requested webcam capture size, pixels; factory: builds the (unopened) source
    instead of ``spec`` (custom sources)."""

    spec: str
    realtime: bool = True
    loop: bool = False
    width: int | None = None
    height: int | None = None
    factory: Callable[[], FrameSource] | None = None

    def build(self) -> FrameSource:
        """A new, unopened source (SourceError when ``spec`` is not a usable source)."""
        if self.factory is not None:
            return self.factory()
        src = open_source(self.spec)
        if isinstance(src, VideoFileSource):
            src.realtime = self.realtime
            src.loop = self.loop
        elif isinstance(src, WebcamSource):
            src.width, src.height = self.width, self.height
        return src


@dataclass(frozen=True)
class LiveFrame:
    """One processed camera frame for the door view: the picture and what was found on it."""

    image: QImage
    result: FrameResult
    width: int
    height: int


@dataclass(frozen=True)
class DoorEvent:
    """A logged decision, ready to show. event_id: None while it waits for the database (events
    pending); ts: local time; photo: the person's first enrolled crop (112, 112, 3) uint8 BGR or
    None; snapshot: the face crop stored with the event or None."""

    event_id: int | None
    decision: str
    name: str | None
    person_id: int | None
    score: float
    track_id: int
    ts: datetime
    photo: np.ndarray | None = None
    snapshot: np.ndarray | None = None
    #: "ambiguous": the names of the two people the face could not be told apart from
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnrolFrame:
    """One frame analysed for enrolment. face: the main face (None when unusable); problem: why no
    shot can be taken now (no face, several faces, too small) or None; reasons: quality problems of
    ``face`` (empty when good); boxes: (x, y, w, h) pixel boxes of every face seen."""

    image: QImage
    width: int
    height: int
    boxes: tuple[tuple[float, float, float, float], ...]
    face: Face | None
    problem: str | None
    reasons: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class CaptureStats:
    """Live figures. fps: frames processed per second (last ~2 s); latency_ms: mean per-frame
    pipeline time (detect+align+embed+search) over the same frames; frame_ms: mean wall time of a
    whole frame in the worker (pipeline, tracking, event logging); gallery_*: templates/persons;
    dropped: frames the camera delivered that the pipeline had no time for."""

    fps: float
    latency_ms: float
    frame_ms: float
    frames: int
    dropped: int
    gallery_templates: int
    gallery_persons: int
    provider: str
    threshold: float


@dataclass
class _Window:
    times: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=120))

    def add(self, now: float, latency_ms: float, frame_ms: float) -> None:
        self.times.append((now, latency_ms, frame_ms))

    def figures(self, now: float, span_s: float = 2.0) -> tuple[float, float, float]:
        recent = [t for t in self.times if now - t[0] <= span_s]
        if len(recent) < 2:
            lat = recent[0][1] if recent else 0.0
            fr = recent[0][2] if recent else 0.0
            return 0.0, lat, fr
        fps = (len(recent) - 1) / max(recent[-1][0] - recent[0][0], 1e-6)
        return fps, float(np.mean([t[1] for t in recent])), float(np.mean([t[2] for t in recent]))


class CaptureSignals(QObject):
    """The worker's signals, on an object that lives in the GUI thread, so that every receiver,
    a plain function or lambda included, runs in the GUI thread (PySide6 runs a callable that is
    not a QObject slot in the thread of the signal's object; the worker's own thread never returns
    to its event loop while it loops).

    frame_ready(LiveFrame), events_logged(tuple[DoorEvent, ...]), enrol_frame(EnrolFrame),
    state_changed(state, message) with the states of LatestFrameReader plus "closed",
    stats_updated(CaptureStats), error(message), finished(), pending_changed(n): the number of
    events waiting for the database changed (locked, disk full; 0 when all are written).
    """

    frame_ready = Signal(object)
    events_logged = Signal(object)
    enrol_frame = Signal(object)
    state_changed = Signal(str, str)
    stats_updated = Signal(object)
    error = Signal(str)
    finished = Signal()
    pending_changed = Signal(int)


class CaptureWorker(QObject):
    """Reads the source and runs the pipeline in its own thread (see the module docstring).

    Its signals are those of :class:`CaptureSignals` (``worker.frame_ready`` is
    ``worker.signals.frame_ready``), emitted from the worker and reader threads.
    """

    def __init__(self, gate: FaceGate, stats_interval_s: float = 0.5) -> None:
        super().__init__()
        self.signals = CaptureSignals()  # no parent: it stays in the creating (GUI) thread
        self.frame_ready = self.signals.frame_ready
        self.events_logged = self.signals.events_logged
        self.enrol_frame = self.signals.enrol_frame
        self.state_changed = self.signals.state_changed
        self.stats_updated = self.signals.stats_updated
        self.error = self.signals.error
        self.finished = self.signals.finished
        self.pending_changed = self.signals.pending_changed
        self.gate = gate
        self.stats_interval_s = stats_interval_s
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._slot_free = threading.Event()
        self._slot_free.set()
        self._reader: LatestFrameReader | None = None
        self._session: LiveSession | None = None
        self._generation = 0
        self._mode = LIVE
        self._photos: dict[int, np.ndarray | None] = {}
        self._window = _Window()
        self._frames = 0
        self._last_stats = 0.0
        self._last_error = 0.0
        self._source_name = ""
        self._running = threading.Event()
        self._threshold = float("nan")
        self._pending = 0

    # ------------------------------------------------------------------ thread-safe commands
    def open_source(self, request: SourceRequest) -> None:
        """Switch to ``request`` (the previous source is closed first)."""
        self._commands.put(("open", request))

    def close_source(self) -> None:
        self._commands.put(("close", None))

    def refresh(self) -> None:
        """Take new settings, threshold and gallery (after enrolment, erasure, settings changes)."""
        self._commands.put(("refresh", None))

    def set_mode(self, mode: str) -> None:
        """"live" (door recognition, events logged) or "enrol" (quality feedback, nothing logged)."""
        if mode not in (LIVE, ENROL):
            raise ValueError(f"unknown capture mode {mode!r}")
        self._commands.put(("mode", mode))

    def quit(self) -> None:
        """End :meth:`run` (the source is closed)."""
        self._commands.put(("quit", None))

    def frame_consumed(self) -> None:
        """The GUI took the last frame: the next one may be sent."""
        self._slot_free.set()

    @property
    def is_running(self) -> bool:
        return self._running.is_set()

    # ------------------------------------------------------------------ worker thread
    @Slot()
    def run(self) -> None:
        """The loop (runs in the worker thread until :meth:`quit`)."""
        self._running.set()
        try:
            while True:
                if not self._drain_commands(block=self._reader is None):
                    break
                reader = self._reader
                if reader is None:
                    self._follow_database()  # no camera: the events that wait are still written
                    continue
                frame = reader.get(timeout=0.05)
                if frame is None:
                    if reader.state in FINAL_STATES:
                        self._drop_reader()
                    self._follow_database()
                    self._maybe_stats(time.perf_counter())
                    continue
                self._process(frame)
        except Exception as exc:  # a bug: say so rather than freeze the picture silently
            log.exception("Capture worker crashed")
            self.error.emit(f"The camera worker stopped: {exc}")
        finally:
            self._close_reader("closed", "Camera closed")
            self._running.clear()
            self.finished.emit()

    def _drain_commands(self, block: bool) -> bool:
        """Apply pending commands; False on quit."""
        try:
            cmd, arg = self._commands.get(timeout=0.1) if block else self._commands.get_nowait()
        except queue.Empty:
            return True
        while True:
            if cmd == "quit":
                return False
            if cmd == "open":
                self._open(arg)
            elif cmd == "close":
                self._close_reader("closed", "Camera closed")
            elif cmd == "refresh":
                self._photos.clear()
                if self._session is not None:
                    self._session.refresh()
                self._threshold = self.gate.threshold
                self._emit_stats(time.perf_counter())
            elif cmd == "mode":
                self._mode = arg
                if self._session is not None:
                    self._session.refresh()  # a fresh vote after enrolment
            try:
                cmd, arg = self._commands.get_nowait()
            except queue.Empty:
                return True

    def _open(self, request: SourceRequest) -> None:
        self._close_reader(None, "")
        self._generation += 1
        gen = self._generation
        try:
            probe = request.build()
            live = probe.is_live
            self._source_name = probe.name
        except Exception as exc:
            self.state_changed.emit("failed", str(exc))
            return

        def on_state(state: str, message: str) -> None:
            if gen == self._generation:
                self.state_changed.emit(state, message)

        first: list[FrameSource] = [probe]

        def factory() -> FrameSource:
            return first.pop() if first else request.build()

        self._session = LiveSession(self.gate)  # its tracker keeps a name on the face it belongs to
        self._threshold = self.gate.threshold
        self._window = _Window()
        self._reader = LatestFrameReader.for_door(factory, live=live, drop_stale=live or request.realtime,
                                                  on_state=on_state)
        self._reader.start()

    def _drop_reader(self) -> None:
        """The source ended or failed: forget it (its final state was already reported)."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.stop()
        self._emit_stats(time.perf_counter())

    def _close_reader(self, state: str | None, message: str) -> None:
        reader, self._reader = self._reader, None
        self._generation += 1  # the old reader's "stopped" is not reported
        if reader is not None:
            reader.stop()
            if state is not None:
                self.state_changed.emit(state, message)

    def _process(self, frame: Any) -> None:
        t0 = time.perf_counter()
        try:
            if self._mode == ENROL:
                self._process_enrol(frame)
                latency = (time.perf_counter() - t0) * 1e3
            else:
                latency = self._process_live(frame)
        except Exception as exc:
            log.warning("Frame %s failed: %s", getattr(frame, "index", "?"), exc, exc_info=True)
            if time.perf_counter() - self._last_error > 5.0:
                self._last_error = time.perf_counter()
                self.error.emit(f"Recognition failed on a frame: {exc}")
            return
        now = time.perf_counter()
        self._frames += 1
        self._window.add(now, latency, (now - t0) * 1e3)
        self._maybe_stats(now)

    def _follow_database(self) -> None:
        """No frame: the session still follows the database and writes the events that wait."""
        if self._session is None or self._mode != LIVE:
            return
        try:
            self._session.sync()
            self._set_pending(self.gate.pending_events)
        except Exception as exc:  # never let the database stop the camera thread
            log.warning("Following the database failed: %s", exc)

    def _set_pending(self, n: int) -> None:
        if n != self._pending:
            self._pending = n
            self.pending_changed.emit(n)

    def _process_live(self, frame: Any) -> float:
        assert self._session is not None
        result = self._session.process(frame)
        self._set_pending(result.pending_events)
        if result.events:
            self.events_logged.emit(tuple(self._door_event(ev) for ev in result.events))
        if self._slot_free.is_set():
            self._slot_free.clear()
            h, w = frame.image.shape[:2]
            self.frame_ready.emit(LiveFrame(bgr_to_qimage(frame.image), result, w, h))
        return float(result.times.total_ms)

    def _process_enrol(self, frame: Any) -> None:
        if not self._slot_free.is_set():
            return  # the wizard is still busy with the previous frame: skip the analysis too
        analysis = self.gate.analyse(frame.image)
        faces = analysis.faces
        boxes = tuple(f.detection.box for f in faces) + tuple(d.box for d in analysis.too_small)
        face: Face | None = None
        problem: str | None = None
        if not faces:
            problem = ("Too far: come closer to the camera." if analysis.too_small
                       else "No face: look at the camera.")
        else:
            problem = several_faces_problem(faces)
            face = faces[0] if problem is None else None
        h, w = frame.image.shape[:2]
        self._slot_free.clear()
        self.enrol_frame.emit(EnrolFrame(
            image=bgr_to_qimage(frame.image), width=w, height=h, boxes=boxes, face=face, problem=problem,
            reasons=face.quality.reasons if face is not None else (), source=self._source_name,
        ))

    def _door_event(self, ev: LoggedEvent) -> DoorEvent:
        photo = self._photo(ev.person_id) if ev.person_id is not None else None
        try:
            snapshot = self.gate.event_snapshot(ev.event_id) if ev.event_id is not None else None
        except Exception:
            snapshot = None
        return DoorEvent(ev.event_id, ev.decision, ev.name, ev.person_id, ev.score, ev.track_id,
                         datetime.now().astimezone(), photo, snapshot, candidates=ev.candidates)

    def _photo(self, person_id: int) -> np.ndarray | None:
        if person_id not in self._photos:
            try:
                self._photos[person_id] = self.gate.person_photo(person_id)
            except Exception:
                self._photos[person_id] = None
        return self._photos[person_id]

    def _maybe_stats(self, now: float) -> None:
        if now - self._last_stats >= self.stats_interval_s:
            self._emit_stats(now)

    def _emit_stats(self, now: float) -> None:
        self._last_stats = now
        fps, latency, frame_ms = self._window.figures(now)
        reader = self._reader
        gallery = self.gate.gallery_stats()
        threshold = self._threshold
        self.stats_updated.emit(CaptureStats(
            fps=fps, latency_ms=latency, frame_ms=frame_ms, frames=self._frames,
            dropped=reader.dropped if reader is not None else 0,
            gallery_templates=gallery.templates, gallery_persons=gallery.persons,
            provider=self.gate.provider, threshold=threshold,
        ))


class CaptureController(QObject):
    """Owns the worker's QThread (GUI thread side): ``start()`` once, ``shutdown()`` on close."""

    def __init__(self, gate: FaceGate, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = CaptureWorker(gate)
        self.qthread = QThread()
        self.qthread.setObjectName("FaceGateCapture")
        self.worker.moveToThread(self.qthread)
        self.qthread.started.connect(self.worker.run)
        # QThread.quit is thread-safe: call it from the worker thread as run() returns, so that
        # shutdown() can wait on the thread without needing the GUI event loop.
        self.worker.finished.connect(self.qthread.quit, Qt.ConnectionType.DirectConnection)
        self.worker.state_changed.connect(self._remember_state)
        self.request: SourceRequest | None = None
        self.state = "idle"
        self.state_message = ""

    def _remember_state(self, state: str, message: str) -> None:
        self.state, self.state_message = state, message

    @property
    def has_picture(self) -> bool:
        """True while a source is open and delivering (or about to)."""
        return self.state in ("live", "connecting", "reconnecting")

    def start(self) -> None:
        if not self.qthread.isRunning():
            self.qthread.start()

    def open(self, request: SourceRequest) -> None:
        self.request = request
        self.worker.open_source(request)

    def shutdown(self, timeout_ms: int = 8000) -> bool:
        """Stop the camera and join the thread; True when it ended in time."""
        if not self.qthread.isRunning():
            return True
        self.worker.quit()
        return bool(self.qthread.wait(timeout_ms))
