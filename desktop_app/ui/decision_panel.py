"""The large decision panel of the door view: ACCESS GRANTED (green, name, enrolled photo), UNKNOWN
(amber), DENIED (red); it fades back to "waiting" a few seconds after the last decision. While the
camera gives no picture it says "Out of service: camera" instead of "Look at the camera"."""

from __future__ import annotations

from PySide6.QtCore import QEasingCurve, Qt, QTimer, QVariantAnimation, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget

from . import theme
from .capture import DoorEvent
from .qtimage import bgr_to_pixmap, initials_pixmap

PHOTO_SIDE = 150
OUT_OF_SERVICE = "out-of-service"
"""``DecisionPanel.decision`` while the camera gives no picture."""
CHECKING_STATE = "checking"
"""``DecisionPanel.decision`` while a face's liveness is checked (:meth:`DecisionPanel.show_checking`)."""
OUT_OF_SERVICE_TITLE = "Out of service: camera"
OUT_OF_SERVICE_COLOUR = "#4e342e"


class DecisionPanel(QFrame):
    """Shows the latest decision in large type; ``hold_ms`` later it fades back to waiting.

    announced(decision, name) is emitted for every decision shown (name "" for unknown faces);
    show_scores: print the time and cosine score under the name (False on a public kiosk screen:
    the time only).
    """

    announced = Signal(str, str)

    def __init__(self, parent: QWidget | None = None, hold_ms: int = 4000, fade_ms: int = 700,
                 show_scores: bool = True) -> None:
        super().__init__(parent)
        self.hold_ms = hold_ms
        self.show_scores = show_scores
        self.setObjectName("decisionPanel")
        self.setMinimumHeight(300)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.title = QLabel()
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.photo = QLabel()
        self.photo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.photo.setFixedHeight(PHOTO_SIDE + 8)
        self.name = QLabel()
        self.name.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name.setWordWrap(True)
        self.detail = QLabel()
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        for label, size, bold in ((self.title, 30, True), (self.name, 22, True), (self.detail, 13, False)):
            font = label.font()
            font.setPixelSize(size)
            font.setBold(bold)
            label.setFont(font)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 16, 16, 16)
        lay.addStretch(1)
        lay.addWidget(self.title)
        lay.addWidget(self.photo)
        lay.addWidget(self.name)
        lay.addWidget(self.detail)
        lay.addStretch(1)
        self.decision = "waiting"
        self.out_of_service: tuple[str, str] | None = None
        """(status, detail) while the camera gives no picture (see :meth:`show_out_of_service`)."""
        self._colour = QColor(theme.WAITING)
        self._hold = QTimer(self)
        self._hold.setSingleShot(True)
        self._hold.timeout.connect(self._fade_out)
        self._fade = QVariantAnimation(self)
        self._fade.setDuration(fade_ms)
        self._fade.setEasingCurve(QEasingCurve.Type.InOutQuad)
        self._fade.valueChanged.connect(self._set_colour)
        self._fade.finished.connect(self.show_waiting)
        self.show_waiting()

    def _set_colour(self, colour: QColor | str) -> None:
        """Background ``colour``; text dark on amber, white otherwise (a style sheet, so that the
        application's style sheet cannot override it)."""
        bg = QColor(colour)
        self._colour = bg
        text = "#101418" if self.decision in ("unknown", "ambiguous", CHECKING_STATE) else "white"
        self.setStyleSheet(f"#decisionPanel {{ background: {bg.name()}; border-radius: 8px; }}"
                           f" #decisionPanel QLabel {{ color: {text}; background: transparent; }}")

    @property
    def colour(self) -> str:
        """Current background colour, "#rrggbb"."""
        return str(self._colour.name())

    def show_waiting(self) -> None:
        """Back to waiting ("Look at the camera"), or to "Out of service" while the camera is out."""
        self._fade.stop()
        if self.out_of_service is not None:
            self._show_out_of_service()
            return
        self.decision = "waiting"
        self._set_colour(theme.WAITING)
        self.title.setText("Waiting")
        self.photo.clear()
        self.photo.hide()
        self.name.setText("Look at the camera")
        self.detail.setText("")

    def show_out_of_service(self, status: str, detail: str = "") -> None:
        """The camera gives no picture: "Out of service: camera" in large type, ``status`` under it
        (e.g. "Reconnecting in 5 s"), ``detail`` in small type (the reason; "" on a public screen),
        until :meth:`back_in_service`. It replaces a decision still on screen at once; a decision
        announced meanwhile fades back to it, never to "Look at the camera"."""
        self.out_of_service = (status, detail)
        self._hold.stop()
        self._fade.stop()
        self._show_out_of_service()

    def back_in_service(self) -> None:
        """Frames flow again: back to waiting (a no-op when the camera was not out of service)."""
        if self.out_of_service is None:
            return
        self.out_of_service = None
        if self.decision == OUT_OF_SERVICE:
            self.show_waiting()

    def _show_out_of_service(self) -> None:
        assert self.out_of_service is not None
        status, detail = self.out_of_service
        self.decision = OUT_OF_SERVICE
        self._set_colour(OUT_OF_SERVICE_COLOUR)
        self.title.setText(OUT_OF_SERVICE_TITLE)
        self.photo.clear()
        self.photo.hide()
        self.name.setText(status)
        self.detail.setText(detail)

    def show_event(self, ev: DoorEvent) -> None:
        """Announce ``ev`` (granted: name + enrolled photo; unknown / denied: snapshot if any)."""
        self._fade.stop()
        self.decision = ev.decision
        self._set_colour(theme.DECISION_COLOURS.get(ev.decision, theme.DENIED))
        self.title.setText(theme.DECISION_LABELS.get(ev.decision, ev.decision.upper()))
        if ev.decision == "granted":
            self.name.setText(ev.name or "")
            pix = (bgr_to_pixmap(ev.photo, PHOTO_SIDE) if ev.photo is not None
                   else initials_pixmap(ev.name, PHOTO_SIDE) if ev.name else QPixmap())  # no name shown: no picture
        elif ev.decision == "unknown":
            self.name.setText("Face not recognised")
            pix = bgr_to_pixmap(ev.snapshot, PHOTO_SIDE) if ev.snapshot is not None else QPixmap()
        elif ev.decision == "ambiguous":  # two enrolled people too alike to tell apart: not let in
            self.name.setText(f"Ambiguous: {' or '.join(ev.candidates) or 'two enrolled people'} — see staff")
            pix = bgr_to_pixmap(ev.snapshot, PHOTO_SIDE) if ev.snapshot is not None else QPixmap()
        elif ev.decision == "spoof":  # the liveness check: a photo, a screen or a cut-out, not a live face
            self.name.setText("Not a live face (photo or screen?) — see staff")
            pix = bgr_to_pixmap(ev.snapshot, PHOTO_SIDE) if ev.snapshot is not None else QPixmap()
        else:
            self.name.setText(ev.name or "Access denied")
            pix = bgr_to_pixmap(ev.snapshot, PHOTO_SIDE) if ev.snapshot is not None else QPixmap()
        self.photo.setPixmap(pix)
        self.photo.setVisible(not pix.isNull())
        self.detail.setText(f"{ev.ts:%H:%M:%S}   score {ev.score:.2f}" if self.show_scores else f"{ev.ts:%H:%M:%S}")
        self._hold.start(self.hold_ms)
        self.announced.emit(ev.decision, ev.name or "")

    def show_checking(self, prompt: str) -> None:
        """A face's liveness is being checked (the door waits): "Checking" and ``prompt`` ("keep
        looking at the camera", or the challenge's action) in large type, while nothing else is
        announced; :meth:`end_checking` goes back to waiting."""
        if self.decision not in ("waiting", CHECKING_STATE):
            return
        self.decision = CHECKING_STATE
        self._set_colour(theme.CHECKING)
        self.title.setText("Checking")
        self.photo.clear()
        self.photo.hide()
        self.name.setText(prompt[:1].upper() + prompt[1:])
        self.detail.setText("")

    def end_checking(self) -> None:
        """No face is being checked any more: back to waiting (a no-op otherwise)."""
        if self.decision == CHECKING_STATE:
            self.show_waiting()

    def _fade_out(self) -> None:
        self._fade.setStartValue(self._colour)
        self._fade.setEndValue(QColor(theme.WAITING))
        self._fade.start()
