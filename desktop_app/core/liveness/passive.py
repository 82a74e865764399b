"""Passive liveness of one tracked face: frames in, a verdict out, nothing asked of the person.

Per frame, :class:`PassiveLiveness` measures (each module holds one cue):

- the five landmarks (:mod:`.geometry`): over the window, how far the nose leaves the plane of the
  eyes and mouth corners (``nose_parallax``, eye distances);
- corner points tracked inside the face (:mod:`.motion`): how far they moved (``moved``) and how
  far they stray from the best homography (``residual``), pixels at 160 px face width;
- a frame of straight edges around the face (:mod:`.border`), moiré and refresh banding
  (:mod:`.spectrum`), specular glare (:mod:`.glare`).

Decision, over the last ``window_s`` seconds (see :class:`PassiveLimits` for the numbers):

1. not live at once when a screen or print cue shows in at least ``screen_frames`` of the window's
   frames (and at least three): a border, moiré, banding or glare;
2. not live when the face moved clearly but every move was planar (a held picture);
3. not live when it neither moved nor changed for ``still_seconds`` (a picture on a stand);
4. live when, after ``min_seconds`` and ``min_frames``, the score (how non-planar the motion is,
   0..1) reaches ``live_threshold`` with no cue against;
5. not live after ``max_seconds`` with no sign of life; undecided before that.

A live verdict holds while the face is tracked, unless a cue against shows later (a phone brought
into view turns it to not live), so the caller should keep feeding frames while the face is in
view. A not-live verdict is final for the track.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from desktop_app.core.liveness.border import find_border
from desktop_app.core.liveness.geometry import parallax_spread
from desktop_app.core.liveness.glare import glare_share
from desktop_app.core.liveness.motion import MotionSample, PlanarMotion
from desktop_app.core.liveness.observation import FaceObservation
from desktop_app.core.liveness.settings import LivenessSettings
from desktop_app.core.liveness.spectrum import banding_peak, moire_peak
from desktop_app.core.liveness.verdict import LivenessVerdict

#: the reasons a verdict gives, one per cue
BORDER = "a border moves with the face (phone, tablet or print edge)"
MOIRE = "screen moiré on the face"
BANDING = "screen refresh banding across the face"
GLARE = "glare as on glass or glossy paper over the face"
PLANAR = "the face moves as a flat picture (no depth between nose, eyes and mouth)"
STILL = "the face neither moved nor changed"
NO_SIGN = "no sign of life in time"
DEPTH = "the face moves in depth (nose against eyes and mouth)"
EXPRESSION = "the face changes on its own (eyes, mouth)"


@dataclass(frozen=True)
class PassiveLimits:
    """The measured limits of the passive cues (chosen with ``bench/liveness.py``; not user settings).

    residual_live: tracked-point residual (px at 160 px face width) counted as clearly non-planar;
    residual_planar: residual below which motion is planar (the depth score ramps between the two);
    relative_planar / relative_live: the same for the residual relative to the motion
    (residual / (moved + relative_floor)): a bent print moved fast strays from a homography too,
    but in proportion to its motion, where a face that talks or blinks strays while hardly moving;
    both ramps must agree; relative_flat: below it a clear move counts as planar;
    parallax_live: nose parallax spread (eye distances) counted as clearly non-planar on its own;
    moved_planar: tracked motion (px) above which a planar fit is telling;
    still_moved / still_residual: below both, a frame shows no motion;
    moire_peak / banding_peak: spectral peak ratios above which a frame shows a screen;
    glare_share: share of the face box a single clipped-white patch must cover;
    border_every: the border is looked for on every n-th frame (it is the costliest cue).
    """

    residual_live: float = 0.8
    parallax_live: float = 0.12
    moved_planar: float = 6.0
    residual_planar: float = 0.4
    still_moved: float = 0.6
    still_residual: float = 0.35
    moire_peak: float = 6.0
    banding_peak: float = 60.0
    glare_share: float = 0.1
    border_every: int = 2
    relative_floor: float = 2.0
    relative_planar: float = 0.06
    relative_live: float = 0.15
    relative_flat: float = 0.045


@dataclass(frozen=True)
class FrameCues:
    """What was measured on one frame: its time (s), landmarks (5, 2), the tracked-point sample
    (None at a new reference), border found (None when not looked for), moiré and banding peak
    ratios (None when the face is too small or near the edge), glare share."""

    ts: float
    landmarks: np.ndarray
    motion: MotionSample | None
    border: bool | None
    moire: float | None
    banding: float | None
    glare: float


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi``, linear between, clipped."""
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0)) if hi > lo else float(x >= hi)


