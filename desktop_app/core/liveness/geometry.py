"""Landmark geometry for liveness: how far the nose leaves the plane of the eyes and mouth.

A flat picture (print or screen) moves as a plane: between two views, the four outer landmarks
(both eyes, both mouth corners) fix a homography, and that homography also carries the nose. On a
real head the nose stands out of that plane, so when the head turns or nods it moves against the
other four: the *nose parallax*. Units are the eye distance of the later view (IOD).
"""

from __future__ import annotations

import cv2
import numpy as np

from desktop_app.core.face.quality import head_pose

#: indices of the right eye, left eye, right and left mouth corners in YuNet's order
OUTER = (0, 1, 3, 4)
NOSE = 2


def nose_parallax(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """(2,) float64: where the nose of ``cur`` is minus where a flat face seen at ``ref`` would put it.

    ref, cur: (5, 2) landmarks of one face in two frames (pixels). The homography of the four outer
    landmarks from ``ref`` to ``cur`` predicts the nose; the difference is divided by the eye
    distance in ``cur``. Zeros when the four points are degenerate (no homography).
    """
    r = np.asarray(ref, np.float32).reshape(5, 2)
    c = np.asarray(cur, np.float32).reshape(5, 2)
    try:
        h = cv2.getPerspectiveTransform(np.ascontiguousarray(r[list(OUTER)]), np.ascontiguousarray(c[list(OUTER)]))
    except cv2.error:
        return np.zeros(2)
    if not np.all(np.isfinite(h)) or abs(float(np.linalg.det(h))) < 1e-12:
        return np.zeros(2)
    p = h @ np.array([r[NOSE, 0], r[NOSE, 1], 1.0])
    if abs(float(p[2])) < 1e-9:
        return np.zeros(2)
    iod = max(float(np.linalg.norm(c[0] - c[1])), 1.0)
    return np.asarray((c[NOSE].astype(np.float64) - p[:2] / p[2]) / iod, np.float64)


def parallax_spread(landmarks: np.ndarray) -> float:
    """How much the nose moved against the plane of the other landmarks over a run of frames, IOD.

    landmarks: (T, 5, 2) of one face in time order. Each frame's nose parallax is taken against the
    frame whose landmarks are the median of the run; the series is median-filtered over three
    frames (YuNet's landmark jitter) and the 90th percentile of its distance from its own median
    is returned. 0.0 for fewer than three frames.
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.shape[0] < 3:
        return 0.0
    ref = lm[int(np.argmin(np.abs(lm - np.median(lm, axis=0)).sum(axis=(1, 2))))]
    e = np.stack([nose_parallax(ref, x) for x in lm])
    smooth = np.stack([np.median(e[max(0, i - 1):i + 2], axis=0) for i in range(len(e))])
    dev = np.linalg.norm(smooth - np.median(smooth, axis=0), axis=1)
    return float(np.percentile(dev, 90))


def pose(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees from (5, 2) landmarks (see :func:`~desktop_app.core.face.quality.head_pose`):
    yaw > 0 when the nose points to the image's right, pitch < 0 when the head is tilted up."""
    yaw, pitch, _ = head_pose(landmarks)
    return yaw, pitch
