"""Face alignment: map five landmarks onto the ArcFace 112x112 template by a similarity transform.

Shared by inference (desktop_app) and training (trainer) so the two can never drift.
The fit is the least-squares similarity (Umeyama 1991): rotation, uniform scale and translation,
which matches OpenCV's own ``FaceRecognizerSF.alignCrop``. (``cv2.estimateAffinePartial2D`` with
LMEDS is *not* used: it lowers the cosine to the reference alignment to about 0.96.)
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 112
#: Landmark targets in the 112x112 crop: right eye, left eye, nose tip, right/left mouth corner (x, y).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
#: Landmark order after a horizontal flip of the image (right and left swap).
FLIP_ORDER = (1, 0, 2, 4, 3)


def umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform taking ``src`` (N, 2) onto ``dst`` (N, 2).

    Returns the (2, 3) float64 matrix M with dst ~= M @ [x, y, 1]. Reflections are excluded.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = float((s_c**2).sum() / n)
    cov = d_c.T @ s_c / n
    u, sing, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = float((sing * d).sum() / var_s) if var_s > 0 else 1.0
    trans = mu_d - scale * rot @ mu_s
    m = np.zeros((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = trans
    return m


def alignment_matrix(landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """(2, 3) transform from image pixels to the ``size`` x ``size`` aligned crop."""
    template = ARCFACE_TEMPLATE * (size / CROP_SIZE)
    return umeyama_similarity(np.asarray(landmarks, dtype=np.float64).reshape(5, 2), template)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Aligned face crop (size, size, 3) uint8 BGR from a (H, W, 3) image and its (5, 2) landmarks."""
    m = alignment_matrix(landmarks, size)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks (5, 2) of the horizontally flipped image of width ``width``, in template order."""
    lm = np.asarray(landmarks, dtype=np.float32).copy()
    lm[:, 0] = (width - 1) - lm[:, 0]
    return lm[list(FLIP_ORDER)]
