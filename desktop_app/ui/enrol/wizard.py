"""The enrolment wizard: a stack of pages and the Back / Next / Cancel buttons that move through it.

Who (:class:`DetailsPage`), then either guided webcam capture (:class:`CapturePage`) and a review
(:class:`ReviewPage`), or photo files (:class:`PhotosPage`); the last page (:class:`ResultPage`)
shows the outcome. The pages do the work (saving runs in the job pool); this dialog only wires
them together.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.service import EnrolReport

from ..context import AppContext
from .capture_page import CapturePage
from .details_page import DetailsPage
from .photos_page import PhotosPage
from .result_page import ResultPage
from .review_page import ReviewPage

PAGE_DETAILS, PAGE_CAMERA, PAGE_REVIEW, PAGE_PHOTOS, PAGE_RESULT = range(5)
"""Indices of the pages in :attr:`EnrolWizard.stack`."""

#: page -> (text of the Next button, page that Back goes to)
NEXT_TEXT = {PAGE_DETAILS: "Next", PAGE_CAMERA: "Review", PAGE_REVIEW: "Save", PAGE_PHOTOS: "Enrol"}
BACK_TO = {PAGE_CAMERA: PAGE_DETAILS, PAGE_REVIEW: PAGE_CAMERA, PAGE_PHOTOS: PAGE_DETAILS}


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
        self.report: EnrolReport | None = None
        self.details = DetailsPage(ctx.gate.find_person, name=name, employee_id=employee_id,
                                   department=department, mode=mode)
        self.camera = CapturePage(ctx.capture)
        self.review = ReviewPage(ctx.gate, ctx.jobs)
        self.photos = PhotosPage(ctx.gate, ctx.jobs)
        self.review.actor = self.photos.actor = ctx.actor  # the account that opened the wizard
        self.outcome = ResultPage(ctx.gate.sample_crop)
        self.stack = QStackedWidget()
        for page in (self.details, self.camera, self.review, self.photos, self.outcome):  # PAGE_* order
            self.stack.addWidget(page)
        # the widgets that tests and packaging/screenshots.py drive, under their former names
        self.name_edit, self.employee_edit = self.details.name_edit, self.details.employee_edit
        self.department_edit = self.details.department_edit
        self.guide, self.preview, self.feedback = self.camera.guide, self.camera.preview, self.camera.feedback
        self.review_list, self.photo_list = self.review.review_list, self.photos.photo_list
        self.warnings = self.outcome.warnings

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
        self.outcome.force_btn.clicked.connect(self.force_refused)
        self.camera.shots_changed.connect(self._update_nav)
        self.review.selection_changed.connect(self._update_nav)
        self.photos.photo_list.files_changed.connect(self._update_nav)
        for saving in (self.review, self.photos):
            saving.busy_changed.connect(self._update_nav)
            saving.enrolled.connect(self._enrolled)
        self._show(PAGE_DETAILS)

    # ------------------------------------------------------------------ navigation
    @property
    def page(self) -> int:
        return self.stack.currentIndex()

    @property
    def busy(self) -> bool:
        """An enrolment is being saved (in the job pool)."""
        return self.review.busy or self.photos.busy

    def _show(self, page: int) -> None:
        if self.page == PAGE_CAMERA and page != PAGE_CAMERA:
            self.camera.stop()
        self.stack.setCurrentIndex(page)
        if page == PAGE_CAMERA:
            self.camera.start()
        elif page == PAGE_REVIEW:
            self.review.fill(self.camera.guide)
        self._update_nav()

    def _update_nav(self) -> None:
        page, busy = self.page, self.busy
        self.back_btn.setVisible(page in BACK_TO)
        self.back_btn.setEnabled(not busy)
        self.close_btn.setText("Close" if page == PAGE_RESULT else "Cancel")
        self.close_btn.setEnabled(not busy)
        self.next_btn.setVisible(page != PAGE_RESULT)
        self.next_btn.setText(NEXT_TEXT.get(page, "Next"))
        ready = {PAGE_DETAILS: True, PAGE_CAMERA: bool(self.camera.guide.shots),
                 PAGE_REVIEW: not busy and bool(self.review.selected_shots()),
                 PAGE_PHOTOS: not busy and self.photos.photo_list.count() > 0}
        self.next_btn.setEnabled(ready.get(page, False))

    def go_back(self) -> None:
        if self.page in BACK_TO:
            self._show(BACK_TO[self.page])

    def go_next(self) -> None:
        page = self.page
        if page == PAGE_DETAILS:
            if self.details.details() is not None:
                self._show(PAGE_CAMERA if self.details.mode == "camera" else PAGE_PHOTOS)
        elif page == PAGE_CAMERA:
            self._show(PAGE_REVIEW)
        elif page in (PAGE_REVIEW, PAGE_PHOTOS):
            details = self.details.details()
            if details is None:  # the name was cleared meanwhile: back to where it is entered
                self._show(PAGE_DETAILS)
            elif page == PAGE_REVIEW:
                self.review.save(details)
            else:
                self.photos.enrol(details)

    def force_refused(self) -> bool:
        """Store the shots the identity check refused, after the administrator confirms (the core
        audits it as ``person.enrol.forced``); True when the saving started."""
        report, details = self.report, self.details.details()
        if report is None or not report.needs_force or details is None or self.busy:
            return False
        refused = [s for s in report.rejected if s.identity]
        reasons = "\n".join(f"• {Path(s.source).name}: {s.reason}" for s in refused)
        answer = QMessageBox.question(
            self, "Add refused shots?",
            f"{reasons}\n\nStore {'this shot' if len(refused) == 1 else 'these shots'} for {details.name} anyway? "
            "Only do so when you are sure it is the same person. This is recorded in the audit log.")
        if answer != QMessageBox.StandardButton.Yes:
            return False
        sources = [s.source for s in refused]
        if self.details.mode == "camera":
            self.review.save(details, only=sources, force=True)
        else:
            self.photos.enrol(details, only=sources, force=True)
        return True

    def add_photos(self, paths: list[Path]) -> int:
        """Add photo files or folders to the photo page; returns how many files were added."""
        return self.photos.add_photos(paths)

    def skip_pose(self) -> None:
        self.camera.skip_pose()

    def _enrolled(self, report: object) -> None:
        self.report = cast(EnrolReport, report)
        self.ctx.capture.worker.refresh()
        self.ctx.hub.people_changed.emit()
        self.outcome.show_report(self.report)
        self._show(PAGE_RESULT)
        self.finished_enrolment.emit(self.report)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        self.review.stop()
        self.photos.stop()
        if self.page == PAGE_CAMERA or self.camera.connected:
            self.camera.stop()
        super().closeEvent(event)

    def done(self, result: int) -> None:
        if self.camera.connected:
            self.camera.stop()
        super().done(result)
