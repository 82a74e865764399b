"""Glare cue: a specular reflection of a lamp or window on a glossy screen or photo.

A reflection on glass is a large patch of clipped, colourless white with a soft halo, over or
beside the face. Skin shines too, but in small spots. The measure is the largest connected patch
of near-white pixels (all channels >= :data:`WHITE`, low saturation) inside the face box widened by
half its size, as a share of the face box's area.
"""

from __future__ import annotations

import cv2
import numpy as np

#: grey level (0..255) all three channels must reach to count as clipped white
WHITE = 240


def glare_share(image: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Largest near-white patch around the face, as a share (0..) of the face box area."""
    x, y, w, h = box
    if w < 4 or h < 4:
        return 0.0
    ih, iw = image.shape[:2]
    x0, x1 = max(int(x - 0.25 * w), 0), min(int(x + 1.25 * w), iw)
    y0, y1 = max(int(y - 0.25 * h), 0), min(int(y + 1.25 * h), ih)
    roi = image[y0:y1, x0:x1]
    if roi.size == 0:
        return 0.0
    b, g, r = cv2.split(roi)
    low = cv2.min(cv2.min(b, g), r)
    if int(low.max()) < WHITE:  # the usual case: nothing clipped
        return 0.0
    high = cv2.max(cv2.max(b, g), r)
    white = ((low >= WHITE) & (cv2.subtract(high, low) <= 20)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(white, connectivity=8)
    largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0
    return largest / float(w * h)
