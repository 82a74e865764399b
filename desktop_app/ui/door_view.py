"""The door view: live picture with face boxes (and a legend of their colours), the decision panel,
the latest events beside it, and a call to enrol while nobody is enrolled. While the camera gives no
picture (connecting, reconnecting, failed) the panel says "Out of service: camera" with the
reason, never "Look at the camera"; on a kiosk without the technical detail. What it shows of a
person follows the door screen setting (``DoorDisplay``: full name and photo, initials, nothing)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.live.session import KEEP_LOOKING, TrackedFace
from desktop_app.core.privacy.display import DoorDisplay, shown_name
from desktop_app.core.vocabulary import FaceState

from . import theme
from .capture import DoorEvent, LiveFrame
from .decision_panel import OUT_OF_SERVICE_TITLE, DecisionPanel
from .qtimage import bgr_to_pixmap
from .video_view import VideoView, overlays_for_faces

MAX_RECENT = 50

OUT_OF_SERVICE_STATES = frozenset({"connecting", "reconnecting", "failed"})
"""Camera states in which the door cannot see anybody: the panel says "Out of service: camera".
("ended", "closed" and "stopped" are an operator's doing: the panel is left as it was.)"""

STATE_TEXT = {
    "connecting": "Connecting to the camera…",
    "reconnecting": "Camera lost: reconnecting…",
    "ended": "End of the video.",
    "failed": "No picture.",
    "closed": "Camera closed.",
    "stopped": "Camera stopped.",
}

KIOSK_STATUS = {
    "connecting": "Connecting to the camera…",
    "reconnecting": "Reconnecting to the camera…",
}
"""What a public screen says under "Out of service: camera" (no addresses, no error texts)."""
KIOSK_NO_PICTURE = "No picture. Please ask the staff for help."

_RETRY = re.compile(r"\.?\s*Reconnecting in (?P<delay>[0-9.]+) s \(attempt (?P<attempt>\d+)\)\.?\s*$")


def split_retry(message: str) -> tuple[str, str, str]:
    """A frame reader's message -> (reason, "Reconnecting in N s", "attempt k"); the last two are ""
    when the message announces no retry."""
    found = _RETRY.search(message)
    if found is None:
        return message.strip(), "", ""
    delay = float(found["delay"])
    shown = f"{delay:.0f}" if delay >= 1.0 else f"{delay:.1f}"
    return message[:found.start()].strip(), f"Reconnecting in {shown} s", f"attempt {found['attempt']}"


def private_event(ev: DoorEvent, display: DoorDisplay) -> DoorEvent:
    """``ev`` as the door screen may show it: FULL unchanged; INITIALS: initials for the name and
    the candidates, no enrolled photo, no snapshot; NONE: no name, candidates, photo or snapshot."""
    if display is DoorDisplay.FULL:
        return ev
    return replace(ev, name=shown_name(ev.name, display), photo=None, snapshot=None,
                   candidates=tuple(c for c in (shown_name(n, display) for n in ev.candidates) if c))


def private_faces(faces: Sequence[TrackedFace], display: DoorDisplay) -> list[TrackedFace]:
    """The face boxes' names as the door screen may show them ("" when nothing may be shown)."""
    if display is DoorDisplay.FULL:
        return list(faces)
    return [replace(f, name=shown_name(f.name, display) or "") if f.name else f for f in faces]


def face_legend() -> QWidget:
    """One row explaining the colours of the face boxes (``theme.FACE_LEGEND``); each entry's
    tooltip says more."""
    row = QWidget()
    row.setObjectName("faceLegend")
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 2, 0, 0)
    lay.setSpacing(6)
    for colour, label, explanation in theme.FACE_LEGEND:
        swatch = QLabel()
        swatch.setFixedSize(12, 12)
        swatch.setStyleSheet(f"background: {colour}; border-radius: 2px;")
        text = QLabel(label)
        text.setProperty("role", "legend")
        for w in (swatch, text):
            w.setToolTip(explanation)
        lay.addWidget(swatch)
        lay.addWidget(text)
        lay.addSpacing(10)
    lay.addStretch(1)
    return row


