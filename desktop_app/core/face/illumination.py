"""Illumination normalisation for backlit doors and dark corridors.

Used twice: (1) the detector retries on a corrected copy of a dark or washed-out frame when it found
no face on the original; (2) the embedder gets a brightness-normalised aligned crop when the face is
far too dark or bright to read.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

DARK_MEAN = 80.0  #: frames with a mean grey level below this are "dark" (0..255)
BRIGHT_MEAN = 175.0  #: frames with a mean grey level above this are "washed out"
LOW_CONTRAST_STD = 30.0  #: grey standard deviation below this is "flat"


def grey_stats(image: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the grey levels of a BGR or grey image (0..255)."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = grey[:: max(1, grey.shape[0] // 120), :: max(1, grey.shape[1] // 160)]
    return float(small.mean()), float(small.std())


def is_poorly_exposed(image: np.ndarray) -> bool:
    """True when a frame is dark, washed out or flat enough that a corrected copy may reveal faces."""
    mean, std = grey_stats(image)
    return mean < DARK_MEAN or mean > BRIGHT_MEAN or std < LOW_CONTRAST_STD


def _gamma_lut(gamma: float) -> np.ndarray:
    return np.clip(((np.arange(256) / 255.0) ** gamma) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def gamma_correct(image: np.ndarray, gamma: float | None = None) -> np.ndarray:
    """Gamma-corrected copy (uint8). ``gamma`` None picks one that moves the mean grey towards 128:
    0.4 brightens a dark frame, 1/0.4 darkens a washed-out one (0..255, same shape as the input)."""
    if gamma is None:
        mean, _ = grey_stats(image)
        mean = min(max(mean, 1.0), 254.0)
        gamma = float(np.clip(np.log(128.0 / 255.0) / np.log(mean / 255.0), 0.3, 3.0))
    return cv2.LUT(image, _gamma_lut(gamma))


def clahe(image: np.ndarray, clip_limit: float = 3.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of the luminance of a BGR image (uint8)."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    eq = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    lab[:, :, 0] = eq.apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def _gamma_auto(image: np.ndarray) -> np.ndarray:
    return gamma_correct(image)


ENHANCERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"gamma": _gamma_auto, "clahe": clahe}


def normalise_face_crop(crop: np.ndarray, low: float = 60.0, high: float = 200.0) -> np.ndarray:
    """Return ``crop`` unchanged when its mean grey is within [low, high], else a gamma-corrected copy
    whose mean is near 128, so the embedder sees a readable face. (112, 112, 3) uint8 in and out."""
    mean, _ = grey_stats(crop)
    if low <= mean <= high:
        return crop
    return gamma_correct(crop)
