"""Turning per-frame matches into door/attendance decisions: N-of-M voting per track, a per-person
cooldown, and one "unknown" event per stranger track.

Per frame, every face is associated to a track (:class:`~desktop_app.core.decision.tracking.IouTracker`).
A frame *votes* for person P when its face passed the quality gate, its best match is P with
``score >= threshold`` and ``score - second_score >= margin``. Then, per track:

- **granted**: P has at least ``votes_needed`` votes among the track's last ``window`` frames and
  no other person has a vote in that window (a track whose votes are split between people never
  grants; after a stray vote for someone else, P must wait until it slides out of the window).
  One event per (track, person). Frames whose face failed the quality gate take a place in the
  window without voting, so votes must be close together in time.
- **cooldown**: a person is announced at most once per ``cooldown_s`` seconds, across tracks
  (stepping out of view and back in yields one event). The clock starts at the last *announced*
  event; a grant inside the cooldown is silent and does not extend it.
- **unknown**: a track that has not been granted emits one "unknown" event once it has had
  ``unknown_after`` quality-passing frames without an accepted vote (cumulative, not necessarily
  consecutive). A track that later reaches a grant still grants.
- **ambiguous**: a frame is *ambiguous* when its best two persons both reach the threshold but
  the margin fails (two enrolled people the face cannot be told apart from). A track that has
  not been granted, and has no accepted vote in its window, emits one "ambiguous" event (no
  person; ``candidates`` the two person ids, best first) once ``votes_needed`` of its last
  ``window`` frames were ambiguous. It never grants; the track gets no "unknown" event after it
  (the face is not a stranger: staff must tell who it is).
- **held grants** (liveness): ``update(..., hold=...)`` names the tracks whose grant must wait
  (their liveness is not decided, or not live). A held track's votes still count, but it is not
  granted, nor its person announced (no cooldown starts), until a frame in which it is not held
  and its window still holds the votes: a live person is granted in the first such frame.

Timestamps are seconds from a monotonic clock; the policy never reads a clock itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import ValidationError

from desktop_app.core.config import AppConfig, DecisionSettings, RecognitionSettings, describe_validation_error
from desktop_app.core.decision.tracking import Box, IouTracker, Track, as_box
from desktop_app.core.matching.accept import accepts
from desktop_app.core.types import FaceQuality, PersonMatch
from desktop_app.core.vocabulary import Decision

GRANTED = Decision.GRANTED
UNKNOWN = Decision.UNKNOWN
AMBIGUOUS = Decision.AMBIGUOUS

_DEFAULTS = AppConfig()  # the defaults below are the settings' own: one source


@dataclass(frozen=True)
class DecisionConfig:
    """Decision parameters. Build it from the settings with :meth:`from_settings`; the defaults
    and the rules (ranges, ``votes_needed <= window``) are those of
    :class:`~desktop_app.core.config.DecisionSettings` and ``RecognitionSettings.margin``.

    threshold: cosine a person's score must reach (from calibration); margin: how far it must
    lead the second-best person; votes_needed / window: N of the last M frames of a track;
    cooldown_s: seconds before the same person is announced again; unknown_after: quality-passing
    frames without an accepted vote before a track is reported unknown; iou_threshold / max_missed:
    tracker settings (box overlap to continue a track, frames a track survives unseen).
    """

    threshold: float
    margin: float = _DEFAULTS.recognition.margin
    votes_needed: int = _DEFAULTS.decision.votes_needed
    window: int = _DEFAULTS.decision.window
    cooldown_s: float = _DEFAULTS.decision.cooldown_s
    unknown_after: int = _DEFAULTS.decision.unknown_after
    iou_threshold: float = 0.3
    max_missed: int = 5

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold is a cosine in [-1, 1], got {self.threshold}.")
        try:  # the settings' own rules, so that they live in one place
            DecisionSettings.model_validate({"votes_needed": self.votes_needed, "window": self.window,
                                             "cooldown_s": self.cooldown_s, "unknown_after": self.unknown_after})
            RecognitionSettings.model_validate({"margin": self.margin})
        except ValidationError as exc:
            raise ValueError(f"Invalid decision parameters: {describe_validation_error(exc)}.") from None

    @classmethod
    def from_settings(cls, config: AppConfig, threshold: float) -> DecisionConfig:
        """The decision parameters of ``config`` (its ``decision`` section and the recognition
        margin) with the current calibrated ``threshold`` (a cosine)."""
        d = config.decision
        return cls(threshold=threshold, margin=config.recognition.margin, votes_needed=d.votes_needed,
                   window=d.window, cooldown_s=d.cooldown_s, unknown_after=d.unknown_after)


@dataclass(frozen=True)
class FrameObservation:
    """One face in one frame: box (x, y, w, h) pixels, its best gallery match (None when the
    gallery is empty or the face was not embedded), and whether it passed the quality gate."""

    box: Box
    match: PersonMatch | None
    quality_ok: bool = True
    #: the face's (D,) unit embedding, used to keep a track on the same face (None: boxes only)
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: the face's quality, for the quality-aware accept rule (None: no quality raise)
    quality: FaceQuality | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DecisionEvent:
    """A decision for a track.

    decision: ``Decision.GRANTED`` (person_id set), ``Decision.UNKNOWN`` or ``Decision.AMBIGUOUS``
    (person_id None; the live session turns a grant of a deactivated person into ``DENIED``);
    score: for a grant the best voting score of that person in the window, for unknown the best
    match score the track ever had (-1.0 if none), for ambiguous the best score of the ambiguous
    frames; box: the face box in the frame that triggered it; votes: the person's votes in the
    window (0 for unknown; the ambiguous frames for ambiguous); frames: frames the track has been
    seen in; ts: that frame's time; candidates: for ambiguous, the two person ids, best first.
    """

    track_id: int
    person_id: int | None
    decision: Decision
    score: float
    box: Box
    votes: int
    frames: int
    ts: float
    candidates: tuple[int, ...] = ()


@dataclass
class _TrackState:
    window: deque[tuple[int, float] | None]
    frames: int = 0
    unaccepted: int = 0
    best_score: float = -1.0
    granted: set[int] = field(default_factory=set)
    unknown_sent: bool = False
    #: per frame of the window: (best person, second person, best score) when ambiguous, else None
    ambiguous: deque[tuple[int, int, float] | None] = field(default_factory=deque)
    ambiguous_sent: bool = False


class DecisionPolicy:
    """Stateful decision policy; call :meth:`update` once per processed frame."""

    def __init__(self, config: DecisionConfig) -> None:
        self.config = config
        self._tracker = IouTracker(config.iou_threshold, config.max_missed)
        self._tracks: dict[int, _TrackState] = {}
        self._last_announced: dict[int, float] = {}

    def _vote(self, obs: FrameObservation) -> tuple[int, float] | None:
        m = obs.match
        if not obs.quality_ok or m is None:
            return None
        if accepts(m, self.config.threshold, self.config.margin, obs.quality):
            return (m.person_id, m.score)
        return None

    def _ambiguous(self, obs: FrameObservation) -> tuple[int, int, float] | None:
        m = obs.match
        thr = self.config.threshold
        if (not obs.quality_ok or m is None or m.second_person_id is None or m.score < thr
                or m.second_score < thr or accepts(m, thr, self.config.margin)):
            return None
        return (m.person_id, m.second_person_id, float(m.score))

    def _ambiguous_event(self, tid: int, st: _TrackState, box: Box, ts: float) -> DecisionEvent | None:
        """The track's "ambiguous" event when it is due (see the module docstring), else None."""
        cfg = self.config
        if st.granted or st.ambiguous_sent or any(v is not None for v in st.window):
            return None
        frames = [a for a in st.ambiguous if a is not None]
        if len(frames) < cfg.votes_needed:
            return None
        pairs: dict[frozenset[int], list[tuple[int, int, float]]] = {}
        for a in frames:
            pairs.setdefault(frozenset(a[:2]), []).append(a)
        best = max(pairs.values(), key=lambda v: (len(v), max(x[2] for x in v)))
        top = max(best, key=lambda x: x[2])
        st.ambiguous_sent = st.unknown_sent = True
        return DecisionEvent(tid, None, AMBIGUOUS, top[2], box, len(frames), st.frames, ts,
                             candidates=(top[0], top[1]))

    def _announce(self, person_id: int, ts: float) -> bool:
        last = self._last_announced.get(person_id)
        if last is not None and 0.0 <= ts - last < self.config.cooldown_s:
            return False
        self._last_announced[person_id] = ts
        return True

    def update(
        self, ts: float, observations: Sequence[FrameObservation],
        hold: Callable[[Sequence[int]], Collection[int]] | None = None,
    ) -> tuple[list[tuple[int, FrameObservation]], list[DecisionEvent]]:
        """Process one frame at time ``ts`` (seconds, monotonic).

        hold: called once with the track id of each observation (same order), after tracking and
        before deciding; returns the track ids whose grant must wait this frame (liveness not
        decided or not live). None: nothing waits.

        Returns the track id of each observation (same order) and the events this frame produced.
        """
        cfg = self.config
        track_ids = self._tracker.update([as_box(o.box) for o in observations],
                                         [o.embedding for o in observations])
        held = hold(track_ids) if hold is not None else ()
        for gone in self._tracker.pop_expired():
            self._tracks.pop(gone, None)
        cutoff = ts - cfg.cooldown_s
        for pid in [p for p, t in self._last_announced.items() if t < cutoff or t > ts]:
            del self._last_announced[pid]
        events: list[DecisionEvent] = []
        for tid, obs in zip(track_ids, observations, strict=True):
            st = self._tracks.get(tid)
            if st is None:
                st = self._tracks[tid] = _TrackState(window=deque(maxlen=cfg.window),
                                                     ambiguous=deque(maxlen=cfg.window))
            st.frames += 1
            if obs.quality_ok and obs.match is not None:
                st.best_score = max(st.best_score, float(obs.match.score))
            vote = self._vote(obs)
            st.window.append(vote)
            st.ambiguous.append(self._ambiguous(obs))
            box = as_box(obs.box)
            if vote is None:
                if obs.quality_ok:
                    st.unaccepted += 1
                amb = self._ambiguous_event(tid, st, box, ts)
                if amb is not None:
                    events.append(amb)
                    continue
                if not st.granted and not st.unknown_sent and st.unaccepted >= cfg.unknown_after:
                    st.unknown_sent = True
                    events.append(DecisionEvent(tid, None, UNKNOWN, st.best_score, box, 0, st.frames, ts))
                continue
            person = vote[0]
            votes = [v for v in st.window if v is not None]
            mine = [s for p, s in votes if p == person]
            if len(mine) < cfg.votes_needed or len(mine) != len(votes) or person in st.granted or tid in held:
                continue
            st.granted.add(person)
            if self._announce(person, ts):
                events.append(DecisionEvent(tid, person, GRANTED, max(mine), box, len(mine), st.frames, ts))
        return [(t, o) for t, o in zip(track_ids, observations, strict=True)], events

    def granted(self, track_id: int) -> int | None:
        """The person this live track was granted as (also when the event was held back by the
        cooldown), or None."""
        st = self._tracks.get(track_id)
        if st is None or not st.granted:
            return None
        return next(iter(st.granted))

    def leading(self, track_id: int) -> int | None:
        """The person with the most votes in this live track's window (ties: the best score), or
        None: who a face looks like before (or without) a grant."""
        st = self._tracks.get(track_id)
        votes = [v for v in st.window if v is not None] if st is not None else []
        if not votes:
            return None
        tally: dict[int, tuple[int, float]] = {}
        for p, s in votes:
            n, best = tally.get(p, (0, -1.0))
            tally[p] = (n + 1, max(best, s))
        return max(tally, key=lambda p: tally[p])

    def settled(self, track_id: int) -> bool:
        """True when this live track's decision is settled, so that repeating its last observation
        (the same match, e.g. from a reused embedding) cannot produce an event: the track was granted
        and every vote in its window is for a person it was granted as; or it was reported unknown
        (or ambiguous), has no vote in its window, and no ambiguous frame that could still raise an
        ambiguous event. A track still deciding is never settled: every vote of a grant comes from
        its own frame."""
        st = self._tracks.get(track_id)
        if st is None:
            return False
        votes = [v for v in st.window if v is not None]
        if st.granted:
            return all(p in st.granted for p, _ in votes)
        return (st.unknown_sent and not votes
                and (st.ambiguous_sent or all(a is None for a in st.ambiguous)))

    @property
    def tracks(self) -> list[Track]:
        """The tracker's live tracks (last box, frames seen, frames missed since)."""
        return self._tracker.tracks

    def reset(self) -> None:
        """Forget all tracks and cooldowns (e.g. when the camera changes)."""
        self._tracker.reset()
        self._tracker.pop_expired()
        self._tracks.clear()
        self._last_announced.clear()
