"""The live picture with face boxes, names and scores drawn over it (painted, never a widget per face)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop_app.core.face.quality import STEP_CLOSER

from . import theme


@dataclass(frozen=True)
class Overlay:
    """One box to draw. box: (x, y, w, h) in pixels of the frame; label: text above it (may be "");
    color: CSS colour; dashed: dashed outline (faces too small to recognise)."""

    box: tuple[float, float, float, float]
    label: str
    color: str
    dashed: bool = False


def overlays_for_faces(faces: Sequence[object], scores: bool = True) -> list[Overlay]:
    """Overlays for ``TrackedFace`` objects of a FrameResult (recognised green, deactivated red,
    votes light green, unknown amber, profile/blurred grey, too small grey and dashed, liveness
    checking light blue with its prompt, spoof suspected purple; the colours
    are explained by ``theme.FACE_LEGEND``). scores: print the cosine score beside the name
    (False on a public kiosk screen)."""
    out: list[Overlay] = []
    for f in faces:
        status = getattr(f, "status", "unknown")
        name = getattr(f, "name", None)
        score = float(getattr(f, "score", -1.0)) if scores else -1.0
        box = tuple(float(v) for v in getattr(f, "box", (0, 0, 0, 0)))
        if status == "too-small":
            out.append(Overlay(box, "", theme.TOO_SMALL, dashed=True))  # type: ignore[arg-type]
        elif status == "poor-view":  # profile, blurred or poor light: tracked, not matched
            light = getattr(f, "reason", "") == STEP_CLOSER
            out.append(Overlay(box, STEP_CLOSER.capitalize() if light else "", theme.TOO_SMALL))  # type: ignore[arg-type]
        elif status == "recognised":
            out.append(Overlay(box, f"{name}  {score:.2f}" if score > -1.0 else str(name),  # type: ignore[arg-type]
                               theme.GRANTED))
        elif status == "denied":  # recognised as a deactivated person
            out.append(Overlay(box, f"{name}  DENIED", theme.DENIED))  # type: ignore[arg-type]
        elif status == "match":
            out.append(Overlay(box, f"{name}?  {score:.2f}" if score > -1.0 else f"{name}?",  # type: ignore[arg-type]
                               theme.MATCH))
        elif status == "checking":  # liveness not decided: the door waits; the prompt says what to do
            prompt = str(getattr(f, "prompt", "") or "checking")
            out.append(Overlay(box, prompt[:1].upper() + prompt[1:], theme.CHECKING))  # type: ignore[arg-type]
        elif status == "spoof":  # the liveness check judged it a photo, a screen or a cut-out
            out.append(Overlay(box, "SPOOF SUSPECTED", theme.SPOOF))  # type: ignore[arg-type]
        else:
            out.append(Overlay(box, f"Unknown  {score:.2f}" if score > -1.0 else "Unknown",  # type: ignore[arg-type]
                               theme.UNKNOWN))
    return out


class VideoView(QWidget):
    """Paints the newest frame scaled to fit (aspect kept), its overlays, and an optional message band.

    mirror: show the picture mirrored (the enrolment preview, like a mirror); boxes follow.
    """

    def __init__(self, parent: QWidget | None = None, mirror: bool = False) -> None:
        super().__init__(parent)
        self.mirror = mirror
        self._image: QImage | None = None
        self._overlays: list[Overlay] = []
        self._message = ""
        self._stale = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(800, 450)

    @property
    def has_image(self) -> bool:
        return self._image is not None

    @property
    def overlays(self) -> list[Overlay]:
        return list(self._overlays)

    @property
    def message(self) -> str:
        return self._message

    @property
    def stale(self) -> bool:
        """True while the picture shown is the last one of a camera that gives no more."""
        return self._stale

    def set_frame(self, image: QImage, overlays: Sequence[Overlay] = ()) -> None:
        self._image = image
        self._overlays = list(overlays)
        self._stale = False
        self.update()

    def set_stale(self, stale: bool = True) -> None:
        """Mark the picture as the last one of a lost camera: it is dimmed and its face boxes are no
        longer drawn (nobody should take a frozen picture for a live one). A new frame clears it."""
        if stale != self._stale:
            self._stale = stale
            self.update()

    def clear(self) -> None:
        self._image = None
        self._overlays = []
        self.update()

    def set_message(self, text: str) -> None:
        """A message band over the picture ("" hides it)."""
        if text != self._message:
            self._message = text
            self.update()

    def _target(self) -> QRectF:
        assert self._image is not None
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / max(iw, 1), self.height() / max(ih, 1))
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#101418"))
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self._image is not None:
            target = self._target()
            image = self._image.flipped(Qt.Orientation.Horizontal) if self.mirror else self._image
            if self._stale:
                p.setOpacity(0.3)
                p.drawImage(target, image)
                p.setOpacity(1.0)
            else:
                p.drawImage(target, image)
                self._paint_overlays(p, target)
        if self._message:
            self._paint_message(p)
        p.end()

    def _paint_overlays(self, p: QPainter, target: QRectF) -> None:
        assert self._image is not None
        scale = target.width() / max(self._image.width(), 1)
        font = QFont(self.font())
        font.setPixelSize(max(12, min(20, int(target.height() / 28))))
        font.setBold(True)
        p.setFont(font)
        metrics = QFontMetricsF(font)
        for ov in self._overlays:
            x, y, w, h = ov.box
            if self.mirror:
                x = self._image.width() - x - w
            rect = QRectF(target.x() + x * scale, target.y() + y * scale, w * scale, h * scale)
            pen = QPen(QColor(ov.color), 1.5 if ov.dashed else 3.0)
            if ov.dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(rect, 4, 4)
            if ov.label:
                tw = metrics.horizontalAdvance(ov.label) + 12
                th = metrics.height() + 6
                top = rect.top() - th if rect.top() - th >= target.top() else rect.bottom()
                left = min(rect.left() - 1.5, target.right() - tw)  # keep the name inside the picture
                band = QRectF(max(target.left(), left), top, tw, th)
                p.fillRect(band, QColor(ov.color))
                p.setPen(QColor("#101418") if ov.color in (theme.UNKNOWN, theme.MATCH) else QColor("white"))
                p.drawText(band.adjusted(6, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                           ov.label)

    def _paint_message(self, p: QPainter) -> None:
        font = QFont(self.font())
        font.setPixelSize(18)
        p.setFont(font)
        metrics = QFontMetricsF(font)
        lines = self._message.splitlines() or [""]
        h = metrics.height() * len(lines) + 24
        if self._image is not None and not self._stale:  # over a live picture: a band at its bottom
            target = self._target()
            band = QRectF(target.left(), target.bottom() - h, target.width(), h)
        else:
            band = QRectF(0, (self.height() - h) / 2, self.width(), h)
        p.fillRect(band, QColor(0, 0, 0, 170))
        p.setPen(QColor("white"))
        p.drawText(band, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)

    def map_to_image(self, pos: QPointF) -> QPointF | None:
        """Widget position -> frame pixel position (None outside the picture)."""
        if self._image is None:
            return None
        target = self._target()
        if not target.contains(pos):
            return None
        scale = target.width() / max(self._image.width(), 1)
        return QPointF((pos.x() - target.x()) / scale, (pos.y() - target.y()) / scale)
