"""More alignments of one face: its landmarks found again by the detector on an enlarged patch.

YuNet's five landmarks move by a pixel or two with the scale the face is seen at, and the
embedding moves with them. Averaging the (unit) embeddings of the crops aligned from the landmarks
found at several scales is test-time augmentation over the alignment (``RecognitionSettings
.alignment_views``; figures in docs/accuracy.md).

For each extra view the face is cut out as a square patch of ``PATCH_IODS`` eye distances (the
framing of an LFW image: about 5.8 eye distances wide, the eyes' midpoint a quarter of an eye
distance above its centre), scaled so that the eyes are ``iod_px`` pixels apart, and detected
again. The detection nearest the first one is kept when its landmarks lie within
``MAX_SHIFT_IODS`` eye distances of the first ones (else that view is skipped: it found
another face or a poor fit); its landmarks are mapped back to the image's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.types import Detection

#: Side of the re-detection patch, in eye distances (an LFW image is about 5.8 eye distances wide).
PATCH_IODS = 5.8
#: The patch's centre lies this many eye distances below the landmarks' mean (LFW's framing).
CENTRE_DROP_IODS = 0.23
#: A re-detected landmark set farther than this (eye distances, any point) from the first is dropped.
MAX_SHIFT_IODS = 0.3
#: Default eye distances (pixels in the patch) of the extra views: LFW's 250-px images enlarged to
#: 480 and 640 px (the detector sees them at 320 px by default, about 55 px between the eyes).
DEFAULT_VIEW_IODS: tuple[float, ...] = (83.0, 111.0)


def patch_transform(landmarks: np.ndarray, iod_px: float) -> tuple[np.ndarray, int]:
    """(2, 3) float64 map from image pixels to the re-detection patch, and the patch's side (pixels).

    landmarks: (5, 2) in the image's pixels; iod_px: eye distance wanted in the patch (pixels)."""
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    iod = float(np.linalg.norm(lm[1] - lm[0]))
    if iod <= 0.0:
        raise ValueError("the landmarks' eyes coincide")
    scale = iod_px / iod
    side = round(PATCH_IODS * iod_px)
    centre = lm.mean(axis=0) + np.array([0.0, CENTRE_DROP_IODS * iod])
    m = np.array([[scale, 0.0, side / 2.0 - scale * centre[0]],
                  [0.0, scale, side / 2.0 - scale * centre[1]]])
    return m, side


def redetected_landmarks(detector: FaceDetector, image: np.ndarray, detection: Detection,
                         iod_px: float) -> np.ndarray | None:
    """Landmarks (5, 2) float32, in the image's pixels, of ``detection``'s face found again on a patch
    where its eyes are ``iod_px`` pixels apart; None when no detection there lies within
    ``MAX_SHIFT_IODS`` eye distances of the first one (the view is then skipped).

    image: (H, W, 3) BGR uint8, the one ``detection`` was found in (edges replicated outside it)."""
    m, side = patch_transform(detection.landmarks, iod_px)
    patch = cv2.warpAffine(image, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    found = detector.detect(patch)
    if not found:
        return None
    inv = cv2.invertAffineTransform(m)
    ref = np.asarray(detection.landmarks, np.float64)
    best: np.ndarray | None = None
    best_d = np.inf
    for d in found:
        back = np.asarray(d.landmarks, np.float64) @ inv[:, :2].T + inv[:, 2]
        dist = float(np.linalg.norm(back.mean(axis=0) - ref.mean(axis=0)))
        if dist < best_d:
            best, best_d = back, dist
    assert best is not None
    if float(np.abs(best - ref).max()) >= MAX_SHIFT_IODS * detection.inter_ocular:
        return None
    return best.astype(np.float32)


def view_landmarks(detector: FaceDetector, image: np.ndarray, detection: Detection,
                   iods: Sequence[float] = DEFAULT_VIEW_IODS) -> list[np.ndarray]:
    """The landmarks of every view of a face, the detection's own first, then one per ``iods`` entry
    whose re-detection succeeded (so 1 to ``1 + len(iods)`` arrays of (5, 2) float32)."""
    out = [np.asarray(detection.landmarks, np.float32)]
    for iod in iods:
        lm = redetected_landmarks(detector, image, detection, iod)
        if lm is not None:
            out.append(lm)
    return out