class PassiveLiveness:
    """Passive liveness of one face track. Not thread-safe; one instance per track.

    ``update(observation)`` once per frame the face is seen in (time order); each call returns
    the verdict so far. Frames where the face is not found are simply not fed.
    """

    def __init__(self, settings: LivenessSettings | None = None, limits: PassiveLimits | None = None) -> None:
        self.settings = settings or LivenessSettings()
        self.limits = limits or PassiveLimits()
        self._motion = PlanarMotion()
        self._frames: deque[FrameCues] = deque()
        self._first_ts: float | None = None
        self._count = 0
        self._still_since: float | None = None
        self._verdict = LivenessVerdict(live=None, score=0.0)

    @property
    def verdict(self) -> LivenessVerdict:
        """The latest verdict (undecided before the first frame)."""
        return self._verdict

    def update(self, obs: FaceObservation) -> LivenessVerdict:
        """Take one frame of the face; the verdict so far."""
        lim = self.limits
        sample = self._motion.update(obs.image, obs.box, obs.ts, obs.landmarks)
        border = find_border(obs.image, obs.box).framed if self._count % lim.border_every == 0 else None
        cues = FrameCues(ts=obs.ts, landmarks=np.asarray(obs.landmarks, np.float64).reshape(5, 2), motion=sample,
                          border=border, moire=moire_peak(obs.image, obs.box), banding=banding_peak(obs.image, obs.box),
                          glare=glare_share(obs.image, obs.box))
        return self.add(cues)

    def add(self, cues: FrameCues) -> LivenessVerdict:
        """Take the cues measured on one frame (what :meth:`update` does after measuring; benches
        replay recorded cues through it); the verdict so far."""
        if self._first_ts is None:
            self._first_ts = cues.ts
        self._count += 1
        self._frames.append(cues)
        while self._frames and cues.ts - self._frames[0].ts > self.settings.window_s:
            self._frames.popleft()
        self._track_stillness(cues)
        if self._verdict.live is False:
            return self._verdict  # not live is final for the track
        new = self._decide(cues.ts)
        if self._verdict.live is True and new.live is None:  # live stays live unless a cue says otherwise
            new = LivenessVerdict(live=True, score=self._verdict.score, reasons=self._verdict.reasons,
                                  frames=new.frames, elapsed_s=new.elapsed_s, cues=new.cues)
        self._verdict = new
        return self._verdict

    def _track_stillness(self, c: FrameCues) -> None:
        lim = self.limits
        if c.motion is None:
            return
        still = c.motion.moved < lim.still_moved and c.motion.residual < lim.still_residual
        if not still:
            self._still_since = None
        elif self._still_since is None:
            self._still_since = c.ts

    def measures(self) -> dict[str, float]:
        """The cue values over the current window (names as in :attr:`LivenessVerdict.cues`)."""
        frames = list(self._frames)
        samples = [f.motion for f in frames if f.motion is not None]
        n = max(len(frames), 1)
        border = [f.border for f in frames if f.border is not None]
        moire = [f.moire for f in frames if f.moire is not None]
        band = [f.banding for f in frames if f.banding is not None]
        lim = self.limits
        out = {
            "residual": float(np.percentile([s.residual for s in samples], 80)) if samples else 0.0,
            "moved": float(np.percentile([s.moved for s in samples], 80)) if samples else 0.0,
            "relative": float(np.percentile([s.residual / (s.moved + lim.relative_floor) for s in samples], 80))
            if samples else 0.0,
            "parallax": parallax_spread(np.stack([f.landmarks for f in frames])) if len(frames) >= 3 else 0.0,
            "border": float(np.mean(border)) if border else 0.0,
            "moire": float(np.mean([m > lim.moire_peak for m in moire])) if moire else 0.0,
            "banding": float(np.mean([b > lim.banding_peak for b in band])) if band else 0.0,
            "glare": float(np.mean([f.glare > lim.glare_share for f in frames])),
            "frames": float(n),
        }
        out["moire_peak"] = float(np.median(moire)) if moire else 0.0
        out["banding_peak"] = float(np.median(band)) if band else 0.0
        return out

    def _decide(self, now: float) -> LivenessVerdict:
        st, lim = self.settings, self.limits
        first = self._first_ts if self._first_ts is not None else now
        elapsed = now - first
        m = self.measures()
        resid = _ramp(m["residual"], lim.residual_planar, lim.residual_live)
        if lim.relative_live > 0:
            resid = min(resid, _ramp(m["relative"], lim.relative_planar, lim.relative_live))
        depth = max(resid,
                    _ramp(m["parallax"], lim.parallax_live / 3.0, lim.parallax_live))
        # screen and print cues (shares of the window's frames)
        counts = {BORDER: m["border"], MOIRE: m["moire"], BANDING: m["banding"], GLARE: m["glare"]}
        against = [reason for reason, share in counts.items() if share >= st.screen_frames and m["frames"] >= 3]
        spoofiness = max(counts.values())
        score = float(np.clip(depth * (1.0 - spoofiness), 0.0, 1.0))
        planar = (m["moved"] >= lim.moved_planar and m["parallax"] < lim.parallax_live / 2.0
                  and (m["residual"] < lim.residual_planar or m["relative"] < lim.relative_flat))

        def verdict(live: bool | None, value: float, *reasons: str) -> LivenessVerdict:
            return LivenessVerdict(live=live, score=value, reasons=reasons, frames=self._count, elapsed_s=elapsed,
                                   cues=m)

        if against:
            return verdict(False, min(score, 0.2), *against)
        ready = elapsed >= st.min_seconds and self._count >= st.min_frames
        if ready and planar:
            return verdict(False, min(score, 0.2), PLANAR)
        if self._still_since is not None and now - self._still_since >= st.still_seconds:
            return verdict(False, min(score, 0.1), f"{STILL} for {st.still_seconds:g} s")
        if ready and score >= st.live_threshold:
            return verdict(True, score, DEPTH if m["parallax"] >= lim.parallax_live else EXPRESSION)
        if elapsed >= st.max_seconds:
            return verdict(False, score, f"{NO_SIGN} ({st.max_seconds:g} s)")
        return verdict(None, score)

