"""What the liveness checks are fed: one tracked face in one frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from desktop_app.core.types import Detection


@dataclass(frozen=True, eq=False)
class FaceObservation:
    """One face of one frame, as the detector found it.

    image: the whole frame, (H, W, 3) uint8 BGR (read, never changed); box: (x, y, w, h) pixels;
    landmarks: (5, 2) float32 pixels in YuNet's order (right eye, left eye, nose tip, right and
    left mouth corner); ts: seconds on any steady clock (the video's clock for a file, else
    ``time.monotonic()``); dense: optional (N, 2) float32 pixels from a dense landmark model (None:
    only the five landmarks are used).
    """

    image: np.ndarray
    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    ts: float
    dense: np.ndarray | None = None

    @classmethod
    def from_detection(cls, image: np.ndarray, detection: Detection, ts: float) -> FaceObservation:
        """The observation of one detected face in ``image`` at ``ts`` seconds."""
        return cls(image=image, box=detection.box, landmarks=np.asarray(detection.landmarks, np.float32), ts=ts)

    @property
    def inter_ocular(self) -> float:
        """Distance between the eye centres, pixels (at least 1)."""
        return max(float(np.linalg.norm(self.landmarks[0] - self.landmarks[1])), 1.0)
