"""The wizard's review of the camera shots: untick the ones not to keep, then save them (in the job
pool; a failure is shown on the page and stores nothing)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.service import EnrolReport, FaceGate

from ..guided_capture import GuidedCapture, Shot
from ..jobs import JobRunner
from ..qtimage import bgr_to_pixmap
from .common import EnrolDetails, SavingPage, hint_label, title_label

REVIEW_ICON = 140
"""Side of the shot thumbnails, pixels."""


class ReviewPage(SavingPage):
    """The captured shots, each with a tick box. ``selection_changed()`` when a box was (un)ticked."""

    selection_changed = Signal()

    def __init__(self, gate: FaceGate, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(jobs, parent)
        self.gate = gate
        self._shots: dict[str, Shot] = {}
        self.review_list = QListWidget()
        self.review_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.review_list.setIconSize(QSize(REVIEW_ICON, REVIEW_ICON))
        self.review_list.setGridSize(QSize(REVIEW_ICON + 30, REVIEW_ICON + 50))
        self.review_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.review_list.itemChanged.connect(lambda _item: self.selection_changed.emit())
        self.note = hint_label("Untick any shot you do not want to keep, then save.")
        lay = QVBoxLayout(self)
        lay.addWidget(title_label("Review the shots"))
        lay.addWidget(self.note)
        lay.addWidget(self.review_list, 1)

    def fill(self, guide: GuidedCapture) -> None:
        """List the shots of ``guide``, in pose order, all ticked."""
        self._shots = dict(guide.shots)
        self.review_list.clear()
        for pose in guide.poses:
            shot = guide.shots.get(pose.key)
            if shot is None:
                continue
            q = shot.face.quality
            item = QListWidgetItem(QIcon(bgr_to_pixmap(shot.face.crop, REVIEW_ICON)),
                                   f"{pose.label}\nsharp {q.sharpness:.0f} · yaw {q.yaw:+.0f}°")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, pose.key)
            self.review_list.addItem(item)
        self.selection_changed.emit()

    def selected_shots(self) -> list[Shot]:
        """The ticked shots, in pose order."""
        items = [self.review_list.item(i) for i in range(self.review_list.count())]
        keys = {str(item.data(Qt.ItemDataRole.UserRole)) for item in items
                if item.checkState() == Qt.CheckState.Checked}
        return [s for k, s in self._shots.items() if k in keys]

    def save(self, details: EnrolDetails, *, only: Sequence[str] | None = None, force: bool = False) -> None:
        """Store the ticked shots (``only`` those of these sources) for ``details`` in the job pool;
        ``enrolled`` follows. ``force``: store shots the identity check refuses (audited)."""
        shots = [s for s in self.selected_shots() if only is None or s.source in only]
        if not shots or self.busy:
            return
        faces = [(s.source, s.face) for s in shots]
        gate = self.gate

        actor = self.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> EnrolReport:
            return gate.enrol_faces(details.name, faces, employee_id=details.employee_id,
                                    department=details.department, force=force, actor=actor)

        self._start(work, "save shots")

    def _on_failed(self, message: str) -> None:
        self.note.setText(f"Saving failed: {message}")
