"""Dense planar-motion test: corner points tracked inside the face, and the homography that fits them.

The points (eyes, brows, nostrils, lips: where the face has corners) are tracked from frame to
frame with pyramidal Lucas-Kanade (forward and backward, to drop bad tracks) on a copy of the
frame scaled so that the face is about :data:`FACE_WIDTH_PX` wide. Against a reference frame up to
``baseline_s`` old, a homography is fitted to the points with RANSAC: a flat picture is explained by
it up to tracking noise, a real face is not (the nose and lips stand out of any plane, the mouth
and eyes move on their own). Measures are in pixels of that scaled copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: face width the frames are scaled to for tracking, pixels
FACE_WIDTH_PX = 160.0
_MIN_POINTS = 12
_LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01)


@dataclass(frozen=True)
class MotionSample:
    """One frame against its reference: moved, the median displacement of the points; residual, the
    75th percentile of their distance from the fitted homography; points, how many were used.
    Pixels at :data:`FACE_WIDTH_PX` face width."""

    moved: float
    residual: float
    points: int


def inner_face(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The part of a face box that holds only face (no background, little hair): (x, y, w, h)."""
    x, y, w, h = box
    return (x + 0.18 * w, y + 0.2 * h, 0.64 * w, 0.72 * h)


def feature_region(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, w, h) around the eyes, nose and mouth from (5, 2) landmarks, clear of the face's
    outline: 0.3 eye distances beyond the outer landmarks sideways, 0.45 above the eyes and 0.25
    below the mouth. Points there are all face, for a real head and for a cut-out print alike."""
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    iod = max(float(np.linalg.norm(lm[0] - lm[1])), 1.0)
    x0, x1 = float(lm[:, 0].min()) - 0.3 * iod, float(lm[:, 0].max()) + 0.3 * iod
    y0, y1 = float(lm[:2, 1].min()) - 0.45 * iod, float(lm[3:, 1].max()) + 0.25 * iod
    return (x0, y0, x1 - x0, y1 - y0)


class PlanarMotion:
    """Tracks one face's corner points over frames. Feed every frame of the track to :meth:`update`."""

    def __init__(self, baseline_s: float = 0.8, max_points: int = 80) -> None:
        self.baseline_s = float(baseline_s)
        self.max_points = int(max_points)
        self._scale: float | None = None
        self._prev: np.ndarray | None = None
        self._ref_pts: np.ndarray | None = None
        self._cur_pts: np.ndarray | None = None
        self._ref_ts = 0.0

    def _grey(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        if self._scale is None:
            self._scale = float(np.clip(FACE_WIDTH_PX / max(box[2], 1.0), 0.2, 3.0))
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        return cv2.resize(grey, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA
                          if self._scale < 1 else cv2.INTER_LINEAR)

    def _seed(self, grey: np.ndarray, box: tuple[float, float, float, float], ts: float,
              landmarks: np.ndarray | None) -> None:
        s = self._scale or 1.0
        region = feature_region(landmarks) if landmarks is not None else inner_face(box)
        x, y, w, h = (v * s for v in region)
        mask = np.zeros(grey.shape, np.uint8)
        x0, y0 = max(int(x), 0), max(int(y), 0)
        mask[y0:max(int(y + h), y0 + 1), x0:max(int(x + w), x0 + 1)] = 255
        pts = cv2.goodFeaturesToTrack(grey, self.max_points, 0.01, 5, mask=mask, blockSize=5)
        self._ref_pts = None if pts is None else pts.reshape(-1, 2).astype(np.float32)
        self._cur_pts = None if self._ref_pts is None else self._ref_pts.copy()
        self._ref_ts = ts

    def update(self, image: np.ndarray, box: tuple[float, float, float, float], ts: float,
               landmarks: np.ndarray | None = None) -> MotionSample | None:
        """Track into this frame; the sample against the reference, or None (new reference, too few points).

        image: (H, W, 3) uint8 BGR frame; box: the face's (x, y, w, h) in it; ts: seconds;
        landmarks: its (5, 2) landmarks: new points are taken around the eyes, nose and mouth
        (:func:`feature_region`), else in the inner part of the box.
        """
        grey = self._grey(image, box)
        prev, self._prev = self._prev, grey
        if prev is None or prev.shape != grey.shape or self._cur_pts is None or self._ref_pts is None:
            self._seed(grey, box, ts, landmarks)
            return None
        p0 = self._cur_pts.reshape(-1, 1, 2)
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(prev, grey, p0, p0.copy(), winSize=(15, 15), maxLevel=3,
                                              criteria=_LK_CRITERIA)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(grey, prev, p1, np.asarray(p1).copy(), winSize=(15, 15), maxLevel=3,
                                                criteria=_LK_CRITERIA)
        fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
        good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < 0.7)
        ref, cur = self._ref_pts[good], p1.reshape(-1, 2)[good]
        sample = None
        if len(cur) >= _MIN_POINTS:
            self._ref_pts, self._cur_pts = ref, cur
            hom, _ = cv2.findHomography(ref, cur, cv2.RANSAC, 1.5)
            if hom is not None and np.all(np.isfinite(hom)):
                proj = cv2.perspectiveTransform(ref.reshape(-1, 1, 2), hom).reshape(-1, 2)
                res = np.linalg.norm(proj - cur, axis=1)
                sample = MotionSample(moved=float(np.median(np.linalg.norm(cur - ref, axis=1))),
                                      residual=float(np.percentile(res, 75)), points=len(cur))
        if len(cur) < _MIN_POINTS or ts - self._ref_ts >= self.baseline_s:
            self._seed(grey, box, ts, landmarks)
        return sample
