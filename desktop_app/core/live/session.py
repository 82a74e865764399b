"""The live recognition loop, without any UI: frames in, tracked faces and logged events out.

``LiveSession.process`` is what the GUI's capture worker and ``facegate run --headless`` call for
every frame. ``run_headless`` drives a source to the end (or ``max_frames``) and summarises latency.

The loop follows the database while it runs: about twice a second it asks the gate whether another
program committed (``FaceGate.refresh_if_changed``: enrolments, erasures, settings, threshold), and
a person erased meanwhile is never announced. Events that the database refuses (locked, full disk)
wait in the event spool and are written in order about once a second (``FaceGate.flush_events``);
``FrameResult.pending_events`` says how many wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from desktop_app.core.decision.policy import DecisionConfig, DecisionEvent, DecisionPolicy, FrameObservation
from desktop_app.core.doors.context import DoorContext
from desktop_app.core.errors import FaceGateError
from desktop_app.core.face.engine import Analysis
from desktop_app.core.face.quality import recognition_issues
from desktop_app.core.matching.site_strangers import unknown_event_faces
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.records import Person
from desktop_app.core.types import Face, StageTimes
from desktop_app.core.video.latest_frame import LatestFrameReader
from desktop_app.core.video.sources import Frame, open_source
from desktop_app.core.vocabulary import AccessReason, Decision, Direction, FaceState, SourceState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackedFace:
    """One face in one frame. box: (x, y, w, h) pixels; name None when not (yet) recognised;
    score: best person cosine of this frame (-1 when not matched); status: how it is drawn, a
    :class:`~desktop_app.core.vocabulary.FaceState` (recognised, denied, match, unknown, poor-view,
    too-small; each member documents its meaning)."""

    track_id: int
    box: tuple[float, float, float, float]
    name: str | None
    person_id: int | None
    score: float
    status: FaceState
    #: why a POOR_VIEW face is not matched (the first reason, e.g. "poor light: step closer"), else ""
    reason: str = ""


@dataclass(frozen=True)
class LoggedEvent:
    """An event the door decided: its id in the store (None while it waits in the event spool for
    the database), person (None for unknown), decision (granted; denied for a recognised but
    deactivated person; unknown; ambiguous), score, track, and its time (aware UTC datetime, as
    stored); candidates: for ambiguous, the names of the two people the face could not be told
    apart from (best first), else ()."""

    event_id: int | None
    person_id: int | None
    name: str | None
    decision: Decision
    score: float
    track_id: int
    ts: datetime
    candidates: tuple[str, ...] = ()
    #: why (granted; denied: deactivated, not permitted, outside schedule, expired, anti-passback;
    #: unknown; ambiguous); with the decision "granted" "anti-passback" means let through but flagged
    reason: AccessReason | None = None
    #: the door and the camera's direction (None without a door: ``run --source``)
    door: str | None = None
    direction: Direction | None = None
    #: the event's unique id (stable while it waits in the spool; the door output's event_id)
    uid: str = ""
    #: the camera's name, as written on the event
    camera: str = ""


@dataclass(frozen=True)
class FrameResult:
    """What one frame produced: faces, the events logged, per-stage timings (ms), and how many
    events wait for the database (the door status "events pending: N"; 0 normally)."""

    index: int
    faces: tuple[TrackedFace, ...]
    events: tuple[LoggedEvent, ...]
    times: StageTimes
    pending_events: int = 0


#: Seconds between two checks for what other programs committed (one cheap PRAGMA each).
SYNC_INTERVAL_S = 0.5
#: Seconds between two tries to write the events waiting in the spool.
FLUSH_INTERVAL_S = 1.0


class LiveSession:
    """Per-camera live state: face tracks, votes, cooldowns. Not thread-safe: one caller thread.

    Starting a session takes the database as it is now and writes the events a crashed run left
    in the spool (when the database takes them)."""

    def __init__(self, gate: FaceGate, camera: str | None = None, log_unknown: bool = True,
                 door: DoorContext | None = None) -> None:
        self.gate = gate
        #: the door this camera watches: its access rules and anti-passback decide (None: a plain
        #: camera, ``run --source``: enrolled and active is granted)
        self.door = door
        self.camera = (door.camera if door is not None else None) or camera or gate.config.camera.name
        self.log_unknown = log_unknown
        self._refused: set[int] = set()  # tracks whose recognised person the door refused (drawn denied)
        self._next_sync = 0.0
        self._next_flush = 0.0
        self._check_purges = True  # once at start: an erasure left pending by an earlier run
        #: track id -> created_at of the person it was granted as: SQLite may give an erased
        #: person's id to the next one enrolled, whose name must never appear on the old face
        self._held_as: dict[int, datetime] = {}
        self.policy = DecisionPolicy(self._decision_config())
        self.sync()

    def _decision_config(self) -> DecisionConfig:
        self._config_seen = self.gate.config
        return DecisionConfig.from_settings(self.gate.config, self.gate.threshold)

    def refresh(self) -> None:
        """Take new settings / threshold (after enrolment, calibration or a settings change)."""
        self.policy = DecisionPolicy(self._decision_config())

    def sync(self, now: float | None = None) -> None:
        """Follow the database (at most every ``SYNC_INTERVAL_S``) and try to write the spooled
        events (at most every ``FLUSH_INTERVAL_S``). ``process`` calls it; call it also while no
        frame comes. now: ``time.monotonic()`` seconds (default: now). Never raises a storage error."""
        t = time.monotonic() if now is None else now
        gate = self.gate
        if t >= self._next_sync:
            self._next_sync = t + SYNC_INTERVAL_S
            if gate.refresh_if_changed() or gate.config is not self._config_seen:  # another camera may have seen it
                self.policy.config = self._decision_config()  # new settings, same tracks and cooldowns
                self._check_purges = True  # an erasure elsewhere may wait for this door's readers to go
        if t >= self._next_flush:
            self._next_flush = t + FLUSH_INTERVAL_S
            try:
                if gate.pending_events:
                    gate.flush_events()
            except FaceGateError as exc:
                log.warning("Cannot write the spooled events yet: %s", exc)
            if self._check_purges or gate.erasures_pending:  # an erasure a reader held up: finish it
                try:
                    self._check_purges = not gate.finish_pending_purges()
                except FaceGateError as exc:
                    log.warning("Cannot finish a pending erasure yet: %s", exc)

    def process(self, frame: Frame, analysis: Analysis | None = None) -> FrameResult:
        """One frame: track, vote, decide, log. analysis: the frame's faces when already analysed
        (several cameras embedded in one batch: ``FaceEngine.analyze_many``), else analysed here."""
        gate = self.gate
        self.sync()
        threshold = gate.threshold  # recalibrated after enrolment or erasure: follow it, keep the tracks
        if threshold != self.policy.config.threshold:
            self.policy.config = replace(self.policy.config, threshold=threshold)
        if analysis is None:
            analysis = gate.engine.analyze(frame.image)
        t0 = time.perf_counter()
        embs = np.stack([f.embedding for f in analysis.faces]) if analysis.faces else np.zeros((0, 1), np.float32)
        matches = gate.match(embs) if analysis.faces else []
        search_ms = (time.perf_counter() - t0) * 1e3
        usable = [not recognition_issues(f.quality) for f in analysis.faces]
        matches = [m if ok else None for m, ok in zip(matches, usable, strict=True)]
        obs = [FrameObservation(box=f.detection.box, match=m, quality_ok=ok, embedding=f.embedding, quality=f.quality)
               for f, m, ok in zip(analysis.faces, matches, usable, strict=True)]
        assigned, decisions = self.policy.update(frame.ts, obs)
        track_ids = [tid for tid, _ in assigned]
        logged = (self._log(ev, analysis.faces, obs, frame) for ev in decisions
                  if ev.decision != Decision.UNKNOWN or self.log_unknown)
        events = tuple(e for e in logged if e is not None)
        gate.note_unknown_faces(unknown_event_faces(decisions, analysis.faces, obs) if self.log_unknown else [])
        faces: list[TrackedFace] = []
        for tid, face, m, ok in zip(track_ids, analysis.faces, matches, usable, strict=True):
            person = self._held_person(tid, self.policy.granted(tid))  # None: erased meanwhile
            voted = gate.door_person(m.person_id) if m is not None and gate.accepts(m, face.quality) else None
            if person is not None:
                faces.append(TrackedFace(tid, face.detection.box, person.name, person.id,
                                         m.score if m else -1.0,
                                         FaceState.RECOGNISED if person.active and tid not in self._refused
                                         else FaceState.DENIED))
            elif voted is not None and m is not None:
                faces.append(TrackedFace(tid, face.detection.box, voted.name, voted.id, m.score, FaceState.MATCH))
            elif not ok:
                faces.append(TrackedFace(tid, face.detection.box, None, None, -1.0, FaceState.POOR_VIEW,
                                         reason=recognition_issues(face.quality)[0]))
            else:
                faces.append(TrackedFace(tid, face.detection.box, None, None, m.score if m else -1.0,
                                         FaceState.UNKNOWN))
        for gone in self._held_as.keys() - set(track_ids):
            del self._held_as[gone]
        self._refused &= set(track_ids)
        faces.extend(TrackedFace(-1, d.box, None, None, -1.0, FaceState.TOO_SMALL) for d in analysis.too_small)
        t = analysis.times
        times = StageTimes(detect_ms=t.detect_ms, align_ms=t.align_ms, embed_ms=t.embed_ms, search_ms=search_ms)
        return FrameResult(index=frame.index, faces=tuple(faces), events=events, times=times,
                           pending_events=gate.pending_events)

    def _held_person(self, track_id: int, person_id: int | None) -> Person | None:
        """The person a track was granted as, None when erased since (or their id now names another)."""
        if person_id is None:
            return None
        person = self.gate.door_person(person_id)
        if person is None:
            return None
        first = self._held_as.setdefault(track_id, person.created_at)
        return person if first == person.created_at else None

    def _log(self, ev: DecisionEvent, faces: list[Face], obs: list[FrameObservation],
             frame: Frame) -> LoggedEvent | None:
        """Decide and store the event (or spool it); None when its person was erased meanwhile (not
        announced). At a door, a recognised person passes the door's access rules and anti-passback
        (:meth:`DoorContext.verdict`); without one, enrolled and active is granted."""
        gate = self.gate
        snapshot = self._snapshot(ev, faces, obs, frame.image)
        person_id = ev.person_id if ev.decision == Decision.GRANTED else None
        name = None
        decision = ev.decision
        reason = AccessReason.AMBIGUOUS if decision == Decision.AMBIGUOUS else AccessReason.UNKNOWN
        ts = datetime.now(UTC)
        if person_id is not None:
            person = gate.door_person(person_id)
            if person is None:
                log.info("A grant for person %d was dropped: the person was erased.", person_id)
                return None
            name = person.name
            if self.door is not None:
                verdict = self.door.verdict(gate.access_reason(person_id, self.door.door.name, ts), person_id, ts)
                decision, reason = verdict.decision, verdict.reason
            elif person.active:
                decision, reason = Decision.GRANTED, AccessReason.GRANTED
            else:  # recognised, but deactivated: the guard sees who was refused
                decision, reason = Decision.DENIED, AccessReason.DEACTIVATED
            if decision == Decision.DENIED:
                self._refused.add(ev.track_id)
        candidates = tuple(p.name if p else f"person {pid}"
                           for pid, p in ((c, gate.door_person(c)) for c in ev.candidates))
        door = self.door.door.name if self.door is not None else None
        direction = self.door.direction if self.door is not None else None
        rec = gate.record_event(person_id=person_id, score=float(ev.score), decision=decision, camera=self.camera,
                                snapshot=snapshot, track_id=ev.track_id, ts=ts, candidates=ev.candidates,
                                door=door, direction=direction, reason=reason)
        if rec is None:
            return None
        if decision == Decision.GRANTED and person_id is not None and self.door is not None:
            self.door.passed(person_id, ts)
        return LoggedEvent(rec.event_id, person_id, name, decision, float(ev.score), ev.track_id, ts, candidates,
                           reason=reason, door=door, direction=direction, uid=rec.uid, camera=self.camera)

    @staticmethod
    def _snapshot(ev: DecisionEvent, faces: list[Face], obs: list[FrameObservation], image: np.ndarray) -> np.ndarray:
        """The event's face: its aligned crop, else the box cut from the frame."""
        for face, o in zip(faces, obs, strict=True):
            if o.box == ev.box:
                return np.asarray(face.crop)
        x, y, w, h = (round(v) for v in ev.box)
        crop = image[max(0, y):max(0, y) + max(1, h), max(0, x):max(0, x) + max(1, w)]
        return crop if crop.size else image


