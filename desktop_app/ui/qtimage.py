"""Conversions between OpenCV images (numpy, BGR) and Qt images.

``QImage`` may be built in any thread (the capture worker does); ``QPixmap`` only in the GUI thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """A deep-copied QImage (Format_BGR888) of a (H, W, 3) uint8 BGR image, or Grayscale8 for (H, W)."""
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {arr.dtype}")
    if arr.ndim == 2:
        h, w = arr.shape
        return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8).copy()
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a (H, W, 3) BGR image, got shape {arr.shape}")
    h, w, _ = arr.shape
    return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_BGR888).copy()


def bgr_to_pixmap(image: np.ndarray, side: int | None = None) -> QPixmap:
    """A QPixmap of a BGR image, scaled to fit a ``side`` x ``side`` square when given (GUI thread only)."""
    pix = QPixmap.fromImage(bgr_to_qimage(image))
    if side is not None:
        pix = pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
    return pix


def initials_pixmap(text: str, side: int, color: str = "#546e7a") -> QPixmap:
    """A round placeholder with the initials of ``text`` (for people without a photo)."""
    pix = QPixmap(side, side)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(0, 0, side, side)
    initials = "".join(w[0] for w in text.split()[:2]).upper() or "?"
    font = p.font()
    font.setPixelSize(max(8, side // 3))
    font.setBold(True)
    p.setFont(font)
    p.setPen(QColor("white"))
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, initials)
    p.end()
    return pix
