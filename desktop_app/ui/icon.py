"""FaceGate's icon: ``assets/facegate.svg``/``.png`` when shipped beside the code (checkout or
PyInstaller bundle), else the same drawing painted here."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap


def asset_dirs() -> list[Path]:
    """Folders that may hold the icon files, most specific first."""
    dirs = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        dirs.append(Path(bundle) / "assets")
    dirs.append(Path(__file__).resolve().parents[2] / "assets")
    return dirs


def paint_icon(side: int) -> QPixmap:
    """The icon drawn with QPainter: a door frame in blue with a face outline and a green tick."""
    pix = QPixmap(side, side)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = side / 64.0
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#1565c0"))
    p.drawRoundedRect(QRectF(4 * s, 4 * s, 56 * s, 56 * s), 12 * s, 12 * s)
    pen = QPen(QColor("white"), 3.5 * s)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawEllipse(QRectF(20 * s, 13 * s, 22 * s, 28 * s))  # the face, as in assets/facegate.svg
    for x, y, dx, dy in ((12, 20, 0, -7), (12, 13, 7, 0), (52, 20, 0, -7), (52, 13, -7, 0),
                         (12, 44, 0, 7), (12, 51, 7, 0), (52, 44, 0, 7), (52, 51, -7, 0)):
        p.drawLine(QPointF(x * s, y * s), QPointF((x + dx) * s, (y + dy) * s))
    smile = QPainterPath(QPointF(26 * s, 33 * s))
    smile.quadTo(QPointF(31 * s, 37 * s), QPointF(36 * s, 33 * s))
    p.setPen(QPen(QColor("white"), 2.5 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    p.drawPath(smile)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("white"))
    p.drawEllipse(QPointF(26.5 * s, 24.5 * s), 2 * s, 2 * s)
    p.drawEllipse(QPointF(35.5 * s, 24.5 * s), 2 * s, 2 * s)
    p.setBrush(QColor("#43a047"))
    p.drawEllipse(QRectF(38 * s, 38 * s, 22 * s, 22 * s))
    tick = QPainterPath(QPointF(43 * s, 49 * s))
    tick.lineTo(47.5 * s, 53.5 * s)
    tick.lineTo(55 * s, 44 * s)
    pen = QPen(QColor("white"), 3 * s)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPath(tick)
    p.end()
    return pix


def app_icon() -> QIcon:
    """The application icon (PNG asset, else SVG asset, else painted)."""
    for d in asset_dirs():
        for name in ("facegate.png", "facegate.svg"):
            path = d / name
            if path.is_file():
                icon = QIcon(str(path))
                if not icon.pixmap(32, 32).isNull():
                    return icon
    icon = QIcon()
    for side in (16, 32, 64, 128, 256):
        icon.addPixmap(paint_icon(side))
    return icon


def lock_icon(locked: bool = True, color: str = "white", side: int = 32) -> QIcon:
    """A padlock (closed or open) drawn in ``color``: marks the screens behind the admin PIN."""
    pix = QPixmap(side, side)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = side / 32.0
    pen = QPen(QColor(color), 3.0 * s)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    shackle = QPainterPath(QPointF(10 * s, 15 * s))
    shackle.lineTo(10 * s, 10 * s)
    shackle.arcTo(QRectF(10 * s, 3 * s, 12 * s, 14 * s), 180, -180)
    if locked:
        shackle.lineTo(22 * s, 15 * s)
    p.drawPath(shackle if locked else shackle.translated(0, -3 * s))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(color))
    p.drawRoundedRect(QRectF(6 * s, 14 * s, 20 * s, 15 * s), 3 * s, 3 * s)
    p.end()
    return QIcon(pix)
