"""The live recognition loop, without any UI: frames in, tracked faces and logged events out.

``LiveSession.process`` is what the GUI's capture worker and ``facegate run --headless`` call for
every frame. ``run_headless`` drives a source to the end (or ``max_frames``) and summarises latency.

The loop follows the database while it runs: about twice a second it asks the gate whether another
program committed (``FaceGate.refresh_if_changed``: enrolments, erasures, settings, threshold), and
a person erased meanwhile is never announced. Events that the database refuses (locked, full disk)
wait in the event spool and are written in order about once a second (``FaceGate.flush_events``);
``FrameResult.pending_events`` says how many wait.

Liveness (presentation-attack detection, :mod:`desktop_app.core.liveness`): with a mode other than
off (the run's override, else the door's mode, else the ``liveness`` settings), every tracked face
is fed to the camera's :class:`~desktop_app.core.liveness.LivenessTracks` from its first frame; a
grant waits until the face's check says live (the face is drawn ``checking``, with a prompt); a
face judged not live is one ``spoof`` event (reason "spoof suspected", its snapshot and the
check's reasons) and is never granted. With the mode off nothing changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from desktop_app.core.decision.policy import DecisionConfig, DecisionEvent, DecisionPolicy, FrameObservation
from desktop_app.core.decision.reuse import EmbeddingReuse, ReuseRules
from desktop_app.core.doors.context import DoorContext
from desktop_app.core.errors import FaceGateError
from desktop_app.core.face.engine import FaceEngine, FrameFaces
from desktop_app.core.face.quality import recognition_issues
from desktop_app.core.liveness import FaceObservation, LivenessSettings, LivenessTracks, LivenessVerdict
from desktop_app.core.matching.accept import near_decision
from desktop_app.core.matching.site_strangers import unknown_event_faces
from desktop_app.core.privacy.retention import RetentionScheduler
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.records import Person
from desktop_app.core.types import Face, PersonMatch, StageTimes
from desktop_app.core.video.latest_frame import LatestFrameReader
from desktop_app.core.video.sources import Frame, open_source
from desktop_app.core.vocabulary import (
    AccessReason,
    Decision,
    Direction,
    FaceState,
    LivenessMode,
    SourceState,
    TtaMode,
)

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
    #: for a CHECKING face, what the door asks of the person: :data:`KEEP_LOOKING`, or the
    #: challenge action ("turn left", "turn right", "look up"); else ""
    prompt: str = ""


@dataclass(frozen=True)
class LoggedEvent:
    """An event the door decided: its id in the store (None while it waits in the event spool for
    the database), person (None for unknown), decision (granted; denied for a recognised but
    deactivated person; unknown; ambiguous; spoof, with the person the picture looks like when
    the face voted for one), score, track, and its time (aware UTC datetime, as
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
    #: for a spoof event, why the liveness check refused the face (sentences), else ()
    liveness: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameResult:
    """What one frame produced: faces, the events logged, per-stage timings (ms), how many
    events wait for the database (the door status "events pending: N"; 0 normally), and how many
    faces were embedded (flip-averaged, averaged over the alignment views) this frame."""

    index: int
    faces: tuple[TrackedFace, ...]
    events: tuple[LoggedEvent, ...]
    times: StageTimes
    pending_events: int = 0
    #: faces embedded this frame (the others reused their track's embedding)
    embedded: int = 0
    #: faces whose embedding got the test-time flip pass this frame because their score was near a decision
    flipped: int = 0
    #: faces whose embedding was averaged over the alignment views this frame (``alignment_views``:
    #: always, or near a decision), whether or not a view found the face again
    viewed: int = 0
    #: milliseconds the liveness checks of this frame's faces took (0 with liveness off)
    liveness_ms: float = 0.0


#: Seconds between two checks for what other programs committed (one cheap PRAGMA each).
SYNC_INTERVAL_S = 0.5
#: Seconds between two tries to write the events waiting in the spool.
FLUSH_INTERVAL_S = 1.0
#: What a face whose liveness is not decided yet is asked (passive mode).
KEEP_LOOKING = "keep looking at the camera"


class LiveSession:
    """Per-camera live state: face tracks, votes, cooldowns. Not thread-safe: one caller thread.

    Starting a session takes the database as it is now and writes the events a crashed run left
    in the spool (when the database takes them)."""

    def __init__(self, gate: FaceGate, camera: str | None = None, log_unknown: bool = True,
                 door: DoorContext | None = None, liveness: LivenessMode | None = None) -> None:
        self.gate = gate
        #: the run's liveness mode (``run --liveness``), over the door's and the settings' (None: none)
        self.liveness_override = None if liveness is None else LivenessMode(liveness)
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
        #: each track's last embedding, reused while its face stays in view (decision/reuse.py)
        self._reuse = EmbeddingReuse()
        self._reuse_owner: tuple[DecisionPolicy, str] | None = None
        #: track id -> (its last match, the threshold then): a reused embedding must give the same
        self._reuse_keys: dict[int, tuple[PersonMatch | None, float]] = {}
        #: the liveness check of every face track (mode off: every face is live at once)
        self.liveness: LivenessTracks = gate.liveness_tracks(self._liveness_settings())
        #: tracks the liveness check refused (never granted; their spoof event is logged or was held
        #: back by the cooldown); person id -> frame time of the last spoof event naming them
        self._spoofed: set[int] = set()
        self._spoof_logged: dict[int, float] = {}
        #: track id -> (rank, face): the best view of each face track so far, kept with its event
        self._best_faces: dict[int, tuple[float, Face]] = {}
        self.sync()

    def _liveness_settings(self) -> LivenessSettings:
        """The liveness settings of this camera: the installation's, with the mode of the run, else
        of the door, else of the settings."""
        base = self.gate.config.liveness
        door_mode = self.door.door.liveness if self.door is not None else None
        mode = self.liveness_override or door_mode or base.mode
        return base if mode == base.mode else base.model_copy(update={"mode": mode})

    @property
    def liveness_mode(self) -> LivenessMode:
        """The liveness mode this camera applies."""
        return self.liveness.mode

    def _decision_config(self) -> DecisionConfig:
        self._config_seen = self.gate.config
        return DecisionConfig.from_settings(self.gate.config, self.gate.threshold)

    def refresh(self) -> None:
        """Take new settings / threshold (after enrolment, calibration or a settings change)."""
        self.policy = DecisionPolicy(self._decision_config())
        self.liveness = self.gate.liveness_tracks(self._liveness_settings())  # new tracks: new checks
        self._spoofed.clear()

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
                settings = self._liveness_settings()
                if settings != self.liveness.settings:  # new liveness settings: the checks start again
                    self.liveness = self.gate.liveness_tracks(settings)
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

    def process(self, frame: Frame) -> FrameResult:
        """Run one frame of this camera: detect, embed what needs it, match, decide, log."""
        return process_frames([(self, frame)])[0]

    # The stages of process (process_frames runs them for several cameras, embedding together).
    def _begin(self, frame: Frame) -> _Pending:
        """Follow the database, detect and align, and plan which faces reuse their track's embedding."""
        gate = self.gate
        self.sync()
        threshold = gate.threshold  # recalibrated after enrolment or erasure: follow it, keep the tracks
        if threshold != self.policy.config.threshold:
            self.policy.config = replace(self.policy.config, threshold=threshold)
        engine = gate.engine
        rec = gate.config.recognition
        mode = TtaMode(rec.flip_tta) if engine.embedder.flip else TtaMode.NEVER
        views = TtaMode(rec.alignment_views)
        frames = gate.config.decision.reuse_frames
        if (self._reuse_owner != (self.policy, gate.model.sha256)
                or self._reuse.rules.max_frames != frames):  # new tracks or another model: nothing to reuse
            self._reuse = EmbeddingReuse(ReuseRules(max_frames=frames))
            self._reuse_owner = (self.policy, gate.model.sha256)
            self._reuse_keys.clear()
        staged = engine.detect_and_align(frame.image)
        plan = self._reuse.plan(staged.faces, self.policy.tracks, self.policy.settled)
        faces: list[Face | None] = [None if t is None else self._reuse.reused_face(t, f)
                                    for t, f in zip(plan, staged.faces, strict=True)]
        return _Pending(self, frame, engine, staged, mode, views, rec.flip_band, threshold, plan, faces,
                        [None] * len(staged.faces))

    def _match(self, p: _Pending, idx: Sequence[int]) -> None:
        """Match the faces ``idx`` of ``p`` (their embeddings are set) against the gallery."""
        if not idx:
            return
        t0 = time.perf_counter()
        embs = np.stack([p.face(i).embedding for i in idx])
        for i, m in zip(idx, self.gate.match(embs, p.engine.embedder.sha256), strict=True):
            p.matches[i] = m
        p.search_ms += (time.perf_counter() - t0) * 1e3

    def _near(self, p: _Pending, i: int) -> bool:
        """Face ``i`` lacks a test-time augmentation run near the threshold (the flip, the alignment
        views) and its match is near a decision: it needs them."""
        face = p.face(i)
        return (((p.mode is TtaMode.NEAR_THRESHOLD and not face.flip_averaged)
                 or (p.views is TtaMode.NEAR_THRESHOLD and not face.views_tried))
                and near_decision(p.matches[i], p.threshold, self.policy.config.margin, p.band, face.quality))

    def _check_reused(self, p: _Pending) -> None:
        """Match the reused embeddings; give up the reuse where the verdict could differ from the last
        frame's (gallery or threshold changed) or where the flip would be needed."""
        idx = [i for i, t in enumerate(p.plan) if t is not None]
        self._match(p, idx)
        for i in idx:
            tid = p.plan[i]
            assert tid is not None
            key = self._reuse_keys.get(tid)
            if key is None or not _same_match(key[0], p.matches[i]) or key[1] != p.threshold or self._near(p, i):
                p.plan[i] = None
                p.faces[i] = None
                p.matches[i] = None

    def _finish(self, p: _Pending) -> FrameResult:
        """Decide and log, once every face of ``p`` has its embedding and match."""
        gate = self.gate
        frame = p.frame
        faces = [p.face(i) for i in range(len(p.faces))]
        matches = list(p.matches)
        usable = [not recognition_issues(f.quality) for f in faces]
        matches = [m if ok else None for m, ok in zip(matches, usable, strict=True)]
        obs = [FrameObservation(box=f.detection.box, match=m, quality_ok=ok, embedding=f.embedding, quality=f.quality)
               for f, m, ok in zip(faces, matches, usable, strict=True)]
        verdicts: dict[int, LivenessVerdict] = {}
        live_ms = 0.0

        def hold(ids: Sequence[int]) -> set[int]:
            """Feed every face to its track's liveness check; the tracks whose grant must wait."""
            nonlocal live_ms
            t_live = time.perf_counter()
            for tid, face in zip(ids, faces, strict=True):
                verdicts[tid] = self.liveness.update(tid, FaceObservation.from_detection(
                    frame.image, face.detection, frame.ts))
            live_ms = (time.perf_counter() - t_live) * 1e3
            return {tid for tid, v in verdicts.items() if v.live is not True}

        checking = self.liveness.mode is not LivenessMode.OFF
        assigned, decisions = self.policy.update(frame.ts, obs, hold=hold if checking else None)
        track_ids = [tid for tid, _ in assigned]
        spoofs: list[LoggedEvent] = []
        if checking:
            alive = {t.track_id for t in self.policy.tracks}
            self.liveness.keep_only(alive)
            self._spoofed &= alive
            for i, tid in enumerate(track_ids):
                if verdicts[tid].live is False and tid not in self._spoofed and self.policy.granted(tid) is None:
                    self._spoofed.add(tid)
                    spoof = self._log_spoof(tid, verdicts[tid], faces[i], matches[i], frame)
                    if spoof is not None:
                        spoofs.append(spoof)
            decisions = [ev for ev in decisions if ev.track_id not in self._spoofed]  # a spoof is final
        reused = [t is not None for t in p.plan]
        if any(t is not None and t != tid for t, tid in zip(p.plan, track_ids, strict=True)):
            log.warning("A reused embedding went to another track; embeddings are no longer reused for now.")
            reused = [False] * len(reused)
            self._reuse.clear()
        self._reuse.remember(track_ids, faces, reused)
        self._best_faces = best_views(self._best_faces, track_ids, faces, {t.track_id for t in self.policy.tracks})
        self._reuse_keys = {tid: (m, p.threshold) for tid, m in zip(track_ids, p.matches, strict=True)}
        logged = (self._log(ev, faces, obs, frame) for ev in decisions
                  if ev.decision != Decision.UNKNOWN or self.log_unknown)
        events = (*spoofs, *(e for e in logged if e is not None))
        strangers = unknown_event_faces(decisions, faces, obs) if self.log_unknown else []
        strangers = _as_templates(p, strangers)  # the stranger pool calibrates templates: embedded as they are
        gate.note_unknown_faces(strangers)
        out: list[TrackedFace] = []
        for tid, face, m, ok in zip(track_ids, faces, matches, usable, strict=True):
            person = self._held_person(tid, self.policy.granted(tid))  # None: erased meanwhile
            voted = gate.door_person(m.person_id) if m is not None and gate.accepts(m, face.quality) else None
            verdict = verdicts.get(tid)
            prompt = self.liveness.prompt(tid) if checking and person is None else None
            lead = self.policy.leading(tid) if checking and person is None else None
            if checking and person is None and tid in self._spoofed:
                out.append(TrackedFace(tid, face.detection.box, None, None, m.score if m else -1.0, FaceState.SPOOF,
                                       reason=AccessReason.SPOOF.value))
            elif checking and person is None and verdict is not None and verdict.live is None and (
                    prompt is not None or voted is not None or lead is not None):
                # the grant (if any) waits for the check: say so, with the challenge's action
                who = voted or (gate.door_person(lead) if lead is not None else None)
                out.append(TrackedFace(tid, face.detection.box, who.name if who else None, who.id if who else None,
                                       m.score if m else -1.0, FaceState.CHECKING,
                                       prompt=prompt.value if prompt is not None else KEEP_LOOKING))
            elif person is not None:
                out.append(TrackedFace(tid, face.detection.box, person.name, person.id,
                                       m.score if m else -1.0,
                                       FaceState.RECOGNISED if person.active and tid not in self._refused
                                       else FaceState.DENIED))
            elif voted is not None and m is not None:
                out.append(TrackedFace(tid, face.detection.box, voted.name, voted.id, m.score, FaceState.MATCH))
            elif not ok:
                out.append(TrackedFace(tid, face.detection.box, None, None, -1.0, FaceState.POOR_VIEW,
                                       reason=recognition_issues(face.quality)[0]))
            else:
                out.append(TrackedFace(tid, face.detection.box, None, None, m.score if m else -1.0,
                                       FaceState.UNKNOWN))
        for gone in self._held_as.keys() - set(track_ids):
            del self._held_as[gone]
        self._refused &= set(track_ids)
        out.extend(TrackedFace(-1, d.box, None, None, -1.0, FaceState.TOO_SMALL) for d in p.staged.too_small)
        st = p.staged
        times = StageTimes(detect_ms=st.detect_ms, align_ms=st.align_ms, embed_ms=p.embed_ms, search_ms=p.search_ms)
        return FrameResult(index=frame.index, faces=tuple(out), events=events, times=times,
                           pending_events=gate.pending_events, embedded=sum(not r for r in reused),
                           flipped=p.flipped, viewed=p.viewed, liveness_ms=live_ms)

    def _log_spoof(self, track_id: int, verdict: LivenessVerdict, face: Face, match: PersonMatch | None,
                   frame: Frame) -> LoggedEvent | None:
        """Store the spoof event of a track the liveness check refused: the person it looks like (its
        leading vote, else this frame's accepted match; None for a stranger's picture), the frame
        around the face as its snapshot (the print's edge or the phone shows), the check's reasons.
        None when held back: the same person's picture was reported less than ``cooldown_s`` ago
        (the track stays refused), or that person was erased meanwhile."""
        gate = self.gate
        pid = self.policy.leading(track_id)
        if pid is None and match is not None and gate.accepts(match, face.quality):
            pid = match.person_id
        person = gate.door_person(pid) if pid is not None else None
        pid = person.id if person is not None else None
        if pid is not None:
            last = self._spoof_logged.get(pid)
            cooldown = self.policy.config.cooldown_s
            if last is not None and 0.0 <= frame.ts - last < cooldown:
                log.info("A spoof of %s at %s was not logged again (cooldown).", person.name if person else pid,
                         self.camera)
                return None
            self._spoof_logged = {k: t for k, t in self._spoof_logged.items() if 0.0 <= frame.ts - t < cooldown}
            self._spoof_logged[pid] = frame.ts
        score = float(match.score) if match is not None and pid is not None and match.person_id == pid else -1.0
        ts = datetime.now(UTC)
        door = self.door.door.name if self.door is not None else None
        direction = self.door.direction if self.door is not None else None
        reasons = tuple(verdict.reasons) or ("not live",)
        rec = gate.record_event(person_id=pid, score=score, decision=Decision.SPOOF, camera=self.camera,
                                snapshot=_context_crop(frame.image, face.detection.box), track_id=track_id, ts=ts,
                                door=door, direction=direction, reason=AccessReason.SPOOF, liveness=reasons)
        if rec is None:
            return None
        log.warning("Spoof suspected at %s (track %d%s): %s", self.camera, track_id,
                    f", looks like {person.name}" if person is not None else "", "; ".join(reasons))
        return LoggedEvent(rec.event_id, pid, person.name if person is not None else None, Decision.SPOOF, score,
                           track_id, ts, reason=AccessReason.SPOOF, door=door, direction=direction, uid=rec.uid,
                           camera=self.camera, liveness=reasons)

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
        best = self._best_faces.get(ev.track_id)
        rec = gate.record_event(person_id=person_id, score=float(ev.score), decision=decision, camera=self.camera,
                                snapshot=snapshot, track_id=ev.track_id, ts=ts, candidates=ev.candidates,
                                door=door, direction=direction, reason=reason,
                                face=best[1] if best is not None else _face_at(ev, faces, obs))
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


def view_rank(face: Face) -> float:
    """How good a view of a face is, to keep the best of a track (higher is better): a face that
    may be matched (no pose or blur issue) before any other; then larger, sharper, more frontal."""
    q = face.quality
    rank = min(q.inter_ocular_px, 60.0) / 60.0 + 0.5 * min(q.sharpness, 300.0) / 300.0
    rank -= abs(q.yaw) / 60.0 + abs(q.pitch) / 90.0
    return rank + (10.0 if not recognition_issues(q) else 0.0)


def best_views(best: dict[int, tuple[float, Face]], track_ids: Sequence[int], faces: Sequence[Face],
               alive: set[int]) -> dict[int, tuple[float, Face]]:
    """``best`` (track id -> (rank, face)) updated with this frame's faces, for the tracks still alive."""
    out = {tid: v for tid, v in best.items() if tid in alive}
    for tid, face in zip(track_ids, faces, strict=True):
        rank = view_rank(face)
        if tid in alive and (tid not in out or rank > out[tid][0]):
            out[tid] = (rank, face)
    return out


def _face_at(ev: DecisionEvent, faces: Sequence[Face], obs: Sequence[FrameObservation]) -> Face | None:
    """The face of this frame behind a decision (matched by box), None when not found."""
    return next((f for f, o in zip(faces, obs, strict=True) if o.box == ev.box), None)


def _context_crop(image: np.ndarray, box: tuple[float, float, float, float], scale: float = 2.2) -> np.ndarray:
    """The frame around a face box: ``scale`` times the box, centred on it, clipped to the frame
    ((h, w, 3) uint8 BGR; the whole frame when the box is empty)."""
    x, y, w, h = box
    cx, cy, half = x + w / 2, y + h / 2, max(w, h) * scale / 2
    H, W = image.shape[:2]
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(W, int(cx + half)), min(H, int(cy + half))
    crop = image[y0:y1, x0:x1]
    return crop if crop.size else image


def _same_match(a: PersonMatch | None, b: PersonMatch | None, tol: float = 1e-5) -> bool:
    """The same people and scores (to float rounding of a batched search)."""
    if a is None or b is None:
        return a is b
    return (a.person_id == b.person_id and a.second_person_id == b.second_person_id
            and abs(a.score - b.score) <= tol and abs(a.second_score - b.second_score) <= tol)


@dataclass(eq=False)
class _Pending:
    """One camera's frame between the stages of :func:`process_frames`: faces[i] is None until face
    i has its embedding; plan[i] the track whose embedding it reuses (None: embedded this frame)."""

    session: LiveSession
    frame: Frame
    engine: FaceEngine
    staged: FrameFaces
    mode: TtaMode
    views: TtaMode
    band: float
    threshold: float
    plan: list[int | None]
    faces: list[Face | None]
    matches: list[PersonMatch | None]
    embed_ms: float = 0.0
    search_ms: float = 0.0
    flipped: int = 0
    viewed: int = 0

    def face(self, i: int) -> Face:
        f = self.faces[i]
        assert f is not None, "face not embedded yet"
        return f


def _as_templates(p: _Pending, faces: Sequence[Face]) -> list[Face]:
    """``faces`` of ``p``'s frame embedded as templates are (flip-averaged, averaged over the alignment
    views, as the settings say), reusing what each already has. A face averaged over several views
    is flipped through :meth:`FaceEngine.embed_views` (every alignment mirrored), never through
    ``mirror_refine``, which knows only the detection's own crop."""
    flip = p.mode is not TtaMode.NEVER
    if p.views is TtaMode.NEVER:
        return p.engine.mirror_refine(faces) if flip else list(faces)
    out = list(faces)
    todo = [k for k, f in enumerate(faces) if not f.views_tried or (flip and not f.flip_averaged)]
    if todo:
        done = p.engine.embed_views([(p.frame.image, faces[k]) for k in todo], flip=flip)
        for k, face in zip(todo, done, strict=True):
            out[k] = face
    return out


def _embed_together(jobs: Sequence[tuple[_Pending, int]], refine: bool) -> None:
    """Embed (or, with ``refine``, complete with the test-time augmentations run near the threshold:
    the flip, the alignment views) the listed faces: one embedder call per engine and kind of work
    for all the cameras' faces; each frame is charged the time of the calls it was in."""
    groups: dict[tuple[int, bool, bool], list[tuple[_Pending, int]]] = {}
    for p, i in jobs:
        flip = p.mode is TtaMode.ALWAYS or (refine and p.mode is TtaMode.NEAR_THRESHOLD)
        views = p.views is TtaMode.ALWAYS or (refine and p.views is TtaMode.NEAR_THRESHOLD)
        groups.setdefault((id(p.engine), flip, views), []).append((p, i))
    for (_, flip, views), group in groups.items():
        engine = group[0][0].engine
        t0 = time.perf_counter()
        if views:
            done = engine.embed_views([(p.frame.image, p.face(i) if refine else p.staged.faces[i])
                                       for p, i in group], flip=flip)
        elif refine:
            done = engine.mirror_refine([p.face(i) for p, i in group])
        else:
            done = engine.embed_faces([p.staged.faces[i] for p, i in group], flip=flip)
        ms = (time.perf_counter() - t0) * 1e3
        for (p, i), face in zip(group, done, strict=True):
            before = p.faces[i]
            p.faces[i] = face
            p.flipped += int(refine and p.mode is TtaMode.NEAR_THRESHOLD)
            p.viewed += int(views and (before is None or not before.views_tried))
        for p in {id(p): p for p, _ in group}.values():
            p.embed_ms += ms


def process_frames(work: Sequence[tuple[LiveSession, Frame]]) -> list[FrameResult]:
    """Process one frame for each of several cameras (sessions) at once; results in the same order.

    What each session gets is what its own :meth:`LiveSession.process` would give (to float
    rounding): only the embedding work is shared. Stages: every session follows its database,
    detects and aligns its frame, and plans which faces reuse their track's embedding
    (:mod:`~desktop_app.core.decision.reuse`); the faces that need an embedding, from all the
    frames, are embedded in one embedder call per engine (sessions of one ``FaceGate`` share one);
    with ``flip_tta`` or ``alignment_views`` "near-threshold" the plain embeddings whose match is near
    a decision get the mirror pass or the alignment views, again in one call per kind of work; then
    each session decides and logs in order.

    A session must appear at most once per call (its frames are consecutive). Not thread-safe: call
    it from one thread (each session's own rule). ``FrameResult.times.embed_ms`` is the time of the
    shared embedder calls the frame took part in.
    """
    if len({id(s) for s, _ in work}) != len(work):
        raise ValueError("A session appears twice in one process_frames call; give it one frame at a time.")
    pend = [s._begin(f) for s, f in work]
    for p in pend:
        p.session._check_reused(p)
    _embed_together([(p, i) for p in pend for i, f in enumerate(p.faces) if f is None], refine=False)
    for p in pend:
        p.session._match(p, [i for i, t in enumerate(p.plan) if t is None])
    near = [(p, i) for p in pend for i, t in enumerate(p.plan) if t is None and p.session._near(p, i)]
    _embed_together(near, refine=True)
    for p in {id(p): p for p, _ in near}.values():
        p.session._match(p, [i for q, i in near if q is p])
    return [p.session._finish(p) for p in pend]


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
                 on_state: Callable[[str, str], None] | None = None,
                 liveness: LivenessMode | None = None) -> RunSummary:
    """Run the live loop on ``source`` without a window, logging events; stops at the end of a file
    source, after ``max_frames``, or on Ctrl+C (a live source is retried for ever when lost).
    liveness: the liveness mode of this run (None: the settings')."""
    summary = RunSummary()
    session = LiveSession(gate, liveness=liveness)
    retention = RetentionScheduler(gate)  # expired events and snapshots: at start, then daily, off the loop
    retention.start()
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
        retention.stop()
        reader.stop()
        summary.final_state = reader.state
        try:  # a last try, so that a short lock does not leave events for the next start
            gate.flush_events()
            summary.pending_events = gate.pending_events
        except FaceGateError as exc:
            log.warning("Events wait for the database: %s", exc)
    return summary
