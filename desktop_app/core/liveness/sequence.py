"""Liveness of the main face of a sequence of frames (a video file, a folder of frames): what the
``facegate liveness`` command and the benches run, with the same passive check as the door."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from desktop_app.core.decision.tracking import iou
from desktop_app.core.liveness.observation import FaceObservation
from desktop_app.core.liveness.passive import PassiveLiveness
from desktop_app.core.liveness.settings import LivenessSettings
from desktop_app.core.liveness.verdict import LivenessVerdict
from desktop_app.core.types import Detection

#: reason of the verdict when no face was found in any frame
NO_FACE = "no face found"
#: frames in a row with faces but not the followed one, after which the largest face is followed
LOST_AFTER = 5
#: reason of an undecided verdict at the end of the frames
TOO_SHORT = "too few frames to decide"


@dataclass(frozen=True)
class SequenceResult:
    """The verdict on a sequence, and what it cost: frames read, frames with the face, and the
    liveness check's own time per frame (milliseconds, detection excluded)."""

    verdict: LivenessVerdict
    frames_read: int
    frames_with_face: int
    liveness_ms: tuple[float, ...]


def check_sequence(frames: Iterable[tuple[np.ndarray, float]], detect: Callable[[np.ndarray], list[Detection]],
                   settings: LivenessSettings | None = None, *, stop_when_decided: bool = True,
                   new_check: Callable[[LivenessSettings | None], PassiveLiveness] = PassiveLiveness) -> SequenceResult:
    """Passive liveness of the main face of ``frames``: (image (H, W, 3) uint8 BGR, ts seconds) pairs.

    The main face is the largest face of the first frame that has one; after that, the face nearest
    its last box (overlapping it, or its centre within 0.6 face widths); frames without it are
    skipped, and after :data:`LOST_AFTER` such frames in a row the largest face is followed
    instead, with a fresh check (another person, or the same one after a cut). With
    ``stop_when_decided`` the first decided verdict is returned, as a door would act on it;
    otherwise the verdict after the last frame. An undecided verdict at the end says why
    (:data:`NO_FACE`, :data:`TOO_SHORT`). new_check: makes the check of each followed face
    (benches pass one that records the cues).
    """
    check = new_check(settings)
    last: tuple[float, float, float, float] | None = None
    read = used = missed = 0
    costs: list[float] = []
    verdict = check.verdict
    for image, ts in frames:
        read += 1
        dets = detect(image)
        if not dets:
            continue
        face = max(dets, key=lambda d: d.area)
        if last is not None:
            prev = last
            near = [d for d in dets if _near(d.box, prev)]
            if near:
                face = max(near, key=lambda d: iou(d.box, prev))
            elif missed + 1 < LOST_AFTER:
                missed += 1
                continue
            else:
                check = new_check(settings)  # follow the largest face now, from scratch
        missed = 0
        last = face.box
        used += 1
        t0 = time.perf_counter()
        verdict = check.update(FaceObservation.from_detection(image, face, ts))
        costs.append((time.perf_counter() - t0) * 1e3)
        if stop_when_decided and verdict.decided:
            break
    if not verdict.decided:
        why = NO_FACE if used == 0 else TOO_SHORT
        verdict = LivenessVerdict(live=None, score=verdict.score, reasons=(why,), frames=verdict.frames,
                                  elapsed_s=verdict.elapsed_s, cues=verdict.cues)
    return SequenceResult(verdict=verdict, frames_read=read, frames_with_face=used, liveness_ms=tuple(costs))


def _near(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """True when box ``a`` overlaps ``b`` or its centre is within 0.6 widths of ``b``'s."""
    if iou(a, b) >= 0.1:
        return True
    dx = (a[0] + a[2] / 2) - (b[0] + b[2] / 2)
    dy = (a[1] + a[3] / 2) - (b[1] + b[3] / 2)
    return bool(np.hypot(dx, dy) <= 0.6 * max(b[2], 1.0))
