"""The enrolment wizard: who (name, employee id, department), then either guided webcam capture
(frontal, slight left/right, up, down, with live quality feedback and automatic capture) and a
review, or photo files (drag and drop or file dialog) enrolled in the job pool with progress and
cancel; the last page shows the outcome, rejected shots with reasons, and look-alike warnings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import CancelledError
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.service import EnrolReport
from desktop_app.core.video.imageio import IMAGE_SUFFIXES as IMAGE_EXTENSIONS
from desktop_app.core.video.imageio import read_image

from . import theme
from .capture import ENROL, LIVE, EnrolFrame
from .context import AppContext
from .guided_capture import Feedback, GuidedCapture, Shot
from .jobs import Job
from .qtimage import bgr_to_pixmap
from .video_view import Overlay, VideoView

log = logging.getLogger(__name__)

THUMB = 96
PAGE_DETAILS, PAGE_CAMERA, PAGE_REVIEW, PAGE_PHOTOS, PAGE_RESULT = range(5)


def _title(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "title")
    return label


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "hint")
    label.setWordWrap(True)
    return label


class PhotoDropList(QListWidget):
    """Photo files as thumbnails; accepts files and folders dropped from a file manager."""

    files_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 40, THUMB + 36))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setWordWrap(True)
        self.setAcceptDrops(True)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.setMinimumHeight(220)

    def files(self) -> list[Path]:
        return [Path(self.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.count())]

    def add_paths(self, paths: Sequence[Path]) -> int:
        """Add image files (folders are expanded, non-images ignored); returns how many were added."""
        known = {str(p) for p in self.files()}
        added = 0
        for path in paths:
            items = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
            for p in items:
                if p.suffix.lower() not in IMAGE_EXTENSIONS or str(p) in known:
                    continue
                item = QListWidgetItem(p.name)
                item.setData(Qt.ItemDataRole.UserRole, str(p))
                item.setToolTip(str(p))
                try:
                    item.setIcon(QIcon(bgr_to_pixmap(read_image(p), THUMB)))
                except Exception:
                    item.setText(f"{p.name}\n(unreadable)")
                self.addItem(item)
                known.add(str(p))
                added += 1
        if added:
            self.files_changed.emit()
        return added

    def remove_selected(self) -> None:
        for item in self.selectedItems():
            self.takeItem(self.row(item))
        self.files_changed.emit()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            super().dropEvent(event)
            return
        self.add_paths([Path(u.toLocalFile()) for u in urls])
        event.acceptProposedAction()


class EnrolWizard(QDialog):
    """The enrolment wizard (modeless dialog). ``finished_enrolment(EnrolReport)`` after a save.

    name/employee_id/department: prefilled values (adding shots to an existing person); mode:
    "camera" or "photos" preselected.
    """

    finished_enrolment = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *, name: str = "",
                 employee_id: str | None = None, department: str | None = None, mode: str = "camera") -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Enrol a person")
        self.resize(980, 680)
        self.guide = GuidedCapture()
        self.report: EnrolReport | None = None
        self.job: Job | None = None
        self._camera_connected = False
        self.stack = QStackedWidget()
        self.stack.addWidget(self._details_page(name, employee_id, department, mode))
        self.stack.addWidget(self._camera_page())
        self.stack.addWidget(self._review_page())
        self.stack.addWidget(self._photos_page())
        self.stack.addWidget(self._result_page())

        self.back_btn = QPushButton("Back")
        self.next_btn = QPushButton("Next")
        self.next_btn.setProperty("primary", True)
        self.next_btn.setDefault(True)
        self.close_btn = QPushButton("Cancel")
        nav = QHBoxLayout()
        nav.addWidget(self.back_btn)
        nav.addStretch(1)
        nav.addWidget(self.close_btn)
        nav.addWidget(self.next_btn)
        lay = QVBoxLayout(self)
        lay.addWidget(self.stack, 1)
        lay.addLayout(nav)
        self.back_btn.clicked.connect(self.go_back)
        self.next_btn.clicked.connect(self.go_next)
        self.close_btn.clicked.connect(self.close)
        self._show(PAGE_DETAILS)

    # ------------------------------------------------------------------ pages
    def _details_page(self, name: str, employee_id: str | None, department: str | None, mode: str) -> QWidget:
        page = QWidget()
        self.name_edit = QLineEdit(name)
        self.name_edit.setPlaceholderText("Full name, as it should appear at the door")
        self.employee_edit = QLineEdit(employee_id or "")
        self.department_edit = QLineEdit(department or "")
        self.existing_hint = _hint("")
        self.use_camera = QRadioButton("With the camera (guided: five shots, taken automatically)")
        self.use_photos = QRadioButton("From photo files (drag and drop, or choose files)")
        group = QButtonGroup(page)
        group.addButton(self.use_camera)
        group.addButton(self.use_photos)
        (self.use_photos if mode == "photos" else self.use_camera).setChecked(True)
        self.details_error = QLabel("")
        self.details_error.setProperty("role", "error")
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Employee ID", self.employee_edit)
        form.addRow("Department", self.department_edit)
        lay = QVBoxLayout(page)
        lay.addWidget(_title("Who is being enrolled?"))
        lay.addLayout(form)
        lay.addWidget(self.existing_hint)
        lay.addSpacing(12)
        lay.addWidget(QLabel("How?"))
        lay.addWidget(self.use_camera)
        lay.addWidget(self.use_photos)
        lay.addWidget(self.details_error)
        lay.addStretch(1)
        self.name_edit.textChanged.connect(self._name_changed)
        self._name_changed(name)
        return page

    def _camera_page(self) -> QWidget:
        page = QWidget()
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
        self.pose_list.setIconSize(QSize(72, 72))
        self.pose_list.setFixedWidth(250)
        self.capture_btn = QPushButton("Capture now")
        self.skip_btn = QPushButton("Skip this pose")
        self.retake_btn = QPushButton("Retake selected")
        self.capture_btn.clicked.connect(self.capture_now)
        self.skip_btn.clicked.connect(self.skip_pose)
        self.retake_btn.clicked.connect(self.retake_selected)
        self._last_face: EnrolFrame | None = None
        empty = QPixmap(72, 72)
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
        lay = QHBoxLayout(page)
        lay.addLayout(left, 1)
        lay.addLayout(right)
        return page

    def _review_page(self) -> QWidget:
        page = QWidget()
        self.review_list = QListWidget()
        self.review_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.review_list.setIconSize(QSize(140, 140))
        self.review_list.setGridSize(QSize(170, 190))
        self.review_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.review_list.itemChanged.connect(lambda _item: self._update_nav())
        self.review_note = _hint("Untick any shot you do not want to keep, then save.")
        lay = QVBoxLayout(page)
        lay.addWidget(_title("Review the shots"))
        lay.addWidget(self.review_note)
        lay.addWidget(self.review_list, 1)
        return page

    def _photos_page(self) -> QWidget:
        page = QWidget()
        self.photo_list = PhotoDropList()
        add = QPushButton("Add photos…")
        remove = QPushButton("Remove selected")
        add.clicked.connect(self.choose_photos)
        remove.clicked.connect(self.photo_list.remove_selected)
        self.progress = QProgressBar()
        self.progress.hide()
        self.progress_label = _hint("")
        self.cancel_job_btn = QPushButton("Cancel enrolment")
        self.cancel_job_btn.hide()
        self.cancel_job_btn.clicked.connect(self.cancel_job)
        self.photo_list.files_changed.connect(self._update_nav)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        lay = QVBoxLayout(page)
        lay.addWidget(_title("Photos"))
        lay.addWidget(_hint("Drop photos or folders here, or use “Add photos…”. One person per photo, face "
                            "clearly visible; several photos (different days, light) recognise better."))
        lay.addWidget(self.photo_list, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.progress_label)
        lay.addWidget(self.cancel_job_btn)
        return page

    def _result_page(self) -> QWidget:
        page = QWidget()
        self.result_title = _title("")
        self.result_text = QLabel("")
        self.result_text.setWordWrap(True)
        self.result_shots = QListWidget()
        self.result_shots.setViewMode(QListWidget.ViewMode.IconMode)
        self.result_shots.setIconSize(QSize(THUMB, THUMB))
        self.result_shots.setMaximumHeight(THUMB + 48)
        self.rejected_list = QListWidget()
        self.warnings = QLabel("")
        self.warnings.setProperty("role", "warning")
        self.warnings.setWordWrap(True)
        self.warnings.hide()
        lay = QVBoxLayout(page)
        lay.addWidget(self.result_title)
        lay.addWidget(self.result_text)
        lay.addWidget(self.warnings)
        lay.addWidget(self.result_shots)
        self.rejected_title = QLabel("Not used:")
        self.rejected_list.setMaximumHeight(180)
        lay.addWidget(self.rejected_title)
        lay.addWidget(self.rejected_list)
        lay.addStretch(1)
        return page

    # ------------------------------------------------------------------ navigation
    @property
    def page(self) -> int:
        return self.stack.currentIndex()

    def _show(self, page: int) -> None:
        leaving = self.stack.currentIndex()
        if leaving == PAGE_CAMERA and page != PAGE_CAMERA:
            self._camera_off()
        self.stack.setCurrentIndex(page)
        if page == PAGE_CAMERA:
            self._camera_on()
            self._refresh_pose_list()
        if page == PAGE_REVIEW:
            self._fill_review()
        self._update_nav()

    def _update_nav(self) -> None:
        page = self.page
        busy = self.job is not None
        self.back_btn.setVisible(page in (PAGE_CAMERA, PAGE_REVIEW, PAGE_PHOTOS))
        self.back_btn.setEnabled(not busy)
        self.close_btn.setText("Close" if page == PAGE_RESULT else "Cancel")
        self.close_btn.setEnabled(not busy)
        self.next_btn.setVisible(page != PAGE_RESULT)
        if page == PAGE_DETAILS:
            self.next_btn.setText("Next")
            self.next_btn.setEnabled(True)
        elif page == PAGE_CAMERA:
            self.next_btn.setText("Review")
            self.next_btn.setEnabled(bool(self.guide.shots))
        elif page == PAGE_REVIEW:
            self.next_btn.setText("Save")
            self.next_btn.setEnabled(not busy and bool(self.selected_shots()))
        elif page == PAGE_PHOTOS:
            self.next_btn.setText("Enrol")
            self.next_btn.setEnabled(not busy and self.photo_list.count() > 0)

    def go_back(self) -> None:
        if self.page in (PAGE_CAMERA, PAGE_PHOTOS):
            self._show(PAGE_DETAILS)
        elif self.page == PAGE_REVIEW:
            self._show(PAGE_CAMERA)

    def go_next(self) -> None:
        page = self.page
        if page == PAGE_DETAILS:
            if not self.name_edit.text().strip():
                self.details_error.setText("Enter the person's name.")
                return
            self.details_error.setText("")
            self._show(PAGE_CAMERA if self.use_camera.isChecked() else PAGE_PHOTOS)
        elif page == PAGE_CAMERA:
            self._show(PAGE_REVIEW)
        elif page == PAGE_REVIEW:
            self.save_shots()
        elif page == PAGE_PHOTOS:
            self.enrol_photos()

    def _name_changed(self, text: str) -> None:
        existing = self.ctx.gate.store.find_person(text.strip()) if text.strip() else None
        self.existing_hint.setText(
            f"{existing.name} is already enrolled ({existing.n_samples} shots): new shots will be added to them."
            if existing else ""
        )

    # ------------------------------------------------------------------ camera capture
    def _camera_on(self) -> None:
        worker = self.ctx.capture.worker
        if not self._camera_connected:
            worker.enrol_frame.connect(self.on_enrol_frame)
            worker.state_changed.connect(self._camera_state)
            self._camera_connected = True
        worker.set_mode(ENROL)
        worker.frame_consumed()
        if not self.ctx.capture.has_picture:
            self._camera_state(self.ctx.capture.state, self.ctx.capture.state_message)

    def _camera_off(self) -> None:
        worker = self.ctx.capture.worker
        if self._camera_connected:
            worker.enrol_frame.disconnect(self.on_enrol_frame)
            worker.state_changed.disconnect(self._camera_state)
            self._camera_connected = False
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
            colour = {"bad": theme.DENIED, "adjust": theme.UNKNOWN, "hold": theme.MATCH,
                      "captured": theme.GRANTED, "done": theme.GRANTED}[fb.level]
            overlays = [Overlay(b, "", colour) for b in frame.boxes]
            self.preview.set_frame(frame.image, overlays)
            self._show_feedback(fb)
        finally:
            self.ctx.capture.worker.frame_consumed()

    def _show_feedback(self, fb: Feedback) -> None:
        colour = {"bad": theme.DENIED, "adjust": "#8d6e00", "hold": theme.GRANTED,
                  "captured": theme.GRANTED, "done": theme.GRANTED}[fb.level]
        self.feedback.setStyleSheet(f"color: {colour};")
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
            item.setIcon(QIcon(bgr_to_pixmap(shot.face.crop, 72)) if shot is not None else self._empty_icon)
            self.pose_list.addItem(item)
        pose = self.guide.pose
        self.instruction.setText(f"Shot {self.guide.current + 1} of {len(self.guide.poses)}: {pose.instruction}"
                                 if pose else "All shots done: review them and save.")
        self.capture_btn.setEnabled(pose is not None)
        self.skip_btn.setEnabled(pose is not None)
        self._update_nav()

    def capture_now(self) -> None:
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

    # ------------------------------------------------------------------ review + save (camera)
    def _fill_review(self) -> None:
        self.review_list.clear()
        for pose in self.guide.poses:
            shot = self.guide.shots.get(pose.key)
            if shot is None:
                continue
            q = shot.face.quality
            item = QListWidgetItem(QIcon(bgr_to_pixmap(shot.face.crop, 140)),
                                   f"{pose.label}\nsharp {q.sharpness:.0f} · yaw {q.yaw:+.0f}°")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, pose.key)
            self.review_list.addItem(item)

    def selected_shots(self) -> list[Shot]:
        keys = {str(self.review_list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.review_list.count())
                if self.review_list.item(i).checkState() == Qt.CheckState.Checked}
        return [s for k, s in self.guide.shots.items() if k in keys]

    def save_shots(self) -> None:
        shots = self.selected_shots()
        if not shots:
            return
        name, emp, dept = self._details()
        faces = [(s.source, s.face) for s in shots]
        gate = self.ctx.gate

        def work(progress: ProgressFn, cancelled: CancelFn) -> EnrolReport:
            return gate.enrol_faces(name, faces, employee_id=emp, department=dept)

        self._start_job(work, "save shots")

    # ------------------------------------------------------------------ photos
    def choose_photos(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Choose photos", str(Path.home()),
            "Images (" + " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS)) + ")")
        self.photo_list.add_paths([Path(f) for f in files])

    def add_photos(self, paths: Sequence[Path]) -> int:
        return self.photo_list.add_paths(list(paths))

    def enrol_photos(self) -> None:
        files = self.photo_list.files()
        if not files:
            return
        name, emp, dept = self._details()
        gate = self.ctx.gate

        def work(progress: ProgressFn, cancelled: CancelFn) -> EnrolReport:
            def step(done: int, total: int, message: str) -> None:
                progress(done, total, message)
                if cancelled():
                    # before anything is stored: a cancel keeps the database as it was
                    raise CancelledError("Enrolment cancelled: nothing was saved.")

            return gate.enrol_images(name, files, employee_id=emp, department=dept, progress=step)

        self.progress.setRange(0, len(files))
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_job_btn.show()
        self.progress_label.setText("Finding and checking the face in each photo…")
        self._start_job(work, "enrol photos")

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.progress_label.setText("Cancelling…")

    def _details(self) -> tuple[str, str | None, str | None]:
        return (self.name_edit.text().strip(), self.employee_edit.text().strip() or None,
                self.department_edit.text().strip() or None)

    def _start_job(self, fn: object, name: str) -> None:
        job = self.ctx.jobs.start(fn, name)  # type: ignore[arg-type]
        self.job = job
        job.signals.progress.connect(self._job_progress)
        job.signals.succeeded.connect(self._job_done)
        job.signals.failed.connect(self._job_failed)
        job.signals.cancelled.connect(self._job_cancelled)
        job.signals.finished.connect(self._job_finished)
        self._update_nav()

    def _job_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress_label.setText(f"{done} of {total}: {Path(message).name}")

    def _job_finished(self) -> None:
        self.job = None
        self.progress.hide()
        self.cancel_job_btn.hide()
        self._update_nav()

    def _job_cancelled(self) -> None:
        self.progress_label.setText("Enrolment cancelled: nothing was saved.")

    def _job_failed(self, message: str, _exc: object) -> None:
        self.progress_label.setText(f"Enrolment failed: {message}")
        if self.page == PAGE_REVIEW:
            self.review_note.setText(f"Saving failed: {message}")

    def _job_done(self, report: EnrolReport) -> None:
        self.report = report
        self.ctx.capture.worker.refresh()
        self.ctx.hub.people_changed.emit()
        self._fill_result(report)
        self._show(PAGE_RESULT)
        self.finished_enrolment.emit(report)

    def _fill_result(self, report: EnrolReport) -> None:
        n = len(report.added)
        if n:
            self.result_title.setText(f"{report.name} is enrolled")
            self.result_text.setText(f"{n} shot{'s' if n != 1 else ''} stored. "
                                     "They will be recognised at the door from now on.")
        else:
            self.result_title.setText("Nothing was enrolled")
            self.result_text.setText("No usable face was found. See the reasons below and try other photos.")
        self.result_shots.clear()
        for shot in report.added:
            if shot.sample_id is None:
                continue
            try:
                crop = self.ctx.gate.store.sample_crop(shot.sample_id)
            except Exception:
                continue
            self.result_shots.addItem(QListWidgetItem(QIcon(bgr_to_pixmap(crop, THUMB)), Path(shot.source).name))
        self.result_shots.setVisible(self.result_shots.count() > 0)
        warnings = [w for w in report.warnings if n or "Nothing was enrolled" not in w]
        self.warnings.setText("⚠ " + "\n⚠ ".join(warnings) if warnings else "")
        self.warnings.setVisible(bool(warnings))
        self.rejected_list.clear()
        for shot in report.rejected:
            self.rejected_list.addItem(f"{Path(shot.source).name}: {shot.reason}")
        self.rejected_title.setVisible(bool(report.rejected))
        self.rejected_list.setVisible(bool(report.rejected))

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10.0)
        if self.page == PAGE_CAMERA or self._camera_connected:
            self._camera_off()
        super().closeEvent(event)

    def done(self, result: int) -> None:
        if self._camera_connected:
            self._camera_off()
        super().done(result)