@dataclass
class RunSummary:
    """Result of a headless run: frames processed, events, per-stage latency percentiles (ms), and
    the events still waiting for the database at the end (kept in the spool for the next start)."""

    frames: int = 0
    pending_events: int = 0
    events: list[LoggedEvent] = field(default_factory=list)
    too_small_frames: int = 0
    faces_seen: int = 0
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {
        "detect": [], "align": [], "embed": [], "search": [], "total": []})
    final_state: str = ""

    def latency_table(self) -> dict[str, dict[str, float]]:
        """{stage: {"mean", "p50", "p95"}} in milliseconds."""
        out = {}
        for stage, values in self.stage_ms.items():
            arr = np.asarray(values or [0.0])
            out[stage] = {"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)),
                          "p95": float(np.percentile(arr, 95))}
        return out


def run_headless(gate: FaceGate, source: str, *, max_frames: int | None = None, realtime: bool = False,
                 on_frame: Callable[[FrameResult], None] | None = None,
                 on_state: Callable[[str, str], None] | None = None) -> RunSummary:
    """Run the live loop on ``source`` without a window, logging events; stops at the end of a file
    source, after ``max_frames``, or on Ctrl+C (a live source is retried for ever when lost)."""
    summary = RunSummary()
    session = LiveSession(gate)
    probe = open_source(source)
    live = probe.is_live
    # A live source (webcam, stream) is a door camera: retried for ever, at start too; a file ends.
    reader = LatestFrameReader.for_door(lambda: open_source(source), live=live, drop_stale=live or realtime,
                                        on_state=on_state)
    reader.start()
    try:
        while max_frames is None or summary.frames < max_frames:
            frame = reader.get(timeout=5.0)
            if frame is None:
                session.sync()  # no picture: still follow the database and write what waits
                if reader.state in (SourceState.ENDED, SourceState.FAILED) or not reader.running:
                    break
                continue
            result = session.process(frame)
            summary.frames += 1
            summary.pending_events = result.pending_events
            summary.events.extend(result.events)
            summary.faces_seen += sum(f.status != FaceState.TOO_SMALL for f in result.faces)
            summary.too_small_frames += any(f.status == FaceState.TOO_SMALL for f in result.faces)
            t = result.times
            for k, v in (("detect", t.detect_ms), ("align", t.align_ms), ("embed", t.embed_ms),
                         ("search", t.search_ms), ("total", t.total_ms)):
                summary.stage_ms[k].append(v)
            if on_frame:
                on_frame(result)
    except KeyboardInterrupt:  # Ctrl+C is how a live door loop stops: end with the summary ("stopped")
        pass
    finally:
        reader.stop()
        summary.final_state = reader.state
        try:  # a last try, so that a short lock does not leave events for the next start
            gate.flush_events()
            summary.pending_events = gate.pending_events
        except FaceGateError as exc:
            log.warning("Events wait for the database: %s", exc)
    return summary
