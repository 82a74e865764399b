"""Screen cues from frequencies: moiré (sharp peaks in the face's 2-D spectrum) and refresh banding
(a periodic brightness pattern along the rows).

A camera that films a screen samples the screen's pixel grid a second time: the beat of the two
grids is moiré, a few strong, narrow peaks at middle and high frequencies, where skin, hair and
compression give a smooth, falling spectrum. A screen's backlight or refresh, filmed by a rolling
shutter, adds bright and dark bands across the rows. Both measures are peak-to-background ratios,
so they do not depend on the exposure.
"""

from __future__ import annotations

import cv2
import numpy as np

#: side of the square patch of the face whose spectrum is taken, pixels of the frame
PATCH = 96


def _patch(grey: np.ndarray, box: tuple[float, float, float, float], side: int) -> np.ndarray | None:
    x, y, w, h = box
    cx, cy = x + w / 2, y + 0.45 * h
    half = side // 2
    x0, y0 = round(cx) - half, round(cy) - half
    if x0 < 0 or y0 < 0 or x0 + side > grey.shape[1] or y0 + side > grey.shape[0]:
        return None
    return grey[y0:y0 + side, x0:x0 + side].astype(np.float32)


def moire_peak(image: np.ndarray, box: tuple[float, float, float, float]) -> float | None:
    """How much the strongest middle/high frequency of the face stands out of its neighbours.

    The central :data:`PATCH` x :data:`PATCH` pixels of the face (at the frame's own resolution:
    the face must be at least that wide, else None) are high-passed and windowed; in their
    magnitude spectrum, each bin at a radius between 1/8 and 1/2 of the band is divided by the
    median of its 7 x 7 neighbourhood; the largest ratio is returned (about 3 to 6 for faces, far
    more for moiré).
    """
    if box[2] < PATCH * 0.9:
        return None
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    p = _patch(grey, box, PATCH)
    if p is None:
        return None
    p = p - cv2.GaussianBlur(p, (0, 0), 2.0)
    win = np.outer(np.hanning(PATCH), np.hanning(PATCH)).astype(np.float32)
    mag = np.abs(np.fft.fftshift(np.fft.fft2(p * win))).astype(np.float32)
    local = _median7(mag)
    yy, xx = np.mgrid[:PATCH, :PATCH] - PATCH // 2
    r = np.hypot(xx, yy)
    band = (r >= PATCH / 8) & (r <= PATCH / 2) & (np.abs(xx) > 1) & (np.abs(yy) > 1)
    ratio = mag[band] / (local[band] + 1e-6 * float(mag.max()) + 1e-9)
    return float(ratio.max()) if ratio.size else None


def _median7(a: np.ndarray) -> np.ndarray:
    """7 x 7 median filter of a positive float32 array, to about 2 %.

    OpenCV filters 7 x 7 medians of 8-bit images only; the median commutes with the logarithm, so
    the log of the array is quantised to 256 levels over its range, filtered, and mapped back.
    """
    log = np.log(np.maximum(a, 1e-12))
    lo, hi = float(log.min()), float(log.max())
    if hi - lo < 1e-9:
        return a.astype(np.float32)
    q = np.round((log - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    med = cv2.medianBlur(q, 7).astype(np.float32)
    return np.asarray(np.exp(lo + med * ((hi - lo) / 255.0)), np.float32)


def banding_peak(image: np.ndarray, box: tuple[float, float, float, float]) -> float | None:
    """How periodic the row brightness of the face and its surround is.

    A column strip two face widths wide centred on the face, from one face height above it to one
    below, is averaged along each row; the profile is high-passed (minus its 15-row moving
    average) and its spectrum's largest peak for periods of 4 to 40 % of the strip height is
    divided by the median magnitude there (about 3 for faces, far more for banding). None when the
    strip is shorter than 48 rows.
    """
    x, y, w, h = box
    ih, iw = image.shape[:2]
    x0, x1 = max(int(x - 0.5 * w), 0), min(int(x + 1.5 * w), iw)
    y0, y1 = max(int(y - h), 0), min(int(y + 2 * h), ih)
    if y1 - y0 < 48 or x1 - x0 < 8:
        return None
    grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
    prof = grey.mean(axis=1)
    prof = prof - np.convolve(prof, np.ones(15) / 15.0, mode="same")
    prof = prof[7:-7] * np.hanning(len(prof) - 14)
    mag = np.abs(np.fft.rfft(prof))
    n = len(prof)
    k = np.arange(len(mag))
    band = (k >= n / (0.4 * n)) & (k <= n / 4.0)
    if band.sum() < 4:
        return None
    return float(mag[band].max() / (np.median(mag[band]) + 1e-9))
