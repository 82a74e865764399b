"""Illumination normalisation for backlit doors and dark corridors.

Used twice: (1) the detector retries on a corrected copy of a dark or washed-out frame when it found
no face on the original; (2) the embedder gets a brightness-normalised aligned crop when the face is
far too dark or bright to read, and an evened one when one side of the face is far darker than the
other (hard side light), see :func:`normalise_face_crop`.

The crop steps change embeddings, so they are versioned: :data:`CROP_PREPROCESSING` names what
:func:`normalise_face_crop` does, and a database whose templates were made under another name has
them re-embedded from their stored crops when it is opened (``desktop_app.core.accuracy``).
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


#: Side light: an aligned crop whose brighter cheek band is this many times as bright (CIE L) as the
#: darker one is evened before embedding. 2.0 flags 3% of LFW's faces and 92% of synthetic extreme
#: side light (bench/lfw_accuracy.py).
SIDE_LIGHT_RATIO = 2.0
#: Name of what :func:`normalise_face_crop` does; stored templates made under another name are re-embedded.
CROP_PREPROCESSING = "exposure-gamma+side-light-v2"
#: Rows 30..99 (eyes to chin) and the two cheek bands of the 112x112 ArcFace crop, pixels.
_BAND_ROWS = slice(30, 100)
_LEFT_COLS, _RIGHT_COLS = slice(18, 50), slice(62, 94)


def side_light_ratio(crop: np.ndarray) -> float:
    """Brightness ratio (>= 1) of the brighter to the darker cheek band of an aligned (112, 112, 3)
    uint8 BGR crop: mean CIE L (0..255) of rows 30..99, columns 18..49 vs 62..93, each plus 1."""
    lum = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)[_BAND_ROWS, :, 0].astype(np.float32)
    a = float(lum[:, _LEFT_COLS].mean()) + 1.0
    b = float(lum[:, _RIGHT_COLS].mean()) + 1.0
    return max(a, b) / min(a, b)


def even_side_light(crop: np.ndarray, sigma: float = 8.0, max_gain: float = 6.0) -> np.ndarray:
    """Flatten a left-right light gradient: each column's L (CIE Lab) is scaled so that the smoothed
    column profile of the face (rows 20..99; Gaussian ``sigma`` pixels) becomes its median;
    gains are clipped to [0.5, ``max_gain``]; colour (a, b) is kept. (112, 112, 3) uint8 in and out."""
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)
    lum = lab[:, :, 0].astype(np.float32)
    profile = lum[20:100].mean(axis=0) + 1.0
    profile = cv2.GaussianBlur(profile.reshape(1, -1), (0, 0), sigma).ravel()
    gain = np.clip(float(np.median(profile)) / profile, 0.5, max_gain)
    lab[:, :, 0] = np.clip(lum * gain[None, :], 0, 255).astype(np.uint8)
    out: np.ndarray = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    return out


def normalise_face_crop(crop: np.ndarray, low: float = 60.0, high: float = 200.0,
                        side_ratio: float | None = SIDE_LIGHT_RATIO) -> np.ndarray:
    """The crop the embedder sees, (112, 112, 3) uint8 BGR in and out (the input is never modified).

    Exposure: a crop whose mean grey is outside [low, high] is gamma-corrected to a mean near 128.
    Side light: then, when :func:`side_light_ratio` exceeds ``side_ratio`` (None: never), the light
    gradient is evened (:func:`even_side_light`). A well-lit crop comes back as the same object."""
    mean, _ = grey_stats(crop)
    out = crop if low <= mean <= high else gamma_correct(crop)
    if side_ratio is not None and side_light_ratio(out) > side_ratio:
        out = even_side_light(out)
    return out


def _exposure_only(crop: np.ndarray) -> np.ndarray:
    return normalise_face_crop(crop, side_ratio=None)


def _clahe_small_tiles(crop: np.ndarray) -> np.ndarray:
    return clahe(crop, 2.0, 4)


#: Crop illumination methods compared by bench/lfw_accuracy.py (the default is "current").
CROP_LIGHT_METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exposure": _exposure_only,
    "gamma": _gamma_auto,
    "clahe": _clahe_small_tiles,
    "even": even_side_light,
    "current": normalise_face_crop,
}
