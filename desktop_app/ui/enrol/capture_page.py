"""The wizard's guided webcam capture: the mirrored camera picture, what to do next (frontal,
slight left/right, up, down), live quality feedback, automatic capture, and the list of shots.

The camera is read and analysed by the capture worker's thread (in its ``"enrol"`` mode, between
:meth:`CapturePage.start` and :meth:`CapturePage.stop`); this page only draws and judges the
analysed frames it is sent."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from .. import theme
from ..capture import ENROL, LIVE, CaptureController, EnrolFrame
from ..guided_capture import Feedback, FeedbackLevel, GuidedCapture
from ..qtimage import bgr_to_pixmap
from ..video_view import Overlay, VideoView

POSE_ICON = 72
"""Side of the shot thumbnails in the pose list, pixels."""

#: box colour on the picture, and text colour of the feedback, per feedback level
BOX_COLOURS: dict[FeedbackLevel, str] = {"bad": theme.DENIED, "adjust": theme.UNKNOWN, "hold": theme.MATCH,
               "captured": theme.GRANTED, "done": theme.GRANTED}
TEXT_COLOURS: dict[FeedbackLevel, str] = {"bad": theme.DENIED, "adjust": "#8d6e00", "hold": theme.GRANTED,
                "captured": theme.GRANTED, "done": theme.GRANTED}


class CapturePage(QWidget):
    """Guided capture on the shared camera. ``shots_changed()`` when a shot was taken, skipped or
    dropped; :attr:`guide` holds the shots."""

    shots_changed = Signal()

    def __init__(self, capture: CaptureController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.capture = capture
        self.guide = GuidedCapture()
        self.connected = False
        self._last_face: EnrolFrame | None = None
        self.preview = VideoView(mirror=True)
        self.feedback = QLabel("Starting the camera…")
        font = self.feedback.font()
        font.setPixelSize(20)
        font.setBold(True)
        self.feedback.setFont(font)
        self.feedback.setWordWrap(True)
        self.feedback.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.feedback.setMinimumHeight(56)
        self.instruction = QLabel("")
        self.instruction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pose_list = QListWidget()
        self.pose_list.setIconSize(QSize(POSE_ICON, POSE_ICON))
        self.pose_list.setFixedWidth(250)
        self.capture_btn = QPushButton("Capture now")
        self.skip_btn = QPushButton("Skip this pose")
        self.retake_btn = QPushButton("Retake selected")
        self.capture_btn.clicked.connect(self.capture_now)
        self.skip_btn.clicked.connect(self.skip_pose)
        self.retake_btn.clicked.connect(self.retake_selected)
        empty = QPixmap(POSE_ICON, POSE_ICON)
        empty.fill(QColor("#eceff1"))
        self._empty_icon = QIcon(empty)
        left = QVBoxLayout()
        left.addWidget(self.preview, 1)
        left.addWidget(self.instruction)
        left.addWidget(self.feedback)
        buttons = QHBoxLayout()
        buttons.addWidget(self.capture_btn)
        buttons.addWidget(self.skip_btn)
        buttons.addStretch(1)
        left.addLayout(buttons)
        right = QVBoxLayout()
        right.addWidget(QLabel("Shots"))
        right.addWidget(self.pose_list, 1)
        right.addWidget(self.retake_btn)
        lay = QHBoxLayout(self)
        lay.addLayout(left, 1)
        lay.addLayout(right)

    # ------------------------------------------------------------------ camera
    def start(self) -> None:
        """Put the camera worker in enrolment mode and receive its analysed frames."""
        worker = self.capture.worker
        if not self.connected:
            worker.enrol_frame.connect(self.on_enrol_frame)
            worker.state_changed.connect(self._camera_state)
            self.connected = True
        worker.set_mode(ENROL)
        worker.frame_consumed()
        if not self.capture.has_picture:
            self._camera_state(self.capture.state, self.capture.state_message)
        self._refresh_pose_list()

    def stop(self) -> None:
        """Back to the door's live recognition; this page receives no more frames."""
        worker = self.capture.worker
        if self.connected:
            worker.enrol_frame.disconnect(self.on_enrol_frame)
            worker.state_changed.disconnect(self._camera_state)
            self.connected = False
        worker.set_mode(LIVE)
        worker.frame_consumed()

    def _camera_state(self, state: str, message: str) -> None:
        if state not in ("live", "connecting", "reconnecting"):
            self.feedback.setStyleSheet(f"color: {theme.DENIED};")
            self.feedback.setText("No camera picture" + (f": {message}" if message else ".") +
                                  "\nGo back and choose photo files, or set up the camera in Settings.")

    def on_enrol_frame(self, frame: EnrolFrame) -> None:
        """One analysed camera frame: draw it, judge it, maybe capture a shot."""
        try:
            self._last_face = frame if frame.face is not None else None
            fb = self.guide.feed(frame.face, frame.problem, frame.source or "camera")
            overlays = [Overlay(b, "", BOX_COLOURS[fb.level]) for b in frame.boxes]
            self.preview.set_frame(frame.image, overlays)
            self._show_feedback(fb)
        finally:
            self.capture.worker.frame_consumed()

    # ------------------------------------------------------------------ shots
    def _show_feedback(self, fb: Feedback) -> None:
        self.feedback.setStyleSheet(f"color: {TEXT_COLOURS[fb.level]};")
        self.feedback.setText(fb.text)
        if fb.shot is not None or fb.level == "done":
            self._refresh_pose_list()
        pose = self.guide.pose
        self.instruction.setText(f"Shot {self.guide.current + 1} of {len(self.guide.poses)}: {pose.instruction}"
                                 if pose else "All shots done.")

    def _refresh_pose_list(self) -> None:
        self.pose_list.clear()
        for i, each in enumerate(self.guide.poses):
            shot = self.guide.shots.get(each.key)
            state = "✔ taken" if shot else ("skipped" if each.key in self.guide.skipped else
                                             ("◀ now" if i == self.guide.current else ""))
            item = QListWidgetItem(f"{each.label}\n{state}")
            item.setData(Qt.ItemDataRole.UserRole, each.key)
            item.setIcon(QIcon(bgr_to_pixmap(shot.face.crop, POSE_ICON)) if shot is not None else self._empty_icon)
            self.pose_list.addItem(item)
        pose = self.guide.pose
        self.instruction.setText(f"Shot {self.guide.current + 1} of {len(self.guide.poses)}: {pose.instruction}"
                                 if pose else "All shots done: review them and save.")
        self.capture_btn.setEnabled(pose is not None)
        self.skip_btn.setEnabled(pose is not None)
        self.shots_changed.emit()

    def capture_now(self) -> None:
        """Take the face in view for the current pose now, when its quality allows."""
        frame = self._last_face
        if frame is None or frame.face is None:
            self.feedback.setText("No usable face in view.")
            return
        shot = self.guide.capture(frame.face, frame.source or "camera")
        if shot is None:
            self.feedback.setText("This shot is not good enough: " + "; ".join(frame.reasons))
        self._refresh_pose_list()

    def skip_pose(self) -> None:
        self.guide.skip()
        self._refresh_pose_list()

    def retake_selected(self) -> None:
        item = self.pose_list.currentItem()
        if item is not None:
            self.guide.retake(str(item.data(Qt.ItemDataRole.UserRole)))
            self._refresh_pose_list()
