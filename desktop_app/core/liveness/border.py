"""Border cue: straight edges that frame the face, as the edge of a phone, a tablet or a print does.

Long straight lines are found (Canny edges, probabilistic Hough) in a region around the face. A
line counts as a side when it runs roughly parallel to the face box, lies outside it, and passes
alongside it (a left side spans the face's height, a top side its width). Three sides or more,
at a plausible distance from the face, make a frame. A real door scene can hold one or two such
lines (a door jamb, a shelf); a full frame around a face is what a held picture shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: degrees a side may lean from the vertical / horizontal
MAX_TILT_DEG = 20.0


@dataclass(frozen=True)
class BorderFinding:
    """Which sides of a frame were found around the face (left, right, top, bottom)."""

    left: bool = False
    right: bool = False
    top: bool = False
    bottom: bool = False

    @property
    def sides(self) -> int:
        return int(self.left) + int(self.right) + int(self.top) + int(self.bottom)

    @property
    def framed(self) -> bool:
        """Three sides or more."""
        return self.sides >= 3


def find_border(image: np.ndarray, box: tuple[float, float, float, float]) -> BorderFinding:
    """Look for a frame around the face ``box`` (x, y, w, h) in the (H, W, 3) uint8 BGR ``image``.

    The search region reaches 1.8 face widths left and right, 1.4 face heights above and 2.2
    below; lines shorter than 0.7 face height (sides) or 0.7 face width (top, bottom) are ignored.
    """
    x, y, w, h = box
    if w < 8 or h < 8:
        return BorderFinding()
    ih, iw = image.shape[:2]
    x0, x1 = max(int(x - 1.8 * w), 0), min(int(x + 2.8 * w), iw)
    y0, y1 = max(int(y - 1.4 * h), 0), min(int(y + 3.2 * h), ih)
    scale = min(1.0, 120.0 / w)  # work at about 120 px face width
    grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(grey, (3, 3), 0)
    edges = cv2.Canny(grey, 40, 120)
    sw, sh = w * scale, h * scale
    lines = cv2.HoughLinesP(edges, 1, math.pi / 180, threshold=int(0.35 * min(sw, sh)),
                            minLineLength=0.6 * min(sw, sh), maxLineGap=0.06 * max(sw, sh))
    if lines is None:
        return BorderFinding()
    fx0, fy0 = (x - x0) * scale, (y - y0) * scale
    fx1, fy1 = fx0 + sw, fy0 + sh
    cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
    left = right = top = bottom = False
    for ax, ay, bx, by in lines.reshape(-1, 4).astype(np.float64):
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy)
        angle = abs(math.degrees(math.atan2(dy, dx))) % 180.0
        if abs(angle - 90.0) <= MAX_TILT_DEG and length >= 0.7 * sh:
            lo, hi = min(ay, by), max(ay, by)
            if lo > cy or hi < cy:
                continue  # does not pass alongside the face
            xm = ax + dx * (cy - ay) / dy if dy else ax
            if fx0 - 1.6 * sw <= xm <= fx0 - 0.05 * sw:
                left = True
            elif fx1 + 0.05 * sw <= xm <= fx1 + 1.6 * sw:
                right = True
        elif min(angle, 180.0 - angle) <= MAX_TILT_DEG and length >= 0.7 * sw:
            lo, hi = min(ax, bx), max(ax, bx)
            if lo > cx or hi < cx:
                continue
            ym = ay + dy * (cx - ax) / dx if dx else ay
            if fy0 - 1.3 * sh <= ym <= fy0 - 0.05 * sh:
                top = True
            elif fy1 + 0.05 * sh <= ym <= fy1 + 2.2 * sh:
                bottom = True
    return BorderFinding(left, right, top, bottom)