class DoorView(QWidget):
    """Video (left), decision panel and recent events (right), and a source bar under the video.

    source_requested(kind) asks the window for a new source: "file", "url", "camera" or "replay";
    enrol_requested() asks for the enrolment wizard (the call to action shown while nobody is
    enrolled, see :meth:`set_enrolled`).
    """

    source_requested = Signal(str)
    enrol_requested = Signal()

    def __init__(self, parent: QWidget | None = None, kiosk: bool = False,
                 display: DoorDisplay = DoorDisplay.FULL) -> None:
        super().__init__(parent)
        self.kiosk = kiosk
        #: what the screen shows of a person (settings ``door_screen.display``; :meth:`set_display`)
        self.display = DoorDisplay(display)
        self.video = VideoView()
        self.decision = DecisionPanel(show_scores=not kiosk)
        self.recent = QListWidget()
        self.recent.setIconSize(QSize(40, 40))
        self.recent.setAlternatingRowColors(True)
        self.recent.setUniformItemSizes(True)
        self.recent.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.state = "idle"
        self.state_message = ""

        self.source_bar = QWidget()
        bar = QHBoxLayout(self.source_bar)
        bar.setContentsMargins(0, 4, 0, 0)
        self.source_label = QLabel("No source")
        self.source_label.setProperty("role", "hint")
        self.btn_camera = QPushButton("Camera")
        self.btn_file = QPushButton("Video file…")
        self.btn_url = QPushButton("Stream URL…")
        self.btn_replay = QPushButton("Play again")
        self.btn_replay.hide()
        for b, kind in ((self.btn_camera, "camera"), (self.btn_file, "file"), (self.btn_url, "url"),
                        (self.btn_replay, "replay")):
            b.clicked.connect(lambda _=False, k=kind: self.source_requested.emit(k))
        bar.addWidget(self.source_label, 1)
        bar.addWidget(self.btn_replay)
        bar.addWidget(self.btn_camera)
        bar.addWidget(self.btn_file)
        bar.addWidget(self.btn_url)
        self.source_bar.setVisible(not kiosk)
        self.legend = face_legend()

        # call to action while the gallery is empty (the door cannot recognise anybody yet)
        self.enrol_callout = QFrame()
        self.enrol_callout.setProperty("role", "callout")
        callout = QHBoxLayout(self.enrol_callout)
        self.enrol_text = QLabel(
            "Nobody can be recognised yet: no one is enrolled, so this door lets nobody in."
            if not kiosk else "No one is enrolled yet: an administrator must enrol people first.")
        self.enrol_text.setWordWrap(True)
        self.enrol_btn = QPushButton("Enrol the first person…")
        self.enrol_btn.setProperty("primary", True)
        self.enrol_btn.setVisible(not kiosk)
        self.enrol_btn.clicked.connect(lambda: self.enrol_requested.emit())
        callout.addWidget(self.enrol_text, 1)
        callout.addWidget(self.enrol_btn)
        self.enrol_callout.hide()

        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.enrol_callout)
        left.addWidget(self.video, 1)
        left.addWidget(self.legend)
        left.addWidget(self.source_bar)

        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.decision, 3)
        recent_title = QLabel("Latest events")
        recent_title.setProperty("role", "title")
        right.addWidget(recent_title)
        right.addWidget(self.recent, 2)
        side = QWidget()
        side.setLayout(right)
        side.setFixedWidth(380 if not kiosk else 460)

        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addLayout(left, 1)
        lay.addWidget(side)
        self.video.set_message("Starting…")

    # ------------------------------------------------------------------ slots
    def show_frame(self, frame: LiveFrame) -> None:
        faces = private_faces(frame.result.faces, self.display)
        self.video.set_frame(frame.image, overlays_for_faces(faces, scores=not self.kiosk))
        prompts = [f.prompt for f in frame.result.faces if f.status == FaceState.CHECKING]
        if prompts:  # liveness: the door waits for the check; say what to do (the challenge's action first)
            self.decision.show_checking(next((p for p in prompts if p != KEEP_LOOKING), prompts[0]) or KEEP_LOOKING)
        else:
            self.decision.end_checking()
        if self.state in OUT_OF_SERVICE_STATES:  # a frame read just before the camera was lost and
            self.video.set_stale(True)  # recognised after the news of the loss: still the last picture

    def add_events(self, events: Sequence[DoorEvent]) -> None:
        """New decisions: the newest granted one (else the newest) goes to the panel; all to the list."""
        if not events:
            return
        events = [private_event(e, self.display) for e in events]
        for ev in events:
            self._add_recent(ev)
        granted = [e for e in events if e.decision == "granted"]
        self.decision.show_event(granted[-1] if granted else events[-1])

    def _add_recent(self, ev: DoorEvent) -> None:
        who = ev.name or ("Granted" if ev.decision == "granted" else "Unknown face" if ev.decision == "unknown" else
                          "Ambiguous: " + " or ".join(ev.candidates) if ev.decision == "ambiguous" else
                          "Not a live face" if ev.decision == "spoof" else "Denied")
        score = "" if self.kiosk else f"  ·  score {ev.score:.2f}"  # no figures on a public screen
        item = QListWidgetItem(f"{ev.ts:%H:%M:%S}  {who}\n{theme.DECISION_LABELS.get(ev.decision, ev.decision)}"
                               f"{score}")
        image = ev.snapshot if ev.snapshot is not None else ev.photo
        if image is not None:
            item.setIcon(QIcon(bgr_to_pixmap(image, 40)))
        item.setForeground(QColor(theme.DECISION_COLOURS.get(ev.decision, theme.DENIED)).darker(130))
        item.setData(Qt.ItemDataRole.UserRole, ev.event_id)
        self.recent.insertItem(0, item)
        while self.recent.count() > MAX_RECENT:
            self.recent.takeItem(self.recent.count() - 1)

    def set_state(self, state: str, message: str) -> None:
        """Camera state from the worker. "live": the picture and "Waiting / Look at the camera" come
        back. Any other state: the last picture is dimmed and a message goes over it; in
        OUT_OF_SERVICE_STATES (connecting, reconnecting, failed) the decision panel also says "Out
        of service: camera" with the reason and when the next attempt is ("Reconnecting in N s");
        on a kiosk only a plain status, no address or error text."""
        self.state, self.state_message = state, message
        self.btn_replay.setVisible(state == "ended" and not self.kiosk)
        if state == "live":
            self.video.set_message("")
            self.decision.back_in_service()
            return
        if state == "idle":
            return
        self.video.set_stale(True)
        reason, retry, attempt = split_retry(message)
        out = state in OUT_OF_SERVICE_STATES
        if self.kiosk:
            status = KIOSK_STATUS.get(state, KIOSK_NO_PICTURE if out else STATE_TEXT.get(state, ""))
            self.video.set_message(f"{OUT_OF_SERVICE_TITLE}\n{status}" if out else status)
            if out:
                self.decision.show_out_of_service(status)
            return
        text = STATE_TEXT.get(state, state)
        if state == "failed":
            hint = "\nChoose a video file or a stream URL below."
            text = f"{message}{hint}" if message else f"No picture.{hint}"
        elif state == "reconnecting" and message:
            text = message
        self.video.set_message(text)
        if not out:
            return
        status = retry or STATE_TEXT.get(state, state).rstrip(".")
        detail = f"{reason} ({attempt})" if reason and attempt else reason
        self.decision.show_out_of_service(status, detail if detail != status else "")

    def set_display(self, display: DoorDisplay) -> None:
        """Show persons from now on as ``display`` says. A more private choice also clears the
        latest events and a granted decision still on screen (they may show names and photos)."""
        new = DoorDisplay(display)
        order = list(DoorDisplay)
        if order.index(new) > order.index(self.display):
            self.recent.clear()
            if self.decision.decision == "granted":
                self.decision.show_waiting()
        self.display = new

    def set_source_label(self, text: str) -> None:
        self.source_label.setText(text)

    def set_enrolled(self, persons: int) -> None:
        """Persons in the gallery: with none, show the call to enrol (kiosk: a note without button)."""
        self.enrol_callout.setVisible(persons == 0)

    def show_no_camera(self) -> None:
        """No webcam on this computer: say so and point at the alternatives."""
        self.state = "failed"
        hint = "" if self.kiosk else "\nOpen a video file or a network camera (stream URL) below."
        self.video.clear()
        self.video.set_message("No camera was found on this computer." + hint)
        self.decision.show_out_of_service(KIOSK_NO_PICTURE if self.kiosk else "No camera found",
                                          "" if self.kiosk else "No camera was found on this computer.")
