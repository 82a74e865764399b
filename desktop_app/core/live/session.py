"""The live recognition loop, without any UI: frames in, tracked faces and logged events out.

``LiveSession.process`` is what the GUI's capture worker and ``facegate run --headless`` call for
every frame. ``run_headless`` drives a source to the end (or ``max_frames``) and summarises latency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from desktop_app.core.decision.policy import DecisionConfig, DecisionEvent, DecisionPolicy, FrameObservation
from desktop_app.core.face.quality import recognition_issues
from desktop_app.core.service import FaceGate
from desktop_app.core.types import Face, StageTimes
from desktop_app.core.video.latest_frame import LatestFrameReader
from desktop_app.core.video.sources import Frame, open_source
from desktop_app.core.vocabulary import Decision, FaceState, SourceState


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


@dataclass(frozen=True)
class LoggedEvent:
    """An event written to the store: id, person (None for unknown), decision (granted; denied for
    a recognised but deactivated person; unknown), score, track, and
    its time (aware UTC datetime, the same as stored)."""

    event_id: int
    person_id: int | None
    name: str | None
    decision: Decision
    score: float
    track_id: int
    ts: datetime


@dataclass(frozen=True)
class FrameResult:
    """What one frame produced: faces, the events logged, per-stage timings (ms)."""

    index: int
    faces: tuple[TrackedFace, ...]
    events: tuple[LoggedEvent, ...]
    times: StageTimes


class LiveSession:
    """Per-camera live state: face tracks, votes, cooldowns. Not thread-safe: one caller thread."""

    def __init__(self, gate: FaceGate, camera: str | None = None, log_unknown: bool = True) -> None:
        self.gate = gate
        self.camera = camera or gate.config.camera.name
        self.log_unknown = log_unknown
        self.policy = DecisionPolicy(self._decision_config())

    def _decision_config(self) -> DecisionConfig:
        return DecisionConfig.from_settings(self.gate.config, self.gate.threshold)

    def refresh(self) -> None:
        """Take new settings / threshold (after enrolment, calibration or a settings change)."""
        self.policy = DecisionPolicy(self._decision_config())

    def process(self, frame: Frame) -> FrameResult:
        gate = self.gate
        threshold = gate.threshold  # recalibrated after enrolment or erasure: follow it, keep the tracks
        if threshold != self.policy.config.threshold:
            self.policy.config = replace(self.policy.config, threshold=threshold)
        analysis = gate.engine.analyze(frame.image)
        t0 = time.perf_counter()
        embs = np.stack([f.embedding for f in analysis.faces]) if analysis.faces else np.zeros((0, 1), np.float32)
        matches = gate.match(embs) if analysis.faces else []
        search_ms = (time.perf_counter() - t0) * 1e3
        usable = [not recognition_issues(f.quality) for f in analysis.faces]
        matches = [m if ok else None for m, ok in zip(matches, usable, strict=True)]
        obs = [FrameObservation(box=f.detection.box, match=m, quality_ok=ok, embedding=f.embedding)
               for f, m, ok in zip(analysis.faces, matches, usable, strict=True)]
        assigned, decisions = self.policy.update(frame.ts, obs)
        track_ids = [tid for tid, _ in assigned]
        events = tuple(self._log(ev, analysis.faces, obs, frame) for ev in decisions
                       if ev.decision == Decision.GRANTED or self.log_unknown)
        faces: list[TrackedFace] = []
        for tid, face, m, ok in zip(track_ids, analysis.faces, matches, usable, strict=True):
            held = self.policy.granted(tid)
            person = gate.store.get_person(held) if held is not None else None
            if person is not None:
                faces.append(TrackedFace(tid, face.detection.box, person.name, person.id,
                                         m.score if m else -1.0,
                                         FaceState.RECOGNISED if person.active else FaceState.DENIED))
            elif gate.accepts(m) and m is not None:
                voted = gate.store.get_person(m.person_id)
                faces.append(TrackedFace(tid, face.detection.box, voted.name if voted else None,
                                         m.person_id, m.score, FaceState.MATCH))
            elif not ok:
                faces.append(TrackedFace(tid, face.detection.box, None, None, -1.0, FaceState.POOR_VIEW))
            else:
                faces.append(TrackedFace(tid, face.detection.box, None, None, m.score if m else -1.0,
                                         FaceState.UNKNOWN))
        faces.extend(TrackedFace(-1, d.box, None, None, -1.0, FaceState.TOO_SMALL) for d in analysis.too_small)
        t = analysis.times
        times = StageTimes(detect_ms=t.detect_ms, align_ms=t.align_ms, embed_ms=t.embed_ms, search_ms=search_ms)
        return FrameResult(index=frame.index, faces=tuple(faces), events=events, times=times)

    def _log(self, ev: DecisionEvent, faces: list[Face], obs: list[FrameObservation], frame: Frame) -> LoggedEvent:
        gate = self.gate
        snapshot = self._snapshot(ev, faces, obs, frame.image)
        person_id = ev.person_id if ev.decision == Decision.GRANTED else None
        name = None
        decision = ev.decision
        if person_id is not None:
            person = gate.store.get_person(person_id)
            name = person.name if person else None
            if person is not None and not person.active:
                decision = Decision.DENIED  # recognised, but deactivated: the guard sees who was refused
        ts = datetime.now(UTC)
        event_id = -1 if gate.read_only else gate.store.log_event(  # read-only: shown, not saved
            person_id=person_id, score=float(ev.score), decision=decision, camera=self.camera,
            model_sha256=gate.model.sha256, snapshot=snapshot, track_id=ev.track_id, ts=ts,
        )
        return LoggedEvent(event_id, person_id, name, decision, float(ev.score), ev.track_id, ts)

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
    """Result of a headless run: frames processed, events, per-stage latency percentiles (ms)."""

    frames: int = 0
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
    source, after ``max_frames``, or when a live source is lost for good."""
    summary = RunSummary()
    session = LiveSession(gate)
    probe = open_source(source)
    live = probe.is_live
    reader = LatestFrameReader(lambda: open_source(source), drop_stale=live or realtime, on_state=on_state)
    reader.start()
    try:
        while max_frames is None or summary.frames < max_frames:
            frame = reader.get(timeout=5.0)
            if frame is None:
                if reader.state in (SourceState.ENDED, SourceState.FAILED) or not reader.running:
                    break
                continue
            result = session.process(frame)
            summary.frames += 1
            summary.events.extend(result.events)
            summary.faces_seen += sum(f.status != FaceState.TOO_SMALL for f in result.faces)
            summary.too_small_frames += any(f.status == FaceState.TOO_SMALL for f in result.faces)
            t = result.times
            for k, v in (("detect", t.detect_ms), ("align", t.align_ms), ("embed", t.embed_ms),
                         ("search", t.search_ms), ("total", t.total_ms)):
                summary.stage_ms[k].append(v)
            if on_frame:
                on_frame(result)
    finally:
        reader.stop()
        summary.final_state = reader.state
    return summary
